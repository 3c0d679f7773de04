/* conn.c -- a stream peer: a stream (TCP, Unix, TLS over either), a
 * framing decoder and a bounded write queue, seen by handlers as an
 * sk_peer.
 *
 * Data flows one way: stream -> decoder -> handler -> write queue ->
 * stream.  Reading pauses while the peer's own queue is over its cap, so
 * a peer that sends requests but reads no replies stops being read
 * instead of growing the queue.  The conn never touches a socket: what it
 * knows of the stream below is its operations table.
 */
#include "conn.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Reads are consumed within on_read, so one buffer per thread serves
 * every stream: an idle connection costs no read buffer. */
static _Thread_local char read_buf[SK__READ_BUF];
static _Thread_local bool read_buf_busy;

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

/* ------------------------------------------------------------- closing */

static void log_close(sk_peer *p, int reason) {
  if (p->server == NULL || reason == SK_EDENIED || reason == SK_EPERIP ||
      reason == SK_ERATE) /* the door logged it */
    return;
  if (sk__close_is_orderly(reason))
    sk__log(SK_LOG_INFO, "%s disconnected%s%s", p->name,
            reason == UV_ECONNRESET ? ": " : "",
            reason == UV_ECONNRESET ? sk_strerror(reason) : "");
  else if (reason == SK_EFRAMETOOBIG)
    sk__log(SK_LOG_WARN, "dropping %s: frame too large (over %zu bytes)",
            p->name, p->framing.max_frame);
  else if (reason == SK_EFULL || reason == UV_EMFILE)
    sk__log(SK_LOG_INFO, "refusing %s: %s", p->name, sk_strerror(reason));
  else if (!p->opened) /* a failed handshake: the client's business */
    sk__log(SK_LOG_INFO, "dropping %s: %s", p->name, sk_peer_error(p));
  else
    sk__log(SK_LOG_WARN, "dropping %s: %s", p->name, sk_peer_error(p));
}

static void stop_open_timer(sk__conn *c) {
  if (c->open_timer != NULL) {
    uv_close((uv_handle_t *)c->open_timer, sk__free_handle);
    c->open_timer = NULL;
  }
}

void sk__conn_maybe_free(sk__conn *c) {
  if (!c->closed || c->job != NULL)
    return;
  sk__wq_clear(&c->wq);
  sk_decoder_free(&c->dec);
  sk__peer_finish(&c->base);
  free(c);
}

static void conn_close(sk_peer *p) {
  sk__conn *c = sk__conn_of(p);

  if (c->stream != NULL && p->error == NULL && p->close_reason != 0)
    sk__peer_set_error(p, c->stream->ops->error(c->stream));
  log_close(p, p->close_reason);
  stop_open_timer(c);
  sk__pace_forget(c);
  if (p->server != NULL) /* its frame clock must not outlive it */
    sk__server_frame_forget(p, &c->fc);
  c->wq.dead = true; /* nothing more goes out */
  if (c->job != NULL)
    sk__sendfile_cancel(c);
  if (c->dial != NULL) {
    sk__dial_abort(c->dial); /* sk__conn_dial_closed follows */
  } else if (c->stream != NULL) {
    sk__stream_close(c->stream); /* on_closed follows */
  } else { /* a client whose every connect attempt failed */
    c->closed = true;
    sk__conn_maybe_free(c);
  }
}

void sk__conn_dial_closed(sk__conn *c) {
  c->dial = NULL;
  c->closed = true;
  sk__conn_maybe_free(c);
}

static void on_closed(sk__stream *s) {
  sk__conn *c = s->owner;

  c->stream = NULL;
  c->closed = true;
  sk__conn_maybe_free(c);
}

/* Closes once both directions are done. */
static void maybe_finish(sk__conn *c) {
  if (c->base.state == SK__PEER_SHUT && c->eof)
    sk_peer_close(&c->base, 0);
}

static void shutdown_cb(sk__stream *s, int status) {
  sk__conn *c = s->owner;

  if (status == UV_ECANCELED || c->base.state == SK__PEER_CLOSING)
    return;
  if (status < 0) {
    sk_peer_close(&c->base, status);
    return;
  }
  maybe_finish(c);
}

