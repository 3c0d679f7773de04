/* peer.c -- the public face of every peer: sk_peer_* calls go through the
 * peer's operations table, so no function here asks what kind of peer it
 * holds.  Also what all kinds share: set-up, the close hand-off, naming
 * why a peer closed.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sk__close_is_orderly(int reason) {
  return reason == 0 || reason == UV_EOF || reason == UV_ECONNRESET ||
         reason == SK_ECLOSED || reason == UV_EPIPE;
}

void sk__peer_init(sk_peer *p, const sk__peer_ops *ops, sk_transport t,
                   const sk_framing *f, size_t max_queue, const sk_handler *h,
                   void *ctx) {
  p->ops = ops;
  p->state = SK__PEER_OPENING;
  p->transport = t;
  p->handler = h;
  p->ctx = ctx;
  p->framing = *f;
  p->max_queue = max_queue;
  p->max_queue_hard = sk__queue_hard_default(max_queue); /* a server's own */
  sk__list_init(&p->link);
  sk__list_init(&p->slow.link);
}

size_t sk__queue_hard_default(size_t max_queue) {
  return max_queue > SIZE_MAX / 16 ? SIZE_MAX : max_queue * 16;
}

void sk__peer_finish(sk_peer *p) {
  if ((p->opened || p->server == NULL) && p->handler->on_close != NULL)
    p->handler->on_close(p, p->close_reason, p->ctx);
  if (p->server != NULL)
    sk__server_peer_closed(p);
  free(p->error);
  p->error = NULL;
}

void sk__peer_set_error(sk_peer *p, const char *why) {
  if (why == NULL || p->error != NULL)
    return;
  p->error = strdup(why);
}

/* "64 KiB", "1 MiB", "1536 bytes": a cap as a user would write it. */
static void format_size(char *buf, size_t size, uint64_t n) {
  static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;

  while (u < 4 && n >= 1024 && n % 1024 == 0) {
    n /= 1024;
    u++;
  }
  snprintf(buf, size, "%ju %s", (uintmax_t)n, units[u]);
}

void sk__peer_drop_slow(sk_peer *p, bool hard) {
  char why[128], cap[32];

  if (p->state == SK__PEER_CLOSING)
    return;
  if (hard) {
    format_size(cap, sizeof(cap), p->max_queue_hard);
    snprintf(why, sizeof(why), "%s: queue would pass its hard cap of %s",
             sk_strerror(SK_ETOOSLOW), cap);
  } else {
    format_size(cap, sizeof(cap), p->max_queue);
    snprintf(why, sizeof(why), "%s: queue above %s for %g s",
             sk_strerror(SK_ETOOSLOW), cap,
             (double)p->server->opts.slow_timeout_ms / 1000.0);
  }
  sk__peer_set_error(p, why);
  if (p->server != NULL)
    p->server->stats.slow++;
  sk_peer_close(p, SK_ETOOSLOW);
}

const char *sk_peer_error(const sk_peer *p) {
  return p->error != NULL ? p->error : sk_strerror(p->close_reason);
}

void sk_peer_close(sk_peer *p, int reason) {
  if (p->state == SK__PEER_CLOSING)
    return;
  p->state = SK__PEER_CLOSING;
  p->close_reason = reason;
  sk__list_remove(&p->slow.link); /* its slow clock must not outlive it */
  p->ops->close(p);
}

void sk_peer_end(sk_peer *p) {
  if (p->state == SK__PEER_OPEN || p->state == SK__PEER_OPENING)
    p->ops->end(p);
}

static bool can_send(const sk_peer *p) {
  return p->state == SK__PEER_OPEN;
}

int sk_peer_send(sk_peer *p, const void *msg, size_t len) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  int n = sk__frame_bufs(&p->framing, msg, len, hdr, bufs);

  if (n < 0)
    return n;
  if (!can_send(p))
    return UV_EPIPE;
  if (n == 0 && p->transport != SK_UDP)
    return 0; /* an empty raw message is nothing on a stream */
  if (n == 0)
    bufs[n++] = uv_buf_init("", 0); /* an empty datagram */
  return p->ops->send(p, bufs, (unsigned)n, NULL);
}

int sk_peer_send_buf(sk_peer *p, sk_buf *b) {
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);

  if (b->len > UINT_MAX)
    return SK_EFRAMETOOBIG;
  if (!can_send(p))
    return UV_EPIPE;
  return p->ops->send(p, &one, 1, b);
}

int sk_peer_offer(sk_peer *p, sk_buf *b) {
  if (b->len > UINT_MAX)
    return SK_EFRAMETOOBIG;
  if (!can_send(p))
    return UV_EPIPE;
  return p->ops->offer(p, b);
}

int sk_peer_sendfile(sk_peer *p, int fd, int64_t offset, uint64_t len,
                     sk_sendfile_cb cb, void *arg) {
  if (p->ops->sendfile == NULL)
    return UV_ENOTSUP;
  if (!can_send(p))
    return UV_EPIPE;
  return p->ops->sendfile(p, fd, offset, len, cb, arg);
}

int sk_peer_writable(const sk_peer *p, size_t len) {
  size_t q = sk_peer_queued(p);

  return q == 0 || q + len <= p->max_queue;
}

size_t sk_peer_queued(const sk_peer *p) {
  return p->ops->queued(p);
}

void sk_peer_pause(sk_peer *p) {
  if (p->user_paused || p->state == SK__PEER_CLOSING)
    return;
  p->user_paused = true;
  p->ops->pause(p, true);
}

void sk_peer_resume(sk_peer *p) {
  if (!p->user_paused || p->state == SK__PEER_CLOSING)
    return;
  p->user_paused = false;
  p->ops->pause(p, false);
}

void sk_peer_set_data(sk_peer *p, void *data) {
  p->data = data;
}

void *sk_peer_data(const sk_peer *p) {
  return p->data;
}

const char *sk_peer_name(const sk_peer *p) {
  return p->name;
}

sk_transport sk_peer_transport(const sk_peer *p) {
  return p->transport;
}

int sk_peer_is_tls(const sk_peer *p) {
  return p->tls;
}

int sk_peer_describe(const sk_peer *p, char *buf, size_t size) {
  if (p->ops->describe == NULL) {
    if (size > 0)
      buf[0] = '\0';
    return 0;
  }
  return p->ops->describe(p, buf, size);
}
