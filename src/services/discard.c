/* discard.c -- read and drop; logs the bytes each peer sent (-v). */
#include "internal.h"
#include "services/services.h"

#include <stdint.h>

/* The count lives in the peer's data pointer: no allocation per peer. */
static void discard_message(sk_peer *p, const char *msg, size_t len,
                            void *ctx) {
  (void)msg;
  (void)ctx;
  sk_peer_set_data(p, (void *)((uintptr_t)sk_peer_data(p) + len));
}

static void discard_close(sk_peer *p, int reason, void *ctx) {
  (void)reason;
  (void)ctx;
  sk__log(SK_LOG_INFO, "%s: discarded %ju bytes", sk_peer_name(p),
          (uintmax_t)(uintptr_t)sk_peer_data(p));
}

static const sk_handler discard_handler = {
    .on_message = discard_message,
    .on_close = discard_close,
};

const sk_service sk__service_discard = {
    .name = "discard",
    .summary = "read and drop everything (-v logs bytes per connection)",
    .default_mode = SK_FRAME_RAW,
    .nodelay = 1,
    .handler = &discard_handler,
};
