/* server.c -- listeners for TCP and Unix sockets, and what every server
 * shares: the peer list in order of activity, the idle sweep, and the
 * graceful stop.
 *
 * The peer list is kept least recently active first: touching a peer
 * moves it to the end in O(1), so the idle timer only ever looks at the
 * head of the list, never at every peer.
 */
#include "peer/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define UDP_MAX_PEERS_DEFAULT 4096

void sk_server_opts_init(sk_server_opts *o) {
  memset(o, 0, sizeof(*o));
  sk_framing_parse(&o->framing, "line");
  o->max_queue = (size_t)1 << 20;
  o->backlog = 511;
  o->nodelay = 1;
  o->handshake_timeout_ms = 10000;
  o->per_ip_prefix6 = 64;
  o->rate_period_ms = 1000;
  o->slow_timeout_ms = 10000;
}

const sk_addr *sk_server_addr(const sk_server *s) {
  return &s->addr;
}

unsigned sk_server_peer_count(const sk_server *s) {
  return s->nactive;
}

/* ------------------------------------------------------------ the list */

void sk__server_link(sk_server *s, sk_peer *p) {
  p->server = s;
  p->max_queue_hard = s->opts.max_queue_hard;
  p->last_active = sk__now(s->loop);
  sk__list_push_back(&s->peers, &p->link);
  s->npeers++;
}

sk_peer *sk__server_oldest(sk_server *s) {
  sk__list *n = sk__list_first(&s->peers);

  return n != NULL ? sk__list_entry(n, sk_peer, link) : NULL;
}

static sk_peer *next_peer(sk_server *s, sk_peer *p) {
  sk__list *n = sk__list_next(&s->peers, &p->link);

  return n != NULL ? sk__list_entry(n, sk_peer, link) : NULL;
}

void sk__server_touch(sk_peer *p) {
  sk_server *s = p->server;
  uint64_t now = sk__now(s->loop);

  /* The loop's clock moves once per iteration: a peer touched again in
   * the same iteration (a chat line to 99 members, each written to) keeps
   * its place, which costs nothing. */
  if (p->last_active == now && p->link.prev != &s->peers)
    return;
  p->last_active = now;
  sk__list_move_back(&s->peers, &p->link);
}

/* ---------------------------------------------------------- idle sweep */

static void idle_cb(uv_timer_t *t) {
  sk_server *s = t->data;
  uint64_t now = sk__now(s->loop), limit = s->opts.idle_timeout_ms;
  sk_peer *p = sk__server_oldest(s);

  while (p != NULL && p->last_active + limit <= now) {
    sk_peer *next = next_peer(s, p);
    if (p->transferring) /* a file is going out: that is activity */
      sk__server_touch(p);
    else if (p->state != SK__PEER_CLOSING && p->opened)
      sk_peer_close(p, SK_EIDLE);
    p = next;
  }
  sk__server_arm_idle(s);
}

void sk__server_arm_idle(sk_server *s) {
  uint64_t limit = s->opts.idle_timeout_ms, delay = limit;
  uint64_t now = sk__now(s->loop);
  sk_peer *p = sk__server_oldest(s);

  if (limit == 0 || s->stopping)
    return;
  while (p != NULL && p->state == SK__PEER_CLOSING)
    p = next_peer(s, p);
  if (p != NULL)
    delay = p->last_active + limit > now ? p->last_active + limit - now : 0;
  uv_timer_start(&s->idle_timer, idle_cb, delay, 0);
}

/* ---------------------------------------------------- lists of clocks */

/* A list of clocks in the order they run out (all run for the same
 * limit, so that is the order of their starts), and one timer for the
 * head.  The timer is armed when a clock goes in at the head or finds it
 * idle, and re-armed by its own callback; a head leaving early makes it
 * fire once for nothing, never late.  The frame timeout and the
 * slow-consumer rule both use one. */