static void do_shutdown(sk__conn *c) {
  int err;

  if (c->base.state != SK__PEER_ENDING)
    return;
  c->base.state = SK__PEER_SHUT;
  err = sk__stream_shutdown(c->stream, shutdown_cb);
  if (err)
    sk_peer_close(&c->base, err == UV_ENOTCONN ? 0 : err);
}

static void conn_end(sk_peer *p) {
  sk__conn *c = sk__conn_of(p);

  if (p->state == SK__PEER_OPENING) { /* nothing was said yet */
    sk_peer_close(p, 0);
    return;
  }
  p->state = SK__PEER_ENDING;
  if (c->wq.queued == 0 && c->job == NULL)
    do_shutdown(c);
}

/* ------------------------------------------------------ the write queue */

static void wq_error(sk__wq *q, int err) {
  sk_peer_close(&SK__CONTAINER_OF(q, sk__conn, wq)->base, err);
}

static void wq_drain(sk__wq *q) {
  sk__conn *c = SK__CONTAINER_OF(q, sk__conn, wq);

  if (c->job != NULL)
    sk__sendfile_room(c);
  sk__conn_update_reading(c);
  if (c->base.state != SK__PEER_CLOSING && c->base.handler->on_drain != NULL)
    c->base.handler->on_drain(&c->base, c->base.ctx);
}

/* Draining, for the slow-consumer rule, is being back to the soft cap. */
static void wq_lower(sk__wq *q) {
  sk__conn *c = SK__CONTAINER_OF(q, sk__conn, wq);

  if (q->queued <= c->base.max_queue && sk__list_linked(&c->base.slow.link)) {
    sk__pace_drained(&c->base);
    sk__server_slow(&c->base, false);
  }
}

static void wq_empty(sk__wq *q) {
  sk__conn *c = SK__CONTAINER_OF(q, sk__conn, wq);

  if (c->job != NULL)
    sk__sendfile_room(c);
  else if (c->base.state == SK__PEER_ENDING)
    do_shutdown(c);
}

/* ------------------------------------------------------------- reading */

static int on_frame(void *arg, const char *msg, size_t len) {
  sk__conn *c = arg;

  c->fc.got_frame = true;
  if (c->base.handler->on_message != NULL)
    c->base.handler->on_message(&c->base, msg, len, c->base.ctx);
  return c->base.state == SK__PEER_CLOSING ? 1 : 0;
}

static void on_eof(sk__conn *c) {
  int err = sk_decoder_finish(&c->dec, on_frame, c);

  if (err < 0) {
    sk_peer_close(&c->base, err);
    return;
  }
  if (c->base.state == SK__PEER_CLOSING)
    return;
  c->eof = true;
  sk__conn_update_reading(c);
  if (c->base.handler->on_eof != NULL)
    c->base.handler->on_eof(&c->base, c->base.ctx);
  else
    sk_peer_end(&c->base);
  maybe_finish(c);
}

static void on_read(sk__stream *s, ssize_t nread, const char *buf) {
  sk__conn *c = s->owner;
  sk_peer *p = &c->base;
  int err;

  if (p->state == SK__PEER_CLOSING)
    return;
  if (nread < 0) {
    if (nread == UV_EOF)
      on_eof(c);
    else
      sk_peer_close(p, (int)nread);
    return;
  }
  /* What the messages of this read cause, to this peer or others, leaves
   * in one write per peer. */
  c->fc.got_frame = false;
  sk__pace_read_begin();
  sk__peer_received(p, buf, (size_t)nread);
  sk__batch_begin();
  err = sk_decoder_feed(&c->dec, buf, (size_t)nread, on_frame, c);
  sk__batch_end();
  if (err < 0) {
    sk_peer_close(p, err);
    return;
  }
  sk__pace_read_end(c);
  /* Activity is a whole message: bytes trickling into one that never
   * ends keep nobody from the idle timeout (slowloris). */
  if (c->fc.got_frame && p->state != SK__PEER_CLOSING)
    sk__peer_touch(p);
  sk__conn_update_reading(c);
  if (p->server != NULL)
    sk__server_frame_read(p, &c->fc, sk_decoder_pending(&c->dec) > 0);
}

