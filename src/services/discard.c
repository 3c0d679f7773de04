/* discard.c -- read and drop; logs each peer's summary as it closes (-v):
 * the one format of sk_peer_stats_format, which stdio and sockit connect
 * print too. */
#include "internal.h"
#include "services/services.h"

static void discard_close(sk_peer *p, int reason, void *ctx) {
  (void)reason;
  (void)ctx;
  sk__log_peer_summary(p);
}

/* Every message is dropped: the library counts what came. */
static const sk_handler discard_handler = {
    .on_close = discard_close,
};

const sk_service sk__service_discard = {
    .name = "discard",
    .summary = "read and drop everything (-v: a summary per connection)",
    .default_mode = SK_FRAME_RAW,
    .nodelay = 1,
    .handler = &discard_handler,
};