static void clocks_init(sk_server *s, sk__clocks *cl, uint64_t limit,
                        void (*expired)(sk__clock *c)) {
  sk__list_init(&cl->list);
  cl->limit = limit;
  cl->server = s;
  cl->expired = expired;
}

static sk__clock *clocks_first(sk__clocks *cl) {
  sk__list *n = sk__list_first(&cl->list);

  return n != NULL ? sk__list_entry(n, sk__clock, link) : NULL;
}

static void clocks_cb(uv_timer_t *t) {
  sk__clocks *cl = t->data;
  uint64_t now = sk__now(t->loop);
  sk__clock *c;

  while ((c = clocks_first(cl)) != NULL && c->start + cl->limit <= now) {
    sk__list_remove(&c->link);
    cl->expired(c);
  }
  if (c != NULL && !cl->server->stopping)
    uv_timer_start(t, clocks_cb, c->start + cl->limit - now, 0);
}

/* Lists c as started at `start`.  The search goes back from the end: O(1)
 * for clocks that start now, the common case (the slow rule's only
 * case). */
static void clocks_insert(sk__clocks *cl, sk__clock *c, uint64_t start) {
  uint64_t now = sk__now(cl->server->loop);
  sk__list *pos = cl->list.prev;
  sk__clock *first;

  c->start = start;
  while (pos != &cl->list &&
         sk__list_entry(pos, sk__clock, link)->start > start)
    pos = pos->prev;
  sk__list_insert_after(pos, &c->link);
  if (cl->server->stopping)
    return;
  first = clocks_first(cl);
  if (first == c || !uv_is_active((uv_handle_t *)&cl->timer)) {
    uint64_t due = first->start + cl->limit;
    uv_timer_start(&cl->timer, clocks_cb, due > now ? due - now : 0, 0);
  }
}

static void clocks_timer_init(sk__clocks *cl) {
  uv_timer_init(cl->server->loop, &cl->timer);
  cl->timer.data = cl;
}

static void clocks_close(sk__clocks *cl) {
  cl->timer.data = cl->server; /* as sk__server_handle_closed reads it */
  uv_close((uv_handle_t *)&cl->timer, sk__server_handle_closed);
}

/* -------------------------------------------------------- frame timeout */

/* Peers with a frame begun and read are listed in the order their frames
 * began.  A peer the server stops reading leaves the list with the time
 * its frame has used, and goes back in with it: the clock pauses, it does
 * not start again. */

static void frame_expired(sk__clock *c) {
  sk__frame_clock *fc = SK__CONTAINER_OF(c, sk__frame_clock, clock);

  sk_peer_close(fc->peer, SK_EFRAMETIMEOUT);
}

/* Lists fc as having begun its frame `used` ms ago. */
static void frame_insert(sk_server *s, sk__frame_clock *fc, uint64_t used) {
  fc->frame_used = 0;
  fc->frame_held = false;
  clocks_insert(&s->frames, &fc->clock, sk__now(s->loop) - used);
}

static void frame_hold(sk_server *s, sk__frame_clock *fc) {
  if (sk__list_linked(&fc->clock.link)) {
    fc->frame_used = sk__now(s->loop) - fc->clock.start;
    fc->frame_held = true;
    sk__list_remove(&fc->clock.link);
  }
}

void sk__server_frame_forget(sk_peer *p, sk__frame_clock *fc) {
  (void)p;
  sk__list_remove(&fc->clock.link);
  fc->frame_held = false;
  fc->frame_used = 0;
}

void sk__server_frame_read(sk_peer *p, sk__frame_clock *fc, bool pending) {
  sk_server *s = p->server;
  bool got = fc->got_frame;

  fc->got_frame = false;
  if (s == NULL || s->opts.frame_timeout_ms == 0)
    return;
  if (!pending || p->state == SK__PEER_CLOSING) {
    sk__server_frame_forget(p, fc);
    return;
  }
  if (got) /* a new frame began in this read: its clock starts now */
    sk__server_frame_forget(p, fc);
  if (!fc->reading) { /* paused during this read */
    frame_hold(s, fc);
    fc->frame_held = true;
    return;
  }
  if (!sk__list_linked(&fc->clock.link)) /* a frame's first bytes */
    frame_insert(s, fc, fc->frame_used);
}

