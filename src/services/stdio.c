/* stdio.c -- netcat's job: what peers send goes to stdout, what stdin
 * gives goes to the peers.
 *
 * Both directions are bounded.  stdout has its own write queue; while it
 * is over its cap, the peers are not read.  stdin is not read while any
 * peer's queue is over its cap, and resumes when they drain.  stdin and
 * stdout may be terminals, pipes, sockets or plain files (a file is read
 * through libuv's thread pool and written synchronously).
 *
 * For a terminal, messages can be shown escaped (escape_output): a peer
 * must not be able to retitle the window, clear the screen or forge what
 * the user sees with control sequences.
 *
 * netcat's habits live here too, as options: stdin's line ends sent as
 * CRLF (crlf), every peer's bytes shown to a tap (a hexdump), and a
 * summary line per peer as it leaves.
 */
#include "core/escape.h"
#include "internal.h"
#include "services/services.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct node {
  sk__list link; /* in the service's list of peers, newest first */
  sk_peer *peer;
} node;

typedef struct stdio_svc {
  uv_loop_t *loop;
  sk_service_opts o;
  sk__list peers;
  unsigned npeers;
  bool had_peer;

  /* stdin */
  sk__stream *in;
  bool in_stream;  /* else a file, read with uv_fs_read */
  bool in_tty;     /* a person types: the peer's EOF ends the session */
  bool in_started; /* reading began (with the first peer) */
  bool in_reading; /* stream reading, or an fs read pending */
  bool in_eof;
  bool in_blocked; /* a peer's queue is over its cap */
  uv_fs_t in_req;
  char *in_buf;
  sk_peer *sending;  /* stdin goes to it by sk_peer_sendfile, or NULL */
  bool send_pending; /* a transfer's callback is still to come */
  sk_decoder in_dec;
  sk_framing out_framing; /* raw, or lines for line and len framing */
  bool out_escape;        /* escape_output, with line or len framing */
  /* crlf: raw stdin converted into crlf_buf (twice a read at most), the
   * last byte of the previous read a '\r'; line framing frames each line
   * with crlf_lines (line, with room for the '\r' in max_frame). */
  char *crlf_buf;
  bool crlf_cr;
  sk_framing crlf_lines;

  /* stdout */
  sk__stream *out;
  bool out_stream; /* else a file, written synchronously */
  bool out_broken; /* EPIPE: drop output from now on */
  bool out_blocked;
  sk__wq out_q;

  uv_timer_t linger;
  unsigned handles; /* open handles, freed when the last closes */
  bool finishing, finished, destroyed;
  int status;
} stdio_svc;

static node *node_at(const sk__list *l) {
  return l != NULL ? sk__list_entry(l, node, link) : NULL;
}

static node *first_node(const stdio_svc *st) {
  return node_at(sk__list_first(&st->peers));
}

static node *next_node(const stdio_svc *st, const node *n) {
  return node_at(sk__list_next(&st->peers, &n->link));
}

static void update_stdin(stdio_svc *st);
static void restart_linger(stdio_svc *st);
static void free_state(stdio_svc *st);

/* ------------------------------------------------------------- finishing */

/* Done once finishing, with stdout flushed and every peer closed. */
static void check_done(stdio_svc *st) {
  if (!st->finishing || st->finished || st->npeers > 0 ||
      (st->out_q.queued > 0 && !st->out_broken))
    return;
  st->finished = true;
  if (st->o.on_done != NULL)
    st->o.on_done(st->status, st->o.arg);
}

static void finish(stdio_svc *st, int status) {
  if (st->finishing)
    return;
  st->finishing = true;
  st->status = status;
  uv_timer_stop(&st->linger);
  update_stdin(st);
  for (node *n = first_node(st); n != NULL; n = next_node(st, n))
    sk_peer_close(n->peer, SK_ECLOSED);
  check_done(st);
}

/* --------------------------------------------------------------- stdout */

static void out_error(sk__wq *q, int err) {
  stdio_svc *st = SK__CONTAINER_OF(q, stdio_svc, out_q);

  /* The queue is released with its handle: a write may be in flight. */
  st->out_broken = true;
  if (err != UV_EPIPE)
    sk__log(SK_LOG_ERROR, "stdout: %s", sk_strerror(err));
  finish(st, err == UV_EPIPE ? 0 : err);
}

static void set_peers_paused(stdio_svc *st, bool paused) {
  st->out_blocked = paused;
  for (node *n = first_node(st); n != NULL; n = next_node(st, n)) {
    if (paused)
      sk_peer_pause(n->peer);
    else
      sk_peer_resume(n->peer);
  }
}

