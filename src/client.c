/* client.c -- connect to a TCP or Unix server, with TLS on top when the
 * address asks for it (UDP is in peer/udp.c).
 *
 * A host name may resolve to several addresses (localhost: ::1 and
 * 127.0.0.1); like netcat, the client tries them in the resolver's order
 * until one accepts, all within one connect timeout.  Each try needs a
 * fresh socket, so each is a new stream; the one that connects is handed
 * to the peer (sk__conn_attach), which then opens it (the TLS handshake).
 * The conn's one open timer bounds connect and handshake together.
 *
 * A Unix socket is connected here rather than by uv_pipe_connect, which
 * (before libuv 1.46) cannot reach an abstract name: a local connect
 * never waits, so it is done at once and its success reported from the
 * loop.
 *
 * With a source address (local_addr) every try binds to it first, and
 * only the resolved addresses of the source's family are tried.
 */
#include "peer/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct sk__dial {
  sk__conn *conn;
  uv_loop_t *loop;
  sk__stream *attempt; /* the stream being connected, or NULL */
  uv_connect_t req;
  struct sockaddr_storage *targets; /* addresses left to try */
  struct sockaddr_storage local;    /* source address, if has_local */
  bool has_local;
  bool aborted;
  unsigned ntargets, target;
  sk_tls *tls;
  char *servername;
  sk_addr addr;          /* as given: the Unix path, the error's words */
  sk__defer connected;   /* Unix: reports the connect from the loop */
  bool connected_inited; /* then its handle must close before d goes */
};

void sk_client_opts_init(sk_client_opts *o) {
  memset(o, 0, sizeof(*o));
  sk_framing_parse(&o->framing, "raw");
  o->max_queue = (size_t)1 << 20;
  o->connect_timeout_ms = 10000;
}

/* The socket addresses to try for addr, into a malloc'd array: a copy of
 * opts->targets at addr's port when the caller resolved the host already,
 * else the resolver's answer.  Returns the count or an error. */
static int targets_of(const sk_addr *addr, const sk_client_opts *opts,
                      struct sockaddr_storage **out) {
  struct sockaddr_storage *t;

  if (opts->ntargets == 0)
    return sk_addr_resolve_all(addr, out);
  t = malloc(opts->ntargets * sizeof(*t));
  if (t == NULL)
    return UV_ENOMEM;
  memcpy(t, opts->targets, opts->ntargets * sizeof(*t));
  for (unsigned i = 0; i < opts->ntargets; i++) {
    if (t[i].ss_family == AF_INET6)
      ((struct sockaddr_in6 *)&t[i])->sin6_port = htons(addr->port);
    else
      ((struct sockaddr_in *)&t[i])->sin_port = htons(addr->port);
  }
  *out = t;
  return (int)opts->ntargets;
}

static void dial_release(uv_handle_t *h) {
  free(h->data);
}

static void dial_free(sk__dial *d) {
  free(d->targets);
  free(d->servername);
  if (d->tls != NULL)
    sk_tls_unref(d->tls);
  d->targets = NULL;
  d->servername = NULL;
  d->tls = NULL;
  if (d->connected_inited)
    sk__defer_close(&d->connected, dial_release);
  else
    free(d);
}

static void attempt_closed(sk__stream *s);
static void connect_cb(uv_connect_t *req, int status);
static const sk__stream_events attempt_events = {
    .on_read = NULL,
    .on_closed = attempt_closed,
};

/* Connects s to d's Unix path or abstract name at once, on a
 * non-blocking socket: a full backlog is an error (EAGAIN) then, as with
 * uv_pipe_connect, rather than a wait that would stall the loop. */
static int unix_connect(sk__dial *d, sk__stream *s) {
  struct sockaddr_un sun;
  socklen_t len = sk__addr_unix(d->addr.path, &sun);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int rc, err;

  if (fd < 0)
    return -errno;
  do
    rc = connect(fd, (struct sockaddr *)&sun, len);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    err = -errno;
    close(fd);
    return err;
  }
  err = uv_pipe_open((uv_pipe_t *)sk__stream_uv(s), fd);
  if (err)
    close(fd);
  return err;
}

static void dial_done(sk__dial *d, int status);

static void unix_connected(sk__defer *df) {
  dial_done(df->idle.data, 0);
}