void sk__server_frame_pause(sk_peer *p, sk__frame_clock *fc, bool reading) {
  sk_server *s = p->server;

  if (s == NULL || s->opts.frame_timeout_ms == 0 ||
      p->state == SK__PEER_CLOSING)
    return;
  if (!reading)
    frame_hold(s, fc);
  else if (fc->frame_held)
    frame_insert(s, fc, fc->frame_used);
}

/* ------------------------------------------------------- slow consumers */

/* Fed peers whose queue is above its soft cap, in the order they went
 * over.  Unlike Redis, which checks its soft limit only when it adds
 * output, the timer drops a stalled peer on time even when nobody sends
 * it anything more. */

static void slow_expired(sk__clock *c) {
  sk__peer_drop_slow(SK__CONTAINER_OF(c, sk_peer, slow), false);
}

void sk__server_slow(sk_peer *p, bool over) {
  sk_server *s = p->server;

  if (!over) {
    if (sk__list_linked(&p->slow.link))
      sk__log(SK_LOG_DEBUG, "%s: queue back to its soft cap after %ju ms",
              p->name, (uintmax_t)(sk__now(s->loop) - p->slow.start));
    sk__list_remove(&p->slow.link);
    return;
  }
  if (s == NULL || s->slow.limit == 0 || sk__list_linked(&p->slow.link) ||
      p->state == SK__PEER_CLOSING)
    return;
  sk__log(SK_LOG_DEBUG, "%s: queue above its soft cap (%zu bytes)", p->name,
          sk_peer_queued(p));
  clocks_insert(&s->slow, &p->slow, sk__now(s->loop));
}

/* ---------------------------------------------------- stop and release */

static void server_free(sk_server *s) {
  sk__door_free(s);
  if (s->opts.tls != NULL)
    sk_tls_unref(s->opts.tls);
  sk__udp_server_free(s);
  free(s);
}

static void server_maybe_done(sk_server *s) {
  void (*done)(void *);
  void *arg;

  if (!s->stopping)
    return;
  if (s->npeers == 0 && !uv_is_closing((uv_handle_t *)&s->stop_timer)) {
    uv_close((uv_handle_t *)&s->stop_timer, sk__server_handle_closed);
    if (s->addr.transport == SK_UDP)
      sk__udp_server_close_reaper(s);
  }
  if (s->handles_open > 0 || s->npeers > 0)
    return;
  if (s->unlink_path)
    unlink(s->addr.path);
  done = s->done;
  arg = s->done_arg;
  server_free(s);
  if (done != NULL)
    done(arg);
}

void sk__server_handle_closed(uv_handle_t *h) {
  sk_server *s = h->data;

  s->handles_open--;
  server_maybe_done(s);
}

void sk__server_peer_closed(sk_peer *p) {
  sk_server *s = p->server;

  sk__list_remove(&p->link);
  s->npeers--;
  if (p->counted)
    s->nactive--;
  sk__door_leave(s, p->source);
  p->source = NULL;
  server_maybe_done(s);
}

static void stop_timer_cb(uv_timer_t *t) {
  sk_server *s = t->data;
  sk__list *n, *next;

  sk__list_each(n, next, &s->peers) {
    sk_peer_close(sk__list_entry(n, sk_peer, link), SK_ECLOSED);
  }
}