static void out_drain(sk__wq *q) {
  set_peers_paused(SK__CONTAINER_OF(q, stdio_svc, out_q), false);
}

static void out_empty(sk__wq *q) {
  check_done(SK__CONTAINER_OF(q, stdio_svc, out_q));
}

static void write_file(stdio_svc *st, const uv_buf_t *bufs, unsigned n) {
  for (unsigned i = 0; i < n && !st->out_broken; i++) {
    const char *p = bufs[i].base;
    size_t left = bufs[i].len;
    while (left > 0) {
      ssize_t w = write(STDOUT_FILENO, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        out_error(&st->out_q, -errno);
        return;
      }
      p += w;
      left -= (size_t)w;
    }
  }
}

static void out_frame(stdio_svc *st, const char *msg, size_t len) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  int n, err;

  /* Messages are printed raw, or as lines whatever their framing. */
  n = sk__frame_bufs(&st->out_framing, msg, len, hdr, bufs);
  if (n <= 0)
    return;
  if (!st->out_stream) {
    write_file(st, bufs, (unsigned)n);
    return;
  }
  err = sk__wq_write(&st->out_q, bufs, (unsigned)n);
  if (err) {
    out_error(&st->out_q, err);
    return;
  }
  if (sk__wq_full(&st->out_q) && !st->out_blocked)
    set_peers_paused(st, true);
}

/* msg[0..len) escaped into a new buffer, whose length goes to *n: the
 * clean start (clean bytes, from sk_escape_span) as it is, the rest at
 * most 4 bytes per byte.  NULL when out of memory. */
static char *escaped_copy(const char *msg, size_t len, size_t clean,
                          size_t *n) {
  size_t rest = len - clean, size;
  char *text;

  if (rest > (SIZE_MAX - 1 - clean) / 4) /* only where size_t is small */
    return NULL;
  size = clean + 4 * rest + 1;
  if ((text = malloc(size)) == NULL)
    return NULL;
  memcpy(text, msg, clean);
  *n = clean + sk_escape(msg + clean, rest, text + clean, size - clean);
  return text;
}

/* Prints one message, escaped when asked.  Most messages need nothing
 * escaped and go out from where they are; one that does is escaped into
 * a buffer of its own (messages are bounded by --max-frame), which the
 * queue copies before it is freed. */
static void out_write(stdio_svc *st, const char *msg, size_t len) {
  size_t clean, n;
  char *text;

  if (st->out_broken)
    return;
  clean = st->out_escape ? sk_escape_span(msg, len) : len;
  if (clean == len) {
    out_frame(st, msg, len);
    return;
  }
  if ((text = escaped_copy(msg, len, clean, &n)) == NULL) {
    out_error(&st->out_q, UV_ENOMEM);
    return;
  }
  out_frame(st, text, n);
  free(text);
}

/* ---------------------------------------------------------------- stdin */

/* A line with "\r\n" for its end, framed once for every peer. */
static int send_crlf_line(stdio_svc *st, const char *msg, size_t len) {
  uv_buf_t parts[2] = {uv_buf_init((char *)msg, (unsigned)len),
                       uv_buf_init("\r", 1)};
  sk_buf *b = NULL;
  int err;

  if (len > UINT32_MAX)
    return SK_EFRAMETOOBIG;
  err = sk_buf_append_frame(&b, &st->crlf_lines, parts, 2);
  if (err)
    return err;
  for (node *n = first_node(st); n != NULL; n = next_node(st, n))
    sk_peer_send_buf(n->peer, b);
  sk_buf_unref(b);
  return 0;
}

static int send_line(void *arg, const char *msg, size_t len) {
  stdio_svc *st = arg;

  if (st->o.crlf && st->o.framing.mode == SK_FRAME_LINE)
    return send_crlf_line(st, msg, len);
  for (node *n = first_node(st); n != NULL; n = next_node(st, n)) {
    int err = sk_peer_send(n->peer, msg, len);
    if (err == SK_EFRAMETOOBIG)
      return err; /* the same for every peer: stdin is at fault */
  }
  return 0;
}

static bool peers_full(const stdio_svc *st) {
  for (const node *n = first_node(st); n != NULL; n = next_node(st, n))
    if (!sk_peer_writable(n->peer, 0))
      return true;
  return false;
}

static void stdin_error(stdio_svc *st, int err) {
  sk__log(SK_LOG_ERROR, "stdin: %s", sk_strerror(err));
  st->in_eof = true;
  finish(st, err);
}