void sk__conn_update_reading(sk__conn *c) {
  sk_peer *p = &c->base;
  bool want;
  int err;

  if (p->state == SK__PEER_CLOSING || p->state == SK__PEER_OPENING)
    return;
  c->self_paused = c->wq.queued >= p->max_queue;
  want = !c->eof && !p->user_paused && !c->self_paused && !c->yielded;
  if (want == c->fc.reading)
    return;
  err =
      want ? sk__stream_read_start(c->stream) : sk__stream_read_stop(c->stream);
  if (err) {
    sk_peer_close(p, err);
    return;
  }
  c->fc.reading = want;
  /* The frame clock runs only while the peer is read. */
  if (p->server != NULL)
    sk__server_frame_pause(p, &c->fc, want);
}

static void conn_pause(sk_peer *p, bool paused) {
  (void)paused;
  sk__conn_update_reading(sk__conn_of(p));
}

/* ------------------------------------------------------------- sending */

static int conn_send(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                     sk_buf *shared) {
  sk__conn *c = sk__conn_of(p);
  int err;

  if (c->job != NULL)
    return UV_EBUSY; /* a file is going out */
  err = shared != NULL ? sk__wq_write_buf(&c->wq, shared)
                       : sk__wq_write(&c->wq, bufs, n);
  if (err) {
    sk_peer_close(p, err);
    return err;
  }
  sk__peer_touch(p);
  if (!c->self_paused && c->wq.queued >= p->max_queue)
    sk__conn_update_reading(c);
  return 0;
}

/* The slow-consumer rule (sk_peer_offer).  An offer that would take the
 * queue past its hard cap drops the peer before anything is queued, so
 * the hard cap bounds its memory; a queue left above the soft cap starts
 * its clock (sk__server_slow), which the write that brings it back to the
 * soft cap stops (wq_lower).  Nothing here pauses the producer.  An empty
 * queue takes any one buffer, as sk_peer_writable says. */
static int conn_offer(sk_peer *p, sk_buf *b) {
  sk__conn *c = sk__conn_of(p);
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);
  size_t q = c->wq.queued;
  int err;

  if (q > 0 && (b->len > p->max_queue_hard || q > p->max_queue_hard - b->len)) {
    sk__peer_drop_slow(p, true);
    return SK_ETOOSLOW;
  }
  err = conn_send(p, &one, 1, b);
  /* A client's peer has no server: no slow clock, no pacing. */
  if (err == 0 && c->wq.queued > p->max_queue && p->server != NULL) {
    sk__server_slow(p, true);
    sk__pace_offered(p);
  }
  return err;
}

static size_t conn_queued(const sk_peer *p) {
  return ((const sk__conn *)p)->wq.queued;
}

static int conn_describe(const sk_peer *p, char *buf, size_t size) {
  const sk__stream *s = ((const sk__conn *)p)->stream;

  if (s == NULL) {
    if (size > 0)
      buf[0] = '\0';
    return 0;
  }
  return s->ops->describe(s, buf, size);
}

static const sk__peer_ops conn_ops = {
    .send = conn_send,
    .queued = conn_queued,
    .pause = conn_pause,
    .end = conn_end,
    .close = conn_close,
    .sendfile = sk__conn_sendfile,
    .describe = conn_describe,
    .offer = conn_offer,
};

/* ------------------------------------------------------------ creation */

static const sk__stream_events conn_events = {
    .on_read = on_read,
    .on_closed = on_closed,
};

void sk__conn_attach(sk__conn *c, sk__stream *stream) {
  c->stream = stream;
  stream->ev = &conn_events;
  stream->owner = c;
  c->wq.stream = stream;
}

