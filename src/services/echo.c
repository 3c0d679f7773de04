/* echo.c -- every message back to its sender, in the same framing. */
#include "internal.h"
#include "services/services.h"

static void echo_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  (void)ctx;
  sk_peer_send(p, msg, len);
}

static const sk_handler echo_handler = {.on_message = echo_message};

const sk_service sk__service_echo = {
    .name = "echo",
    .summary = "send every message back to its sender",
    .default_mode = SK_FRAME_RAW,
    .nodelay = 1,
    .handler = &echo_handler,
};