void sk_server_stop(sk_server *s, uint64_t flush_ms, void (*done)(void *),
                    void *arg) {
  sk__list *n, *next;

  if (s->stopping) {
    /* Again, while flushing: the flush is cut short.  The timer is closed
     * only once no peer is left, and then there is nothing to cut. */
    if (!uv_is_closing((uv_handle_t *)&s->stop_timer))
      uv_timer_start(&s->stop_timer, stop_timer_cb, 0, 0);
    return;
  }
  s->stopping = true;
  s->done = done;
  s->done_arg = arg;
  if (s->addr.transport == SK_UDP)
    sk__udp_server_close(s);
  else
    uv_close(&s->h.handle, sk__server_handle_closed);
  uv_close((uv_handle_t *)&s->idle_timer, sk__server_handle_closed);
  clocks_close(&s->frames);
  clocks_close(&s->slow);
  sk__list_each(n, next, &s->peers) {
    sk_peer *p = sk__list_entry(n, sk_peer, link);
    if (p->opened)
      sk_peer_end(p);
    else
      sk_peer_close(p, SK_ECLOSED); /* still in its handshake */
  }
  uv_timer_start(&s->stop_timer, stop_timer_cb, flush_ms, 0);
  server_maybe_done(s);
}

/* ------------------------------------------------------------- accept */

/* Names the peer, and lets the door decide on it before any byte is read
 * or sent.  Returns 0 or the reason it is refused (already logged). */
static int name_and_admit(sk_server *s, sk__conn *c) {
  sk_peer *p = sk__conn_peer(c);
  struct sockaddr_storage ss;
  char why[160];
  int err;

  if (p->transport == SK_UNIX) {
    snprintf(p->name, sizeof(p->name), "unix#%u", ++s->next_id);
    return 0;
  }
  if (sk__conn_peername(c, &ss) != 0) { /* it left already: no door */
    snprintf(p->name, sizeof(p->name), "tcp#%u", ++s->next_id);
    return UV_ENOTCONN;
  }
  sk_sockaddr_format((struct sockaddr *)&ss, p->name, sizeof(p->name));
  err = sk__door_admit(s, (struct sockaddr *)&ss, &p->source, why, sizeof(why));
  if (err)
    sk__door_refused(s, err, "connection from", p->name, why);
  return err;
}

/* Whether descriptor fd is among the last SK__FD_SPARE the process may
 * open.  The limit is read each time: prlimit(1) on a running server
 * takes effect at once. */
static bool near_fd_limit(sk_server *s, int fd) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_cur <= 2 * SK__FD_SPARE)
    return false;
  s->fd_limit = rl.rlim_cur;
  return (uint64_t)fd >= rl.rlim_cur - SK__FD_SPARE;
}

/* Closes a connection that cannot be served.  The first refusal of a run
 * says why: as a warning once a minute at most for each reason, so that a
 * server churning at its limit does not fill the log; otherwise, and for
 * every single refusal, with -v. */
#define REFUSE_WARN_MS 60000

static void refuse(sk_server *s, sk_peer *p, int reason) {
  uint64_t now = sk__now(s->loop);
  uint64_t *warned = reason == SK_EFULL ? &s->warned_full : &s->warned_fds;
  sk_log_level level = SK_LOG_INFO;

  s->stats.full++;
  if (s->refusing != reason) {
    s->refusing = reason;
    if (*warned == 0 || now - *warned >= REFUSE_WARN_MS) {
      *warned = now > 0 ? now : 1;
      level = SK_LOG_WARN;
    }
    s->refusing_level = level;
    if (reason == SK_EFULL)
      sk__log(level, "connection limit reached (%u): refusing new connections",
              s->opts.max_conns);
    else
      sk__log(level,
              "out of file descriptors (limit %ju, see ulimit -n): refusing "
              "new connections",
              (uintmax_t)s->fd_limit);
  }
  sk_peer_close(p, reason);
}

/* A new stream for the next connection, or NULL. */
static sk__stream *stream_for(sk_server *s) {
  return s->addr.transport == SK_UNIX ? sk__stream_pipe_new(s->loop)
                                      : sk__stream_tcp_new(s->loop);
}