static sk__conn *conn_alloc(sk_transport t, const sk_framing *f,
                            size_t max_queue, const sk_handler *h, void *ctx) {
  sk__conn *c = calloc(1, sizeof(*c));

  if (c == NULL)
    return NULL;
  sk__peer_init(&c->base, &conn_ops, t, f, max_queue, h, ctx);
  sk_decoder_init(&c->dec, f);
  sk__wq_init(&c->wq, NULL, max_queue);
  c->wq.on_error = wq_error;
  c->wq.on_drain = wq_drain;
  c->wq.on_empty = wq_empty;
  c->wq.on_lower = wq_lower;
  sk__list_init(&c->fc.clock.link);
  c->fc.peer = &c->base;
  return c;
}

sk__conn *sk__conn_new(sk__stream *stream, sk_transport t, const sk_framing *f,
                       size_t max_queue, const sk_handler *h, void *ctx) {
  sk__conn *c = conn_alloc(t, f, max_queue, h, ctx);

  if (c == NULL)
    return NULL;
  sk__conn_attach(c, stream);
  return c;
}

sk__conn *sk__conn_new_dialing(sk_transport t, const sk_framing *f,
                               size_t max_queue, const sk_handler *h, void *ctx,
                               sk__dial *d) {
  sk__conn *c = conn_alloc(t, f, max_queue, h, ctx);

  if (c != NULL)
    c->dial = d;
  return c;
}

/* ------------------------------------------------------------- opening */

static void opened(sk__conn *c) {
  sk_peer *p = &c->base;
  char info[1024];

  stop_open_timer(c);
  p->state = SK__PEER_OPEN;
  p->opened = true;
  sk__peer_opened(p, c->stream->loop);
  if (c->base.tls && sk__log_enabled(SK_LOG_INFO)) {
    c->stream->ops->describe(c->stream, info, sizeof(info));
    sk__log(SK_LOG_INFO, "%s: %s", p->name, info);
  }
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
  sk__conn_update_reading(c);
}

static void open_cb(sk__stream *s, int status) {
  sk__conn *c = s->owner;

  if (c->base.state == SK__PEER_CLOSING)
    return;
  if (status < 0) {
    sk__peer_set_error(&c->base, s->ops->error(s));
    sk_peer_close(&c->base, status);
    return;
  }
  opened(c);
}

static void open_timeout(uv_timer_t *t) {
  sk__conn *c = t->data;

  sk_peer_close(&c->base, c->base.tls && c->dial == NULL ? SK_EHANDSHAKETIMEOUT
                                                         : UV_ETIMEDOUT);
}

int sk__conn_open_timer(sk__conn *c, uv_loop_t *loop, uint64_t ms) {
  if (ms == 0)
    return 0;
  if (c->open_timer == NULL) {
    c->open_timer = malloc(sizeof(*c->open_timer));
    if (c->open_timer == NULL)
      return UV_ENOMEM;
    uv_timer_init(loop, c->open_timer);
    c->open_timer->data = c;
  }
  return uv_timer_start(c->open_timer, open_timeout, ms, 0);
}

void sk__conn_open(sk__conn *c, sk_tls *tls, const char *servername,
                   uint64_t timeout_ms, bool nodelay) {
  sk__stream *s = c->stream;
  int err;

  sk__stream_nodelay(s, nodelay);
  if (tls != NULL) {
    sk__stream *t = sk__stream_tls_new(s, tls, servername);
    if (t == NULL) {
      sk_peer_close(&c->base, UV_ENOMEM);
      return;
    }
    c->base.tls = true;
    sk__conn_attach(c, t);
    s = t;
  }
  if (s->ops->open == NULL) {
    stop_open_timer(c);
    opened(c);
    return;
  }
  err = sk__conn_open_timer(c, s->loop, timeout_ms);
  if (err == 0)
    err = s->ops->open(s, open_cb);
  if (err)
    sk_peer_close(&c->base, err);
}

int sk__conn_peername(sk__conn *c, struct sockaddr_storage *ss) {
  return c->stream->ops->peername(c->stream, ss);
}

int sk__conn_fileno(sk__conn *c) {
  return c->stream != NULL ? sk__stream_fileno(c->stream) : -1;
}