/* Starts the next try.  Returns 0 or the error of the last address. */
static int try_next(sk__dial *d) {
  sk__stream *s;
  int err = 0;

  if (d->conn->base.transport == SK_UNIX) {
    s = sk__stream_pipe_new(d->loop);
    if (s == NULL)
      return UV_ENOMEM;
    s->ev = &attempt_events;
    s->owner = d;
    d->attempt = s;
    err = unix_connect(d, s);
    if (err) {
      d->conn->base.close_reason = err;
      sk__stream_close(s); /* attempt_closed reports it */
    } else {
      sk__defer_arm(&d->connected);
    }
    return 0;
  }
  s = sk__stream_tcp_new(d->loop);
  if (s == NULL)
    return UV_ENOMEM;
  s->ev = &attempt_events;
  s->owner = d;
  d->attempt = s;
  if (d->has_local)
    err = uv_tcp_bind((uv_tcp_t *)sk__stream_uv(s),
                      (struct sockaddr *)&d->local, 0);
  if (err == 0)
    err = uv_tcp_connect(&d->req, (uv_tcp_t *)sk__stream_uv(s),
                         (struct sockaddr *)&d->targets[d->target], connect_cb);
  d->target++;
  if (err) {
    /* Refused at once: the close moves on to the next address. */
    d->conn->base.close_reason = err;
    sk__stream_close(s);
  }
  return 0;
}

/* An attempt's stream closed: try the next address, or give up. */
static void attempt_closed(sk__stream *s) {
  sk__dial *d = s->owner;
  sk__conn *c = d->conn;
  int err;

  d->attempt = NULL;
  if (d->aborted) {
    sk__conn_dial_closed(c);
    dial_free(d);
    return;
  }
  if (d->target < d->ntargets) {
    err = try_next(d);
    if (err == 0)
      return;
  } else {
    err = c->base.close_reason != 0 ? c->base.close_reason : UV_ECONNREFUSED;
  }
  if (d->addr.transport == SK_UNIX) {
    char why[SK_PATH_MAX + 64];
    sk_addr_strerror(&d->addr, err, why, sizeof(why));
    sk__peer_set_error(&c->base, why);
  }
  c->dial = NULL;
  dial_free(d);
  c->base.close_reason = 0;
  sk_peer_close(&c->base, err); /* no stream left: it finishes at once */
}

/* Whether a TCP socket is connected to itself.  A connect to a port of
 * this host with nothing listening there can meet itself: the kernel
 * picked that very port as the source, and TCP's simultaneous open joins
 * the socket to itself.  It looks open and is not (Go's net package
 * checks for the same).  A listening port is never picked as a source,
 * so the truth is a refusal. */
static bool self_connected(sk__stream *s) {
  struct sockaddr_storage me, peer;
  int n = sizeof(me), m = sizeof(peer);
  uv_tcp_t *t = (uv_tcp_t *)sk__stream_uv(s);

  if (uv_tcp_getsockname(t, (struct sockaddr *)&me, &n) != 0 ||
      uv_tcp_getpeername(t, (struct sockaddr *)&peer, &m) != 0 ||
      me.ss_family != peer.ss_family)
    return false;
  if (me.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&me;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&peer;
    return a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (me.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&me;
    const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&peer;
    return a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
  }
  return false;
}

static void connect_cb(uv_connect_t *req, int status) {
  dial_done(SK__CONTAINER_OF(req, sk__dial, req), status);
}

/* The attempt connected (status 0) or failed. */
static void dial_done(sk__dial *d, int status) {
  sk__conn *c = d->conn;
  sk__stream *s = d->attempt;

  if (status == UV_ECANCELED || d->aborted)
    return;
  if (status == 0 && c->base.transport == SK_TCP && self_connected(s))
    status = UV_ECONNREFUSED;
  if (status < 0) {
    c->base.close_reason = status;
    sk__stream_close(s); /* attempt_closed tries the next one */
    return;
  }
  d->attempt = NULL;
  c->dial = NULL;
  sk__conn_attach(c, s);
  sk__conn_open(c, d->tls, d->servername, 0, true);
  dial_free(d);
}

void sk__dial_abort(sk__dial *d) {
  d->aborted = true;
  if (d->attempt != NULL) {
    sk__stream_close(d->attempt); /* attempt_closed finishes the conn */
    return;
  }
  sk__conn_dial_closed(d->conn);
  dial_free(d);
}

/* Keeps those of the n targets that are of family; returns how many. */
static int keep_family(struct sockaddr_storage *t, int n, int family) {
  int kept = 0;

  for (int i = 0; i < n; i++)
    if (t[i].ss_family == family)
      t[kept++] = t[i];
  return kept;
}

/* The source address to bind to, copied; UV_EINVAL when it is not IP. */
static int copy_local(const struct sockaddr *sa, struct sockaddr_storage *out) {
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
    return UV_EINVAL;
  memset(out, 0, sizeof(*out));
  memcpy(out, sa,
         sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in));
  return 0;
}