static void stdin_too_long(stdio_svc *st) {
  sk__log(SK_LOG_ERROR, "stdin: a line longer than --max-frame (%zu bytes)",
          st->o.framing.max_frame);
  finish(st, SK_EFRAMETOOBIG);
}

static void stdin_eof(stdio_svc *st) {
  int err = sk_decoder_finish(&st->in_dec, send_line, st);

  st->in_eof = true;
  if (err == SK_EFRAMETOOBIG) {
    stdin_too_long(st);
    return;
  }
  update_stdin(st);
  for (node *n = first_node(st); n != NULL; n = next_node(st, n))
    if (sk_peer_transport(n->peer) != SK_UDP)
      sk_peer_end(n->peer);
  restart_linger(st);
}

/* Raw stdin with crlf: each "\n" not after a '\r' (in this read or at
 * the end of the last) becomes "\r\n", into crlf_buf.  Returns the
 * length. */
static size_t crlf_convert(stdio_svc *st, const char *data, size_t len) {
  size_t n = 0;

  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n' && !st->crlf_cr)
      st->crlf_buf[n++] = '\r';
    st->crlf_buf[n++] = data[i];
    st->crlf_cr = data[i] == '\r';
  }
  return n;
}

static void stdin_data(stdio_svc *st, const char *data, size_t len) {
  int err;

  sk__batch_begin(); /* the lines of one read leave in one write */
  if (st->crlf_buf != NULL)
    err = send_line(st, st->crlf_buf, crlf_convert(st, data, len));
  else if (st->o.framing.mode == SK_FRAME_RAW)
    err = send_line(st, data, len);
  else
    err = sk_decoder_feed(&st->in_dec, data, len, send_line, st);
  sk__batch_end();
  if (err == SK_EFRAMETOOBIG) {
    stdin_too_long(st);
    return;
  }
  if (err < 0) {
    stdin_error(st, err);
    return;
  }
  st->in_blocked = peers_full(st);
}

static void in_on_read(sk__stream *s, ssize_t nread, const char *buf) {
  stdio_svc *st = s->owner;

  if (nread > 0)
    stdin_data(st, buf, (size_t)nread);
  if (nread == UV_EOF)
    stdin_eof(st);
  else if (nread < 0)
    stdin_error(st, (int)nread);
  update_stdin(st);
}

static void in_fs_cb(uv_fs_t *req) {
  stdio_svc *st = req->data;
  ssize_t r = req->result;

  uv_fs_req_cleanup(req);
  st->in_reading = false;
  if (st->destroyed) {
    if (st->handles == 0)
      free_state(st);
    return;
  }
  if (r > 0)
    stdin_data(st, st->in_buf, (size_t)r);
  else if (r == 0)
    stdin_eof(st);
  else
    stdin_error(st, (int)r);
  update_stdin(st);
}

/* ------------------------------------------------- stdin by sendfile */

/* A regular file sent raw to one stream peer goes by the library's
 * sk_peer_sendfile: zero-copy on a plain socket, through the stream for
 * TLS. */

static void sent_cb(sk_peer *p, int status, uint64_t sent, void *arg) {
  stdio_svc *st = arg;

  (void)p;
  (void)sent;
  st->send_pending = false;
  st->sending = NULL;
  st->in_reading = false;
  if (st->destroyed) {
    if (st->handles == 0)
      free_state(st);
    return;
  }
  if (st->finishing)
    return;
  if (status == UV_EPIPE) {
    /* The peer is gone, not stdin, and nothing more of stdin goes out;
     * the peer's own close reports why. */
    st->in_eof = true;
    return;
  }
  if (status < 0)
    stdin_error(st, status);
  else
    stdin_eof(st);
}

/* Starts sending stdin to p with sendfile when that applies.  Returns
 * true when it did. */
static bool start_sendfile(stdio_svc *st, sk_peer *p) {
  struct stat sb;

  if (st->in_stream || st->o.framing.mode != SK_FRAME_RAW || st->o.keep_open ||
      st->o.crlf || st->o.tap != NULL || sk_peer_transport(p) == SK_UDP ||
      fstat(STDIN_FILENO, &sb) != 0 || !S_ISREG(sb.st_mode))
    return false;
  if (sk_peer_sendfile(p, STDIN_FILENO, -1, UINT64_MAX, sent_cb, st) != 0)
    return false;
  st->sending = p;
  st->send_pending = true;
  st->in_reading = true;
  return true;
}

