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

static void idle_stop(sk_peer *p);
static size_t own_queued(const sk_peer *p);

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

/* ------------------------------------------------ a client's idle time */

/* One timer per client, armed for when the peer would be idle: it fires
 * at most once per period and re-arms itself for what is left when there
 * was activity meanwhile, so activity itself costs one store. */
static void idle_cb(uv_timer_t *t) {
  sk_peer *p = t->data;
  uint64_t now = uv_now(t->loop), due = p->last_active + p->idle_ms;

  if (p->transferring) { /* a sendfile runs: busy, never idle */
    p->last_active = now;
    due = now + p->idle_ms;
  }
  if (due > now) {
    uv_timer_start(t, idle_cb, due - now, 0);
    return;
  }
  sk_peer_close(p, SK_EIDLE);
}

static void idle_stop(sk_peer *p) {
  if (p->idle_timer != NULL) {
    uv_close((uv_handle_t *)p->idle_timer, sk__free_handle);
    p->idle_timer = NULL;
  }
}

void sk__peer_opened(sk_peer *p, uv_loop_t *loop) {
  p->opened_ns = uv_hrtime();
  if (p->server != NULL || p->idle_ms == 0 || p->idle_timer != NULL)
    return;
  p->idle_timer = malloc(sizeof(*p->idle_timer));
  if (p->idle_timer == NULL)
    return; /* no idle limit rather than no connection */
  uv_timer_init(loop, p->idle_timer);
  p->idle_timer->data = p;
  p->last_active = uv_now(loop);
  uv_timer_start(p->idle_timer, idle_cb, p->idle_ms, 0);
}

void sk__peer_touch(sk_peer *p) {
  if (p->server != NULL)
    sk__server_touch(p);
  else if (p->idle_timer != NULL)
    p->last_active = uv_now(p->idle_timer->loop);
}

void sk__peer_received(sk_peer *p, const char *data, size_t len) {
  if (p->tap != NULL && len > 0)
    p->tap(p, SK_TAP_RECEIVED, p->bytes_in, data, len, p->tap_arg);
  p->bytes_in += len;
}

void sk_peer_set_tap(sk_peer *p, sk_tap_fn fn, void *arg) {
  p->tap = fn;
  p->tap_arg = arg;
}

/* ---------------------------------------------------------- statistics */

/* What p alone still holds to send: a UDP server's peers share their
 * socket's queue, and a closing peer's was already taken off (below). */
static size_t own_queued(const sk_peer *p) {
  if (p->state == SK__PEER_OPENING || p->state == SK__PEER_CLOSING ||
      (p->transport == SK_UDP && p->server != NULL))
    return 0;
  return sk_peer_queued(p);
}

void sk_peer_stats_get(const sk_peer *p, sk_peer_stats *out) {
  size_t queued = own_queued(p);

  out->received = p->bytes_in;
  out->sent = p->bytes_out > queued ? p->bytes_out - queued : 0;
  out->open_ns = p->opened_ns != 0 ? uv_hrtime() - p->opened_ns : 0;
}

/* n with a comma between groups of three digits. */
static int format_count(uint64_t n, char *buf, size_t size) {
  char digits[32];
  int len = snprintf(digits, sizeof(digits), "%ju", (uintmax_t)n), used = 0;

  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0)
      used += snprintf(buf + used, size - (size_t)used, ",");
    used += snprintf(buf + used, size - (size_t)used, "%c", digits[i]);
  }
  return used;
}

static int format_rate(double bytes_per_s, char *buf, size_t size) {
  static const char *const units[] = {"KiB/s", "MiB/s", "GiB/s"};
  unsigned u = 0;

  if (bytes_per_s < 1024.0)
    return snprintf(buf, size, "%.0f B/s", bytes_per_s);
  bytes_per_s /= 1024.0;
  while (bytes_per_s >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
    bytes_per_s /= 1024.0;
    u++;
  }
  return snprintf(buf, size, "%.1f %s", bytes_per_s, units[u]);
}

int sk_peer_stats_format(const sk_peer_stats *st, char *buf, size_t size) {
  char sent[32], received[32], up[32], down[32];
  double s = (double)st->open_ns / 1e9;
  double over = s < 0.001 ? 0.001 : s;

  format_count(st->sent, sent, sizeof(sent));
  format_count(st->received, received, sizeof(received));
  format_rate((double)st->sent / over, up, sizeof(up));
  format_rate((double)st->received / over, down, sizeof(down));
  return snprintf(buf, size,
                  "%s bytes sent, %s received in %.2f s (%s up, %s down)", sent,
                  received, s, up, down);
}

void sk__log_peer_summary(const sk_peer *p) {
  sk_peer_stats st;
  char line[160];

  if (!sk__log_enabled(SK_LOG_INFO))
    return;
  sk_peer_stats_get(p, &st);
  sk_peer_stats_format(&st, line, sizeof(line));
  sk__log(SK_LOG_INFO, "%s: %s", p->name, line);
}

/* ------------------------------------------------------------ closing */

void sk__peer_finish(sk_peer *p) {
  idle_stop(p);
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
  size_t queued;

  if (p->state == SK__PEER_CLOSING)
    return;
  idle_stop(p);
  /* Its queue is dropped unsent: those bytes never left. */
  queued = own_queued(p);
  p->bytes_out -= queued < p->bytes_out ? queued : p->bytes_out;
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

/* Shows a message's parts (header, payload, trailer) to the tap as the
 * one chunk they are on the wire: gathered into a copy, which only a
 * tapped peer pays for. */
static void tap_sent(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                     size_t total) {
  char small[512], *all = small;
  size_t at = 0;

  if (n == 1 || total == 0) {
    if (total > 0)
      p->tap(p, SK_TAP_SENT, p->bytes_out, bufs[0].base, total, p->tap_arg);
    return;
  }
  if (total > sizeof(small) && (all = malloc(total)) == NULL)
    return; /* the dump misses a chunk rather than the peer a message */
  for (unsigned i = 0; i < n; i++) {
    memcpy(all + at, bufs[i].base, bufs[i].len);
    at += bufs[i].len;
  }
  p->tap(p, SK_TAP_SENT, p->bytes_out, all, total, p->tap_arg);
  if (all != small)
    free(all);
}

/* What went out: every message a peer's kind took (sent, queued, or for
 * UDP handed to the socket) is counted and shown to its tap here, in the
 * order it will leave.  A message refused (a closing peer, a transfer
 * running, a full UDP socket) is neither. */
static void went_out(sk_peer *p, const uv_buf_t *bufs, unsigned n) {
  size_t total = 0;

  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if (p->tap != NULL)
    tap_sent(p, bufs, n, total);
  p->bytes_out += total;
}

/* The one way out for messages of the peer's own. */
static int peer_send(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                     sk_buf *shared) {
  int err = p->ops->send(p, bufs, n, shared);

  if (err == 0)
    went_out(p, bufs, n);
  return err;
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
  return peer_send(p, bufs, (unsigned)n, NULL);
}

int sk_peer_send_buf(sk_peer *p, sk_buf *b) {
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);

  if (b->len > UINT_MAX)
    return SK_EFRAMETOOBIG;
  if (!can_send(p))
    return UV_EPIPE;
  return peer_send(p, &one, 1, b);
}

int sk_peer_offer(sk_peer *p, sk_buf *b) {
  if (b->len > UINT_MAX)
    return SK_EFRAMETOOBIG;
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);
  int err;

  if (!can_send(p))
    return UV_EPIPE;
  err = p->ops->offer(p, b);
  if (err == 0)
    went_out(p, &one, 1);
  return err;
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
