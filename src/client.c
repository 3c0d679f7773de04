/* client.c -- connect to a TCP or Unix server, with TLS on top when the
 * address asks for it (UDP is in peer/udp.c).
 *
 * A host name may resolve to several addresses (localhost: ::1 and
 * 127.0.0.1); like netcat, the client tries them in the resolver's order
 * until one accepts, all within one connect timeout.  Each try needs a
 * fresh socket, so each is a new stream; the one that connects is handed
 * to the peer (sk__conn_attach), which then opens it (the TLS handshake).
 * The conn's one open timer bounds connect and handshake together.
 */
#include "peer/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  char path[SK_PATH_MAX]; /* Unix */
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

static void dial_free(sk__dial *d) {
  free(d->targets);
  free(d->servername);
  if (d->tls != NULL)
    sk_tls_unref(d->tls);
  free(d);
}

static void attempt_closed(sk__stream *s);
static void connect_cb(uv_connect_t *req, int status);
static const sk__stream_events attempt_events = {
    .on_read = NULL,
    .on_closed = attempt_closed,
};

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
    uv_pipe_connect(&d->req, (uv_pipe_t *)sk__stream_uv(s), d->path,
                    connect_cb);
    return 0;
  }
  s = sk__stream_tcp_new(d->loop);
  if (s == NULL)
    return UV_ENOMEM;
  s->ev = &attempt_events;
  s->owner = d;
  d->attempt = s;
  if (d->has_local && d->local.ss_family == d->targets[d->target].ss_family)
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
  sk__dial *d = SK__CONTAINER_OF(req, sk__dial, req);
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

static int dial_new(uv_loop_t *loop, const sk_addr *addr,
                    const sk_client_opts *opts, sk__dial **out) {
  sk__dial *d = calloc(1, sizeof(*d));
  const char *name = opts->servername != NULL ? opts->servername : addr->host;
  int n;

  if (d == NULL)
    return UV_ENOMEM;
  d->loop = loop;
  if (addr->transport == SK_UNIX) {
    memcpy(d->path, addr->path, sizeof(d->path));
  } else {
    n = targets_of(addr, opts, &d->targets);
    if (n < 0) {
      free(d);
      return n;
    }
    d->ntargets = (unsigned)n;
  }
  if (opts->local_addr != NULL) {
    d->has_local = true;
    memcpy(&d->local, opts->local_addr,
           opts->local_addr->sa_family == AF_INET6
               ? sizeof(struct sockaddr_in6)
               : sizeof(struct sockaddr_in));
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
    err = sk__udp_client(loop, (struct sockaddr *)&targets[0], opts, handler,
                         ctx, out);
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