static void update_stdin(stdio_svc *st) {
  bool want = st->in_started && !st->in_eof && !st->finishing &&
              !st->in_blocked && st->npeers > 0;

  if (st->in_stream) {
    if (want && !st->in_reading) {
      int err = sk__stream_read_start(st->in);
      if (err) {
        stdin_error(st, err);
        return;
      }
    } else if (!want && st->in_reading) {
      sk__stream_read_stop(st->in);
    }
    st->in_reading = want;
    return;
  }
  if (st->send_pending) {
    if (!want && st->finishing && st->sending != NULL)
      sk_peer_close(st->sending, SK_ECLOSED); /* stops the transfer */
    return;
  }
  if (want && !st->in_reading) {
    uv_buf_t b = uv_buf_init(st->in_buf, SK__READ_BUF);
    int err =
        uv_fs_read(st->loop, &st->in_req, STDIN_FILENO, &b, 1, -1, in_fs_cb);
    if (err) {
      stdin_error(st, err);
      return;
    }
    st->in_reading = true;
  }
}

/* --------------------------------------------------------------- peers */

static void linger_cb(uv_timer_t *t) {
  finish(t->data, 0);
}

/* UDP has no end of stream: after stdin ended, a quiet spell ends it. */
static void restart_linger(stdio_svc *st) {
  if (st->o.linger_ms > 0 && !st->finishing)
    uv_timer_start(&st->linger, linger_cb, st->o.linger_ms, 0);
}

static void stdio_open(sk_peer *p, void *ctx) {
  stdio_svc *st = ctx;
  node *n;

  if ((!st->o.keep_open && st->had_peer) || st->finishing) {
    sk_peer_close(p, SK_EFULL);
    return;
  }
  n = calloc(1, sizeof(*n));
  if (n == NULL) {
    sk_peer_close(p, UV_ENOMEM);
    return;
  }
  n->peer = p;
  if (st->o.tap != NULL)
    sk_peer_set_tap(p, st->o.tap, st->o.tap_arg);
  sk__list_insert_after(&st->peers, &n->link);
  st->npeers++;
  st->had_peer = true;
  sk_peer_set_data(p, n);
  if (st->out_blocked)
    sk_peer_pause(p);
  st->in_started = true;
  if (st->in_eof && sk_peer_transport(p) != SK_UDP)
    sk_peer_end(p);
  if (!st->in_eof && !st->in_reading && start_sendfile(st, p))
    return;
  st->in_blocked = peers_full(st);
  update_stdin(st);
}

static void stdio_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  stdio_svc *st = ctx;

  (void)p;
  out_write(st, msg, len);
  if (st->in_eof)
    restart_linger(st);
}

/* The peer will send nothing more.  A client goes on sending stdin until
 * it ends, and so does a listener whose stdin is a file: a transfer must
 * not lose its tail because the other side shut its direction first.  A
 * listener reading a pipe ends here, as netcat's does, and a person at a
 * terminal is done when the peer is. */
static void stdio_eof(sk_peer *p, void *ctx) {
  stdio_svc *st = ctx;
  bool more = st->o.connect_mode || !st->in_stream;

  if (st->in_eof || st->in_tty || st->finishing || !more)
    sk_peer_end(p);
}

static void stdio_drain(sk_peer *p, void *ctx) {
  stdio_svc *st = ctx;

  (void)p;
  if (st->in_blocked && !peers_full(st)) {
    st->in_blocked = false;
    update_stdin(st);
  }
}

static void stdio_close(sk_peer *p, int reason, void *ctx) {
  stdio_svc *st = ctx;
  node *n = sk_peer_data(p);

  if (n == NULL) {
    if (!st->had_peer) /* a client's connect failed */
      finish(st, reason);
    return;
  }
  if (!st->o.connect_mode)
    sk__log_peer_summary(p);
  if (st->sending == p)
    st->sending = NULL;
  sk__list_remove(&n->link);
  free(n);
  st->npeers--;
  st->in_blocked = peers_full(st); /* the full one may have left */
  if (!st->o.keep_open) {
    bool failed = reason != 0 && reason != UV_EOF && reason != SK_ECLOSED;
    /* A listener's session ends with this client: an error is the run's,
     * and says so even without -v (connect reports its own; the library
     * already warned of the others). */
    if ((reason == UV_ECONNRESET || reason == UV_EPIPE) && !st->finishing &&
        !st->o.connect_mode)
      sk__log(SK_LOG_ERROR, "%s: %s", sk_peer_name(p), sk_strerror(reason));
    finish(st, failed ? reason : 0);
  } else
    update_stdin(st);
  check_done(st);
}

/* ----------------------------------------------------- create, destroy */

