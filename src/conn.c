/* conn.c -- one stream connection (TCP or Unix): libuv stream, framing
 * decoder and bounded write queue, seen by handlers as an sk_peer.
 *
 * Data flows one way: socket -> decoder -> handler -> write queue ->
 * socket.  Reading pauses while the peer's own queue is over its cap, so a
 * peer that sends requests but reads no replies stops being read instead
 * of growing the queue.
 */
#include "internal.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Reads are consumed within read_cb, so one buffer per thread serves every
 * stream: an idle connection costs no read buffer. */
static _Thread_local char read_buf[SK__READ_BUF];
static _Thread_local bool read_buf_busy;

static void update_reading(sk_peer *p);

uint64_t sk__now(uv_loop_t *loop) {
  return uv_now(loop);
}

void sk__ignore_sigpipe(void) {
  struct sigaction sa;

  if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
    return;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

void sk__free_handle(uv_handle_t *h) {
  free(h);
}

void sk__read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  if (read_buf_busy) {
    /* Only if a read callback started another read on this thread. */
    buf->base = malloc(SK__READ_BUF);
    buf->len = buf->base != NULL ? SK__READ_BUF : 0;
    return;
  }
  read_buf_busy = true;
  *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

void sk__read_release(const uv_buf_t *buf) {
  if (buf->base == read_buf)
    read_buf_busy = false;
  else
    free(buf->base);
}

static void log_close(sk_peer *p, int reason) {
  if (p->server == NULL)
    return;
  if (reason == 0 || reason == UV_EOF || reason == UV_ECONNRESET ||
      reason == SK_ECLOSED || reason == UV_EPIPE)
    sk__log(SK_LOG_INFO, "%s disconnected%s%s", p->name,
            reason == UV_ECONNRESET ? ": " : "",
            reason == UV_ECONNRESET ? sk_strerror(reason) : "");
  else if (reason == SK_EFRAMETOOBIG)
    sk__log(SK_LOG_WARN, "dropping %s: frame too large (over %zu bytes)",
            p->name, p->framing.max_frame);
  else if (reason == SK_EFULL || reason == UV_EMFILE)
    sk__log(SK_LOG_INFO, "refusing %s: %s", p->name, sk_strerror(reason));
  else
    sk__log(SK_LOG_WARN, "dropping %s: %s", p->name, sk_strerror(reason));
}

void sk_peer_close(sk_peer *p, int reason) {
  if (p->closing)
    return;
  if (p->kind == SK__PEER_UDP) {
    sk__udp_peer_close(p, reason);
    return;
  }
  p->closing = true;
  p->close_reason = reason;
  log_close(p, reason);
  if (p->connect_timer != NULL) {
    uv_close((uv_handle_t *)p->connect_timer, sk__free_handle);
    p->connect_timer = NULL;
  }
  if (p->retrying)
    return; /* the client's retry_cb finishes the close */
  uv_close(&p->h.handle, sk__conn_closed);
}

void sk__conn_closed(uv_handle_t *h) {
  sk_peer *p = h->data;

  free(p->targets);
  free(p->local);
  sk__wq_clear(&p->wq);
  sk_decoder_free(&p->dec);
  if ((p->opened || p->server == NULL) && p->handler->on_close != NULL)
    p->handler->on_close(p, p->close_reason, p->ctx);
  if (p->server != NULL)
    sk__server_peer_closed(p);
  free(p);
}

/* Closes once both directions are done. */
static void maybe_finish(sk_peer *p) {
  if (!p->closing && p->shut && p->eof)
    sk_peer_close(p, 0);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  sk_peer *p = req->data;

  free(req);
  if (status == UV_ECANCELED)
    return;
  if (status < 0) {
    sk_peer_close(p, status);
    return;
  }
  maybe_finish(p);
}

static void do_shutdown(sk_peer *p) {
  uv_shutdown_t *req;
  int err;

  if (p->shut || p->closing)
    return;
  req = malloc(sizeof(*req));
  p->shut = true;
  if (req == NULL) {
    sk_peer_close(p, UV_ENOMEM);
    return;
  }
  req->data = p;
  err = uv_shutdown(req, &p->h.stream, shutdown_cb);
  if (err) {
    free(req);
    sk_peer_close(p, err == UV_ENOTCONN ? 0 : err);
  }
}

void sk_peer_end(sk_peer *p) {
  if (p->closing)
    return;
  if (p->kind == SK__PEER_UDP) {
    sk_peer_close(p, 0);
    return;
  }
  p->ending = true;
  if (p->wq.queued == 0)
    do_shutdown(p);
}

static void wq_error(sk__wq *q, int err) {
  sk_peer_close(SK__CONTAINER_OF(q, sk_peer, wq), err);
}

static void wq_drain(sk__wq *q) {
  sk_peer *p = SK__CONTAINER_OF(q, sk_peer, wq);

  update_reading(p);
  if (!p->closing && p->handler->on_drain != NULL)
    p->handler->on_drain(p, p->ctx);
}

static void wq_empty(sk__wq *q) {
  sk_peer *p = SK__CONTAINER_OF(q, sk_peer, wq);

  if (p->ending && !p->closing)
    do_shutdown(p);
}

sk_peer *sk__conn_new(uv_loop_t *loop, sk_transport t, const sk_framing *f,
                      size_t max_queue, const sk_handler *h, void *ctx) {
  sk_peer *p = calloc(1, sizeof(*p));
  int err;

  if (p == NULL)
    return NULL;
  p->kind = SK__PEER_STREAM;
  p->transport = t;
  p->handler = h;
  p->ctx = ctx;
  p->framing = *f;
  p->max_queue = max_queue;
  if (t == SK_UNIX)
    err = uv_pipe_init(loop, &p->h.pipe, 0);
  else
    err = uv_tcp_init(loop, &p->h.tcp);
  if (err) {
    free(p);
    return NULL;
  }
  p->h.handle.data = p;
  sk_decoder_init(&p->dec, f);
  sk__wq_init(&p->wq, &p->h.stream, max_queue);
  p->wq.on_error = wq_error;
  p->wq.on_drain = wq_drain;
  p->wq.on_empty = wq_empty;
  return p;
}

static int on_frame(void *arg, const char *msg, size_t len) {
  sk_peer *p = arg;

  p->got_frame = true;
  if (p->handler->on_message != NULL)
    p->handler->on_message(p, msg, len, p->ctx);
  return p->closing ? 1 : 0;
}

static void on_eof(sk_peer *p) {
  int err = sk_decoder_finish(&p->dec, on_frame, p);

  if (err < 0) {
    sk_peer_close(p, err);
    return;
  }
  if (p->closing)
    return;
  p->eof = true;
  update_reading(p);
  if (p->handler->on_eof != NULL)
    p->handler->on_eof(p, p->ctx);
  else
    sk_peer_end(p);
  maybe_finish(p);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sk_peer *p = s->data;
  int err;

  if (nread > 0) {
    /* What the messages of this read cause, to this peer or others,
     * leaves in one write per peer. */
    p->got_frame = false;
    sk__batch_begin();
    err = sk_decoder_feed(&p->dec, buf->base, (size_t)nread, on_frame, p);
    sk__read_release(buf);
    sk__batch_end();
    if (err < 0) {
      sk_peer_close(p, err);
      return;
    }
    /* Activity is a whole message: bytes trickling into one that never
     * ends keep nobody from the idle timeout (slowloris). */
    if (p->server != NULL && p->got_frame && !p->closing)
      sk__server_touch(p);
    update_reading(p);
    if (p->server != NULL)
      sk__server_frame_read(p, sk_decoder_pending(&p->dec) > 0);
    return;
  }
  sk__read_release(buf);
  if (nread == UV_EOF)
    on_eof(p);
  else if (nread < 0)
    sk_peer_close(p, (int)nread);
}

static void update_reading(sk_peer *p) {
  bool want;

  if (p->closing)
    return;
  p->self_paused = p->wq.queued >= p->max_queue;
  want = !p->eof && !p->user_paused && !p->self_paused;
  if (want == p->reading)
    return;
  if (want) {
    int err = uv_read_start(&p->h.stream, sk__read_alloc, read_cb);
    if (err) {
      sk_peer_close(p, err);
      return;
    }
  } else {
    uv_read_stop(&p->h.stream);
  }
  p->reading = want;
  /* The frame clock runs only while the peer is read. */
  if (p->server != NULL)
    sk__server_frame_pause(p, want);
}

void sk__conn_start(sk_peer *p) {
  if (p->transport == SK_TCP)
    uv_tcp_nodelay(&p->h.tcp, p->nodelay);
  p->opened = true;
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
  update_reading(p);
}

/* ------------------------------------------------------------- sending */

static int send_bufs(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                     sk_buf *shared) {
  int err;

  if (p->closing || p->ending || p->shut)
    return UV_EPIPE;
  if (p->kind == SK__PEER_UDP)
    return sk__udp_peer_send(p, bufs, n, shared);
  err = shared != NULL ? sk__wq_write_buf(&p->wq, shared)
                       : sk__wq_write(&p->wq, bufs, n);
  if (err) {
    sk_peer_close(p, err);
    return err;
  }
  if (p->server != NULL)
    sk__server_touch(p);
  if (!p->self_paused && p->wq.queued >= p->max_queue)
    update_reading(p);
  return 0;
}

int sk_peer_send(sk_peer *p, const void *msg, size_t len) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  unsigned n = 0;
  size_t tlen;
  const char *trailer = sk_frame_trailer(&p->framing, &tlen);
  int hlen = sk_frame_header(&p->framing, len, hdr);

  if (hlen < 0)
    return hlen;
  if (len > UINT_MAX) /* a uv_buf_t holds at most that */
    return SK_EFRAMETOOBIG;
  if (hlen > 0)
    bufs[n++] = uv_buf_init(hdr, (unsigned)hlen);
  if (len > 0)
    bufs[n++] = uv_buf_init((char *)msg, (unsigned)len);
  if (tlen > 0)
    bufs[n++] = uv_buf_init((char *)trailer, (unsigned)tlen);
  if (n == 0) {
    /* An empty raw message: an empty datagram, or nothing on a stream. */
    if (p->kind != SK__PEER_UDP)
      return p->closing || p->ending || p->shut ? UV_EPIPE : 0;
    bufs[n++] = uv_buf_init("", 0);
  }
  return send_bufs(p, bufs, n, NULL);
}