static void on_connection(uv_stream_t *listener, int status) {
  sk_server *s = listener->data;
  sk__stream *stream;
  sk__conn *c;
  sk_peer *p;
  int err, fd;

  if (status < 0) {
    /* Rare: libuv's reserve descriptor already handles EMFILE. */
    if (s->refusing != status)
      sk__log(SK_LOG_WARN, "accept: %s", sk_strerror(status));
    s->refusing = status;
    s->refusing_level = SK_LOG_WARN;
    return;
  }
  stream = stream_for(s);
  c = stream != NULL ? sk__conn_new(stream, s->addr.transport, &s->opts.framing,
                                    s->opts.max_queue, s->handler, s->ctx)
                     : NULL;
  if (c == NULL) {
    if (stream != NULL)
      sk__stream_close(stream);
    sk__log(SK_LOG_WARN, "accept: %s", sk_strerror(UV_ENOMEM));
    return;
  }
  p = sk__conn_peer(c);
  sk__server_link(s, p);
  err = uv_accept(listener, sk__stream_uv(stream));
  if (err) {
    snprintf(p->name, sizeof(p->name), "(accept failed)");
    sk_peer_close(p, err);
    return;
  }
  err = name_and_admit(s, c);
  if (err) {
    /* Closed with no byte read or written and no handshake begun. */
    sk_peer_close(p, err);
    return;
  }
  if (s->opts.max_conns > 0 && s->nactive >= s->opts.max_conns) {
    sk__door_refund(s, p->source);
    refuse(s, p, SK_EFULL);
    return;
  }
  /* Descriptors are numbered lowest free first: a new one this high means
   * the process is nearly out of them.  Refusing here keeps a few for
   * what the service still has to open, and accepting resumes as soon as
   * connections close.  (At the limit itself libuv's reserve descriptor
   * accepts and closes what waits, so EMFILE never spins the loop.) */
  fd = sk__conn_fileno(c);
  if (fd >= 0 && near_fd_limit(s, fd)) {
    sk__door_refund(s, p->source);
    refuse(s, p, UV_EMFILE);
    return;
  }
  if (s->refusing != 0) {
    s->refusing = 0;
    sk__log(s->refusing_level, "accepting connections again (%u open)",
            s->nactive + 1);
  }
  s->nactive++;
  s->stats.accepted++;
  p->counted = true;
  sk__log(SK_LOG_INFO, "connection from %s", p->name);
  sk__conn_open(c, s->addr.tls ? s->opts.tls : NULL, NULL,
                s->opts.handshake_timeout_ms, s->opts.nodelay != 0);
  if (s->opts.idle_timeout_ms > 0 && sk__server_oldest(s) == p)
    sk__server_arm_idle(s);
}

/* ------------------------------------------------------------- listen */

/* A Unix socket file nobody listens on is stale: remove it.  A live one
 * (or any other kind of file) is left alone: "address in use". */
static int clear_stale_socket(const char *path) {
  struct sockaddr_un sun;
  struct stat st;
  int fd, rc;

  if (lstat(path, &st) != 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return UV_EADDRINUSE;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  rc = connect(fd, (struct sockaddr *)&sun, sk__addr_unix(path, &sun));
  close(fd);
  if (rc == 0)
    return UV_EADDRINUSE;
  if (errno != ECONNREFUSED)
    return -errno;
  return unlink(path) == 0 ? 0 : -errno;
}

/* Binds a Unix socket itself and hands it to libuv: uv_pipe_bind (before
 * libuv 1.46) knows no abstract names, and reports a missing directory
 * as "permission denied" (ENOENT turned into EACCES, as on Windows). */
static int bind_unix(const char *path, int *out) {
  struct sockaddr_un sun;
  socklen_t len = sk__addr_unix(path, &sun);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

  if (fd < 0)
    return -errno;
  if (bind(fd, (struct sockaddr *)&sun, len) != 0) {
    err = -errno;
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

/* An abstract socket has no file: nothing stale to clear, nothing to
 * remove at the end. */
static int listen_unix(sk_server *s) {
  bool abstract = s->addr.path[0] == '@';
  int err = abstract ? 0 : clear_stale_socket(s->addr.path), fd = -1;

  if (err)
    return err;
  err = uv_pipe_init(s->loop, &s->h.pipe, 0);
  if (err)
    return err;
  s->handles_open++;
  err = bind_unix(s->addr.path, &fd);
  if (err)
    return err;
  s->unlink_path = !abstract;
  err = uv_pipe_open(&s->h.pipe, fd);
  if (err) {
    close(fd);
    return err;
  }
  return uv_listen(&s->h.stream, s->opts.backlog, on_connection);
}

/* libuv sets SO_REUSEADDR on every TCP socket it binds, so a restarted
 * server binds at once even while old connections sit in TIME_WAIT. */
static int listen_tcp(sk_server *s, const struct sockaddr *sa) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), err;

  err = uv_tcp_init(s->loop, &s->h.tcp);
  if (err)
    return err;
  s->handles_open++;
  err = uv_tcp_bind(&s->h.tcp, sa, 0);
  if (err)
    return err;
  err = uv_listen(&s->h.stream, s->opts.backlog, on_connection);
  if (err)
    return err;
  err = uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&ss, &len);
  if (err)
    return err;
  sk__addr_set_bound(&s->addr, (struct sockaddr *)&ss);
  return 0;
}