static void handle_closed(uv_handle_t *h);
static void stream_closed(sk__stream *s);
static void in_on_read(sk__stream *s, ssize_t nread, const char *buf);

static const sk__stream_events in_events = {
    .on_read = in_on_read,
    .on_closed = stream_closed,
};
static const sk__stream_events out_events = {
    .on_read = NULL,
    .on_closed = stream_closed,
};

/* Opens fd as a stream when it is one (terminal, pipe, socket); NULL for
 * files (and for a stream that cannot be opened, which is then read or
 * written as a file). */
static sk__stream *open_stream(stdio_svc *st, int fd, bool readable) {
  sk__stream *s = sk__stream_fd_new(st->loop, fd, readable);

  if (s == NULL)
    return NULL;
  s->ev = readable ? &in_events : &out_events;
  s->owner = st;
  st->handles++;
  return s;
}

static int stdio_create(uv_loop_t *loop, const sk_service_opts *o,
                        void **state) {
  stdio_svc *st = calloc(1, sizeof(*st));
  sk_framing lines;

  if (st == NULL)
    return UV_ENOMEM;
  st->loop = loop;
  st->o = *o;
  sk_framing_parse(&lines, "line");
  lines.max_frame = o->framing.max_frame;
  sk_decoder_init(&st->in_dec, &lines);
  sk__list_init(&st->peers);
  st->out_framing = o->framing.mode == SK_FRAME_RAW ? o->framing : lines;
  st->out_framing.max_frame = SIZE_MAX; /* what came in may go out */
  st->out_escape = o->escape_output && o->framing.mode != SK_FRAME_RAW;
  st->crlf_lines = lines;
  st->crlf_lines.max_frame = o->framing.max_frame + 1;
  if (o->crlf && o->framing.mode == SK_FRAME_RAW &&
      (st->crlf_buf = malloc(2 * (size_t)SK__READ_BUF)) == NULL) {
    free(st);
    return UV_ENOMEM;
  }
  st->in_tty = uv_guess_handle(STDIN_FILENO) == UV_TTY;
  st->in = open_stream(st, STDIN_FILENO, true);
  st->in_stream = st->in != NULL;
  if (!st->in_stream && (st->in_buf = malloc(SK__READ_BUF)) == NULL) {
    free(st->crlf_buf);
    free(st);
    return UV_ENOMEM;
  }
  st->in_req.data = st;
  st->out = open_stream(st, STDOUT_FILENO, false);
  st->out_stream = st->out != NULL;
  sk__wq_init(&st->out_q, st->out, o->max_queue);
  st->out_q.on_error = out_error;
  st->out_q.on_drain = out_drain;
  st->out_q.on_empty = out_empty;
  uv_timer_init(loop, &st->linger);
  st->linger.data = st;
  st->handles++;
  *state = st;
  return 0;
}

static void closed_one(stdio_svc *st) {
  if (--st->handles > 0 || !st->destroyed ||
      (!st->in_stream && st->in_reading) || st->send_pending)
    return;
  free_state(st);
}

static void handle_closed(uv_handle_t *h) {
  closed_one(h->data);
}

static void stream_closed(sk__stream *s) {
  closed_one(s->owner);
}

/* The last step: no handle is open and no thread-pool work is pending. */
static void free_state(stdio_svc *st) {
  sk__wq_clear(&st->out_q);
  free(st->in_buf);
  free(st->crlf_buf);
  free(st);
}

/* Called after every peer closed.  A file read still in the thread pool
 * is cancelled if it can be; the state is freed when it returns. */
static void stdio_destroy(void *state) {
  stdio_svc *st = state;

  st->destroyed = true;
  sk_decoder_free(&st->in_dec);
  if (!st->send_pending && !st->in_stream && st->in_reading)
    uv_cancel((uv_req_t *)&st->in_req);
  if (st->in_stream)
    sk__stream_close(st->in);
  if (st->out_stream)
    sk__stream_close(st->out);
  uv_close((uv_handle_t *)&st->linger, handle_closed);
}

static const sk_handler stdio_handler = {
    .on_open = stdio_open,
    .on_message = stdio_message,
    .on_eof = stdio_eof,
    .on_drain = stdio_drain,
    .on_close = stdio_close,
};

const sk_service sk__service_stdio = {
    .name = "stdio",
    .summary = "received data to stdout, stdin to the peer (like netcat)",
    .default_mode = SK_FRAME_RAW,
    .nodelay = 1,
    .create = stdio_create,
    .destroy = stdio_destroy,
    .handler = &stdio_handler,
};