int sk_peer_send_buf(sk_peer *p, sk_buf *b) {
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);

  if (b->len > UINT_MAX)
    return SK_EFRAMETOOBIG;
  return send_bufs(p, &one, 1, b);
}

int sk_peer_writable(const sk_peer *p, size_t len) {
  size_t q = sk_peer_queued(p);

  return q == 0 || q + len <= p->max_queue;
}

size_t sk_peer_queued(const sk_peer *p) {
  return p->kind == SK__PEER_UDP ? 0 : p->wq.queued;
}

void sk_peer_pause(sk_peer *p) {
  if (p->user_paused || p->closing)
    return;
  p->user_paused = true;
  if (p->kind == SK__PEER_STREAM)
    update_reading(p);
  else
    sk__udp_pause(p, true);
}

void sk_peer_resume(sk_peer *p) {
  if (!p->user_paused || p->closing)
    return;
  p->user_paused = false;
  if (p->kind == SK__PEER_STREAM)
    update_reading(p);
  else
    sk__udp_pause(p, false);
}

void sk_peer_set_data(sk_peer *p, void *data) {
  p->data = data;
}

void *sk_peer_data(const sk_peer *p) {
  return p->data;
}

int sk__peer_fileno(const sk_peer *p) {
  uv_os_fd_t fd;

  if (p->kind != SK__PEER_STREAM || p->closing ||
      uv_fileno(&p->h.handle, &fd) != 0)
    return -1;
  return fd;
}

const char *sk_peer_name(const sk_peer *p) {
  return p->name;
}

sk_transport sk_peer_transport(const sk_peer *p) {
  return p->transport;
}