static void free_failed(uv_handle_t *h) {
  server_free(h->data);
}

int sk_server_start(uv_loop_t *loop, const sk_addr *addr,
                    const sk_server_opts *opts, const sk_handler *handler,
                    void *ctx, sk_server **out) {
  struct sockaddr_storage ss;
  sk_server *s;
  int err;

  if (addr->transport == SK_UDP && opts->framing.mode == SK_FRAME_LEN)
    return SK_EBADUDP;
  if (addr->tls && (addr->transport == SK_UDP || opts->tls == NULL))
    return SK_ETLS;
  if ((opts->max_queue_hard != 0 && opts->max_queue_hard < opts->max_queue) ||
      opts->per_ip_prefix6 > 128)
    return UV_EINVAL;
  sk__ignore_sigpipe();
  if (addr->transport != SK_UNIX) {
    err = sk_addr_resolve(addr, &ss);
    if (err)
      return err;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UV_ENOMEM;
  s->loop = loop;
  s->addr = *addr;
  s->opts = *opts;
  s->opts.tls = addr->tls ? sk__tls_ref(opts->tls) : NULL;
  if (sk__door_init(s) != 0) {
    server_free(s);
    return UV_ENOMEM;
  }
  sk__list_init(&s->peers);
  clocks_init(s, &s->frames, s->opts.frame_timeout_ms, frame_expired);
  clocks_init(s, &s->slow, s->opts.slow_timeout_ms, slow_expired);
  if (s->opts.max_queue_hard == 0)
    s->opts.max_queue_hard = sk__queue_hard_default(s->opts.max_queue);
  if (addr->transport == SK_UDP && s->opts.max_conns == 0)
    s->opts.max_conns = UDP_MAX_PEERS_DEFAULT;
  s->handler = handler;
  s->ctx = ctx;
  s->h.handle.data = s;
  if (addr->transport == SK_UNIX)
    err = listen_unix(s);
  else if (addr->transport == SK_UDP)
    err = sk__udp_server_start(s, (struct sockaddr *)&ss);
  else
    err = listen_tcp(s, (struct sockaddr *)&ss);
  if (err) {
    if (s->unlink_path)
      unlink(s->addr.path); /* bound, but listen failed */
    if (s->handles_open > 0) {
      uv_close(&s->h.handle, free_failed);
    } else {
      server_free(s);
    }
    return err;
  }
  uv_timer_init(loop, &s->idle_timer);
  uv_timer_init(loop, &s->stop_timer);
  clocks_timer_init(&s->frames);
  clocks_timer_init(&s->slow);
  s->idle_timer.data = s;
  s->stop_timer.data = s;
  s->handles_open += 4;
  sk__server_arm_idle(s);
  *out = s;
  return 0;
}
