/* stdio.c -- netcat's job: what peers send goes to stdout, what stdin
 * gives goes to the peers.
 *
 * Both directions are bounded.  stdout has its own write queue; while it
 * is over its cap, the peers are not read.  stdin is not read while any
 * peer's queue is over its cap, and resumes when they drain.  stdin and
 * stdout may be terminals, pipes, sockets or plain files (a file is read
 * through libuv's thread pool and written synchronously).
 */
#include "internal.h"
#include "services/services.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

typedef union stream_u {
  uv_tty_t tty;
  uv_pipe_t pipe;
  uv_tcp_t tcp;
  uv_handle_t handle;
  uv_stream_t stream;
} stream_u;

typedef struct node {
  struct node *prev, *next;
  sk_peer *peer;
} node;

typedef struct stdio_svc {
  uv_loop_t *loop;
  sk_service_opts o;
  node *first;
  unsigned npeers;
  bool had_peer;

  /* stdin */
  stream_u in;
  bool in_stream;  /* else a file, read with uv_fs_read */
  bool in_tty;     /* a person types: the peer's EOF ends the session */
  bool in_started; /* reading began (with the first peer) */
  bool in_reading; /* stream reading, or an fs read pending */
  bool in_eof;
  bool in_blocked; /* a peer's queue is over its cap */
  uv_fs_t in_req;
  char *in_buf;
  struct send_job *job; /* stdin sent with sendfile(2), or NULL */
  sk_decoder in_dec;

  /* stdout */
  stream_u out;
  bool out_stream; /* else a file, written synchronously */
  bool out_broken; /* EPIPE: drop output from now on */
  bool out_blocked;
  sk__wq out_q;

  uv_timer_t linger;
  unsigned handles; /* open handles, freed when the last closes */
  bool finishing, finished, destroyed;
  int status;
} stdio_svc;

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
  for (node *n = st->first; n != NULL; n = n->next)
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
  for (node *n = st->first; n != NULL; n = n->next) {
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

static void out_write(stdio_svc *st, const char *msg, size_t len) {
  uv_buf_t bufs[2];
  unsigned n = 0;
  int err;

  if (st->out_broken)
    return;
  bufs[n++] = uv_buf_init((char *)msg, (unsigned)len);
  if (st->o.framing.mode != SK_FRAME_RAW)
    bufs[n++] = uv_buf_init("\n", 1);
  if (!st->out_stream) {
    write_file(st, bufs, n);
    return;
  }
  err = sk__wq_write(&st->out_q, bufs, n);
  if (err) {
    out_error(&st->out_q, err);
    return;
  }
  if (sk__wq_full(&st->out_q) && !st->out_blocked)
    set_peers_paused(st, true);
}

/* ---------------------------------------------------------------- stdin */

static int send_line(void *arg, const char *msg, size_t len) {
  stdio_svc *st = arg;

  for (node *n = st->first; n != NULL; n = n->next) {
    int err = sk_peer_send(n->peer, msg, len);
    if (err == SK_EFRAMETOOBIG)
      return err; /* the same for every peer: stdin is at fault */
  }
  return 0;
}

static bool peers_full(const stdio_svc *st) {
  for (const node *n = st->first; n != NULL; n = n->next)
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
  for (node *n = st->first; n != NULL; n = n->next)
    if (sk_peer_transport(n->peer) != SK_UDP)
      sk_peer_end(n->peer);
  restart_linger(st);
}

static void stdin_data(stdio_svc *st, const char *data, size_t len) {
  int err;

  sk__batch_begin(); /* the lines of one read leave in one write */
  if (st->o.framing.mode == SK_FRAME_RAW)
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

static void in_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  stdio_svc *st = s->data;

  if (nread > 0)
    stdin_data(st, buf->base, (size_t)nread);
  sk__read_release(buf);
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

/* ----------------------------------------------------- stdin by sendfile */

/* A regular file sent raw to one stream peer goes by sendfile(2): the
 * kernel moves page cache to socket without a copy through user space.
 * It runs in the thread pool, on a duplicate of the socket so that a
 * close on the loop's side cannot hand its number to another file; the
 * thread waits for room with poll(2) and checks `cancel` between waits.
 * The write queue stays empty meanwhile: the file is the only writer. */
typedef struct send_job {
  uv_work_t req;
  stdio_svc *st;
  sk_peer *peer; /* NULL once it has closed */
  int sock;
  atomic_int cancel;
  int err;
} send_job;

#define SENDFILE_CHUNK (4 << 20)

static void send_work(uv_work_t *req) {
  send_job *j = SK__CONTAINER_OF(req, send_job, req);

  while (!atomic_load(&j->cancel)) {
    ssize_t n = sendfile(j->sock, STDIN_FILENO, NULL, SENDFILE_CHUNK);
    if (n > 0)
      continue;
    if (n == 0)
      return; /* the end of the file */
    if (errno == EAGAIN) {
      struct pollfd pfd = {.fd = j->sock, .events = POLLOUT};
      poll(&pfd, 1, 100);
    } else if (errno != EINTR) {
      j->err = -errno;
      return;
    }
  }
}

/* Whether an error of sendfile(2) is the socket's (the client's), not the
 * file's: sendfile reports both sides alike. */
static bool socket_error(int err) {
  switch (err) {
  case UV_EPIPE:
  case UV_ECONNRESET:
  case UV_ECONNABORTED:
  case UV_ETIMEDOUT:
  case UV_EHOSTUNREACH:
  case UV_ENETUNREACH:
  case UV_ENETDOWN:
  case UV_ENOTCONN:
    return true;
  default:
    return false;
  }
}

static void send_done(uv_work_t *req, int status) {
  send_job *j = SK__CONTAINER_OF(req, send_job, req);
  stdio_svc *st = j->st;
  sk_peer *peer = j->peer;
  int err = status < 0 ? status : j->err;
  bool cancelled = atomic_load(&j->cancel);

  close(j->sock);
  free(j);
  st->job = NULL;
  st->in_reading = false;
  if (st->destroyed) {
    if (st->handles == 0)
      free_state(st);
    return;
  }
  if (cancelled)
    return;
  if (socket_error(err)) {
    /* The socket refused, not stdin, and nothing more of stdin goes out.
     * A peer that is ending had our side shut by a stop: the refusal is
     * our own and its close will follow.  Otherwise the client left:
     * close it with the error, as a failed queued write does. */
    st->in_eof = true;
    if (peer != NULL && !peer->ending && !peer->closing && !peer->shut)
      sk_peer_close(peer, err);
    return;
  }
  if (err < 0)
    stdin_error(st, err);
  else
    stdin_eof(st);
}

/* Starts sending stdin to p with sendfile when that applies.  Returns
 * true when it did. */
static bool start_sendfile(stdio_svc *st, sk_peer *p) {
  struct stat sb;
  send_job *j;
  int fd = sk__peer_fileno(p);

  if (st->in_stream || st->o.framing.mode != SK_FRAME_RAW || st->o.keep_open ||
      sk_peer_transport(p) == SK_UDP || fd < 0 ||
      fstat(STDIN_FILENO, &sb) != 0 || !S_ISREG(sb.st_mode))
    return false;
  j = calloc(1, sizeof(*j));
  if (j == NULL)
    return false;
  j->st = st;
  j->peer = p;
  j->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (j->sock < 0 ||
      uv_queue_work(st->loop, &j->req, send_work, send_done) != 0) {
    if (j->sock >= 0)
      close(j->sock);
    free(j);
    return false;
  }
  st->job = j;
  st->in_reading = true;
  return true;
}

static void update_stdin(stdio_svc *st) {
  bool want = st->in_started && !st->in_eof && !st->finishing &&
              !st->in_blocked && st->npeers > 0;

  if (st->in_stream) {
    if (want && !st->in_reading) {
      int err = uv_read_start(&st->in.stream, sk__read_alloc, in_read_cb);
      if (err) {
        stdin_error(st, err);
        return;
      }
    } else if (!want && st->in_reading) {
      uv_read_stop(&st->in.stream);
    }
    st->in_reading = want;
    return;
  }
  if (st->job != NULL) {
    if (!want && st->finishing)
      atomic_store(&st->job->cancel, 1);
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
  n->next = st->first;
  if (st->first != NULL)
    st->first->prev = n;
  st->first = n;
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
  if (st->job != NULL && st->job->peer == p)
    st->job->peer = NULL;
  if (n->prev != NULL)
    n->prev->next = n->next;
  else
    st->first = n->next;
  if (n->next != NULL)
    n->next->prev = n->prev;
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

/* Opens fd as a libuv stream when it is one; returns false for files (and
 * for a stream libuv cannot take, which is then read or written as a
 * file). */
static bool open_stream(stdio_svc *st, int fd, stream_u *s, bool readable) {
  int err;

  switch (uv_guess_handle(fd)) {
  case UV_TTY:
    return uv_tty_init(st->loop, &s->tty, fd, readable) == 0;
  case UV_NAMED_PIPE:
    if (uv_pipe_init(st->loop, &s->pipe, 0) != 0)
      return false;
    err = uv_pipe_open(&s->pipe, fd);
    break;
  case UV_TCP:
    if (uv_tcp_init(st->loop, &s->tcp) != 0)
      return false;
    err = uv_tcp_open(&s->tcp, fd);
    break;
  default:
    return false;
  }
  if (err == 0)
    return true;
  s->handle.data = st;
  st->handles++;
  uv_close(&s->handle, handle_closed);
  return false;
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
  st->in_tty = uv_guess_handle(STDIN_FILENO) == UV_TTY;
  st->in_stream = open_stream(st, STDIN_FILENO, &st->in, true);
  if (st->in_stream) {
    st->in.handle.data = st;
    st->handles++;
  } else if ((st->in_buf = malloc(SK__READ_BUF)) == NULL) {
    free(st);
    return UV_ENOMEM;
  }
  st->in_req.data = st;
  st->out_stream = open_stream(st, STDOUT_FILENO, &st->out, false);
  if (st->out_stream) {
    st->out.handle.data = st;
    st->handles++;
  }
  sk__wq_init(&st->out_q, &st->out.stream, o->max_queue);
  st->out_q.on_error = out_error;
  st->out_q.on_drain = out_drain;
  st->out_q.on_empty = out_empty;
  uv_timer_init(loop, &st->linger);
  st->linger.data = st;
  st->handles++;
  *state = st;
  return 0;
}

static void handle_closed(uv_handle_t *h) {
  stdio_svc *st = h->data;

  if (--st->handles > 0 || !st->destroyed || (!st->in_stream && st->in_reading))
    return;
  free_state(st);
}

/* The last step: no handle is open and no thread-pool work is pending. */
static void free_state(stdio_svc *st) {
  sk__wq_clear(&st->out_q);
  free(st->in_buf);
  free(st);
}

/* Called after every peer closed.  A file read still in the thread pool
 * is cancelled if it can be; the state is freed when it returns. */
static void stdio_destroy(void *state) {
  stdio_svc *st = state;

  st->destroyed = true;
  sk_decoder_free(&st->in_dec);
  if (st->job != NULL)
    atomic_store(&st->job->cancel, 1);
  else if (!st->in_stream && st->in_reading)
    uv_cancel((uv_req_t *)&st->in_req);
  if (st->in_stream)
    uv_close(&st->in.handle, handle_closed);
  if (st->out_stream)
    uv_close(&st->out.handle, handle_closed);
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
    .udp_ok = 1,
    .create = stdio_create,
    .destroy = stdio_destroy,
    .handler = &stdio_handler,
};