/* Resolves addr into d's targets, those of the source's family only when
 * there is a source. */
static int dial_targets(sk__dial *d, const sk_addr *addr,
                        const sk_client_opts *opts) {
  int n = targets_of(addr, opts, &d->targets);

  if (n < 0)
    return n;
  if (d->has_local)
    n = keep_family(d->targets, n, d->local.ss_family);
  d->ntargets = (unsigned)n;
  return n > 0 ? 0 : UV_EAFNOSUPPORT;
}

static int dial_new(uv_loop_t *loop, const sk_addr *addr,
                    const sk_client_opts *opts, sk__dial **out) {
  sk__dial *d = calloc(1, sizeof(*d));
  const char *name = opts->servername != NULL ? opts->servername : addr->host;
  int err;

  if (d == NULL)
    return UV_ENOMEM;
  d->loop = loop;
  d->addr = *addr;
  if (opts->local_addr != NULL) {
    err = addr->transport == SK_UNIX ? UV_EINVAL
                                     : copy_local(opts->local_addr, &d->local);
    if (err) {
      free(d);
      return err;
    }
    d->has_local = true;
  }
  if (addr->transport == SK_UNIX) {
    sk__defer_init(loop, &d->connected, unix_connected);
    d->connected.idle.data = d;
    d->connected_inited = true;
  } else if ((err = dial_targets(d, addr, opts)) != 0) {
    dial_free(d);
    return err;
  }
  if (addr->tls) {
    d->tls = sk__tls_ref(opts->tls);
    if (name[0] != '\0' && (d->servername = strdup(name)) == NULL) {
      dial_free(d);
      return UV_ENOMEM;
    }
  }
  *out = d;
  return 0;
}

int sk_client_connect(uv_loop_t *loop, const sk_addr *addr,
                      const sk_client_opts *opts, const sk_handler *handler,
                      void *ctx, sk_peer **out) {
  struct sockaddr_storage *targets = NULL;
  sk__dial *d;
  sk__conn *c;
  int n, err;

  sk__ignore_sigpipe();
  if (addr->tls && (addr->transport == SK_UDP || opts->tls == NULL))
    return SK_ETLS;
  if (addr->transport == SK_UDP) {
    n = targets_of(addr, opts, &targets);
    if (n < 0)
      return n;
    if (opts->local_addr != NULL)
      n = keep_family(targets, n, opts->local_addr->sa_family);
    err = n > 0 ? sk__udp_client(loop, (struct sockaddr *)&targets[0], opts,
                                 handler, ctx, out)
                : UV_EAFNOSUPPORT;
    free(targets);
    return err;
  }
  err = dial_new(loop, addr, opts, &d);
  if (err)
    return err;
  c = sk__conn_new_dialing(addr->transport, &opts->framing, opts->max_queue,
                           handler, ctx, d);
  if (c == NULL) {
    dial_free(d);
    return UV_ENOMEM;
  }
  d->conn = c;
  c->base.tls = addr->tls != 0;
  c->base.idle_ms = opts->idle_timeout_ms;
  sk_addr_format(addr, c->base.name, sizeof(c->base.name));
  err = sk__conn_open_timer(c, loop, opts->connect_timeout_ms);
  if (err == 0)
    err = try_next(d);
  if (err) {
    /* An error return calls no callback: drop the conn quietly. */
    static const sk_handler none;
    c->base.handler = &none;
    sk_peer_close(&c->base, err);
    return err;
  }
  *out = &c->base;
  return 0;
}
