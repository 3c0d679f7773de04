/* udp.c -- UDP servers and clients.  Each datagram is one message.
 *
 * A UDP server keeps one sk_peer per remote address, found through a hash
 * table, so services see UDP senders as they see connections.  The table
 * is bounded (max_conns, 4096 by default): a new sender then replaces the
 * least recently active one, and --idle-timeout forgets quiet senders.
 * Closed peers are handed to on_close from an idle callback, never from
 * inside the caller's own callback.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A UDP peer: a remote address on a shared socket (a server's), or a
 * client's own connected socket.  No stream, no write queue, no decoder:
 * a datagram is a message. */
typedef struct udp_peer {
  sk_peer base;
  uv_udp_t *udp;          /* the socket */
  struct udp_peer *hnext; /* server: next in the hash bucket / reap list */
  size_t queued;          /* client: bytes in uv_udp_send requests */
  sk__defer *opening;     /* client: on_open from the loop, not inside */
  struct sockaddr_storage addr; /* server: the remote address */
} udp_peer;

/* A UDP server's senders: a hash table by address, and the list of
 * closed peers waiting for on_close (handed over from an idle callback,
 * never inside the caller's own callback). */
struct sk__udp_table {
  udp_peer **buckets;
  unsigned nbuckets;
  udp_peer *reap;
  sk__defer reaper;
  sk_server *server;
  size_t queued;   /* bytes in uv_udp_send requests */
  unsigned paused; /* peers paused; no receiving while > 0 */
};

typedef struct udp_send {
  uv_udp_send_t req;
  size_t *queued; /* the socket's count of bytes waiting */
  sk_buf *buf;
} udp_send;

static udp_peer *udp_of(sk_peer *p) {
  return (udp_peer *)p;
}

/* -------------------------------------------------------------- sending */

static void send_cb(uv_udp_send_t *req, int status) {
  udp_send *u = SK__CONTAINER_OF(req, udp_send, req);

  (void)status; /* a datagram lost is a datagram lost */
  *u->queued -= u->buf->len;
  sk_buf_unref(u->buf);
  free(u);
}

static size_t *queued_of(sk_peer *p) {
  return p->server != NULL ? &p->server->udp->queued : &udp_of(p)->queued;
}

static int udp_send_bufs(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                         sk_buf *shared) {
  udp_peer *up = udp_of(p);
  const struct sockaddr *to =
      p->server != NULL ? (const struct sockaddr *)&up->addr : NULL;
  size_t *queued = queued_of(p), total = 0;
  udp_send *u;
  uv_buf_t one;
  int r = uv_udp_try_send(up->udp, bufs, n, to);

  /* A client's idle clock counts what it sends (a server forgets its UDP
   * peers by what they send it, as it always has). */
  if (p->server == NULL)
    sk__peer_touch(p);
  if (r >= 0)
    return 0;
  /* A client's socket keeps an ICMP port unreachable for the next call
   * on it, send or receive: a send that takes it ends the peer, as a
   * receive does, or nobody would hear of it. */
  if (r == UV_ECONNREFUSED && p->server == NULL)
    sk_peer_close(p, r);
  if (r != UV_EAGAIN)
    return r;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if (*queued + total > p->max_queue)
    return SK_ETOOSLOW; /* the socket is backed up: drop, as UDP may */
  u = malloc(sizeof(*u));
  if (u == NULL)
    return UV_ENOMEM;
  if (shared != NULL) {
    u->buf = sk_buf_ref(shared);
  } else if ((u->buf = sk__buf_new(total)) != NULL) {
    for (unsigned i = 0; i < n; i++) {
      memcpy(u->buf->data + u->buf->len, bufs[i].base, bufs[i].len);
      u->buf->len += bufs[i].len;
    }
  } else {
    free(u);
    return UV_ENOMEM;
  }
  u->queued = queued;
  one = uv_buf_init(u->buf->data, (unsigned)u->buf->len);
  r = uv_udp_send(&u->req, up->udp, &one, 1, to, send_cb);
  if (r) {
    sk_buf_unref(u->buf);
    free(u);
    return r;
  }
  *queued += total;
  return 0;
}

/* ------------------------------------------------------------ receiving */

/* One datagram to the handler, as the codec reads a datagram (line
 * framing drops one final line end); one over max_frame ends that peer. */
static void deliver(sk_peer *p, const char *data, size_t len) {
  sk__peer_received(p, data, len);
  len = sk__frame_datagram(&p->framing, data, len);
  if (len > p->framing.max_frame) {
    sk__log(SK_LOG_WARN, "dropping %s: datagram too large (over %zu bytes)",
            p->name, p->framing.max_frame);
    sk_peer_close(p, SK_EFRAMETOOBIG);
    return;
  }
  if (p->handler->on_message != NULL)
    p->handler->on_message(p, data, len, p->ctx);
}

static socklen_t sa_len(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

static unsigned sa_hash(const struct sockaddr *sa) {
  const unsigned char *b;
  size_t n;
  uint32_t h = 2166136261u; /* FNV-1a */

  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    b = (const unsigned char *)&s6->sin6_addr;
    n = sizeof(s6->sin6_addr);
    h = (h ^ s6->sin6_port) * 16777619u;
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    b = (const unsigned char *)&s4->sin_addr;
    n = sizeof(s4->sin_addr);
    h = (h ^ s4->sin_port) * 16777619u;
  }
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static bool sa_equal(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family)
    return false;
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
  return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static udp_peer **bucket(sk_server *s, const struct sockaddr *sa) {
  return &s->udp->buckets[sa_hash(sa) & (s->udp->nbuckets - 1)];
}

static udp_peer *lookup(sk_server *s, const struct sockaddr *sa) {
  for (udp_peer *p = *bucket(s, sa); p != NULL; p = p->hnext)
    if (sa_equal((struct sockaddr *)&p->addr, sa))
      return p;
  return NULL;
}

static void unhash(sk_server *s, udp_peer *p) {
  udp_peer **pp = bucket(s, (struct sockaddr *)&p->addr);

  while (*pp != p)
    pp = &(*pp)->hnext;
  *pp = p->hnext;
  p->hnext = NULL;
}

static const sk__peer_ops udp_ops;

/* A peer for a new sender, or NULL when its datagram is to be dropped:
 * refused at the door (dropped unread), or no memory. */
static sk_peer *peer_new(sk_server *s, const struct sockaddr *sa) {
  sk__source *src;
  udp_peer *up, **b;
  sk_peer *p;
  char why[160], name[64];
  int err;

  err = sk__door_admit(s, sa, &src, why, sizeof(why));
  if (err) {
    sk_sockaddr_format(sa, name, sizeof(name));
    sk__door_refused(s, err, "datagram from", name, why);
    return NULL;
  }
  if (s->nactive >= s->opts.max_conns) {
    sk_peer *old = sk__server_oldest(s);
    while (old != NULL && old->state == SK__PEER_CLOSING)
      old = old->link.next != &s->peers
                ? sk__list_entry(old->link.next, sk_peer, link)
                : NULL;
    if (old == NULL) {
      sk__door_leave(s, src);
      return NULL;
    }
    sk_peer_close(old, SK_EIDLE);
  }
  up = calloc(1, sizeof(*up));
  if (up == NULL) {
    sk__door_leave(s, src);
    return NULL;
  }
  p = &up->base;
  sk__peer_init(p, &udp_ops, SK_UDP, &s->opts.framing, s->opts.max_queue,
                s->handler, s->ctx);
  up->udp = &s->h.udp;
  memcpy(&up->addr, sa, sa_len(sa));
  sk_sockaddr_format(sa, p->name, sizeof(p->name));
  sk__server_link(s, p);
  p->source = src;
  b = bucket(s, sa);
  up->hnext = *b;
  *b = up;
  s->nactive++;
  s->stats.accepted++;
  p->counted = true;
  p->state = SK__PEER_OPEN;
  p->opened = true;
  sk__peer_opened(p, s->loop);
  sk__log(SK_LOG_INFO, "datagrams from %s", p->name);
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
  if (s->opts.idle_timeout_ms > 0 && sk__server_oldest(s) == p)
    sk__server_arm_idle(s);
  return p;
}

static void server_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  sk_server *s = h->data;
  char name[64];
  sk_peer *p;
  udp_peer *up;

  if (nread < 0) {
    sk__log(SK_LOG_WARN, "udp receive: %s", sk_strerror((int)nread));
  } else if (addr != NULL && (flags & UV_UDP_PARTIAL)) {
    sk_sockaddr_format(addr, name, sizeof(name));
    sk__log(SK_LOG_WARN, "dropping a datagram from %s: larger than %d bytes",
            name, SK__READ_BUF);
  } else if (addr != NULL && !s->stopping) {
    up = lookup(s, addr);
    p = up != NULL ? &up->base : peer_new(s, addr);
    if (p != NULL && p->state != SK__PEER_CLOSING) {
      sk__server_touch(p);
      deliver(p, buf->base, (size_t)nread);
    }
  }
  sk__read_release(buf);
}

/* ------------------------------------------------------------ pausing */

static void server_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags);
static void client_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags);

/* Pausing a UDP peer stops reading the socket it shares until no peer of
 * that socket is paused: the kernel then drops what does not fit, as UDP
 * may. */
static void udp_pause(sk_peer *p, bool paused) {
  sk_server *s = p->server;

  if (s == NULL) {
    if (paused)
      uv_udp_recv_stop(udp_of(p)->udp);
    else
      uv_udp_recv_start(udp_of(p)->udp, sk__read_alloc, client_recv);
    return;
  }
  if (paused && s->udp->paused++ == 0)
    uv_udp_recv_stop(&s->h.udp);
  else if (!paused && --s->udp->paused == 0 && !s->stopping)
    uv_udp_recv_start(&s->h.udp, sk__read_alloc, server_recv);
}

/* ------------------------------------------------------------- closing */

static void reap_cb(sk__defer *d) {
  sk_server *s = SK__CONTAINER_OF(d, sk__udp_table, reaper)->server;

  while (s->udp->reap != NULL) {
    udp_peer *p = s->udp->reap;
    s->udp->reap = p->hnext;
    /* s outlives this call: the reaper handle that runs it is open. */
    sk__peer_finish(&p->base);
    free(p);
  }
}

static void client_closed(uv_handle_t *h) {
  udp_peer *p = h->data;

  sk__peer_finish(&p->base);
  free(p->udp);
  free(p);
}

static void udp_close(sk_peer *p) {
  sk_server *s = p->server;
  udp_peer *up = udp_of(p);
  int reason = p->close_reason;

  if (p->user_paused && s != NULL)
    udp_pause(p, false);
  if (s == NULL) {
    if (up->opening != NULL) {
      sk__defer_close(up->opening, sk__free_handle); /* idle is first */
      up->opening = NULL;
    }
    uv_close((uv_handle_t *)up->udp, client_closed);
    return;
  }
  if (reason == SK_EIDLE)
    sk__log(SK_LOG_INFO, "forgetting %s: idle", p->name);
  else if (reason != 0 && reason != SK_ECLOSED && reason != SK_EFRAMETOOBIG)
    sk__log(SK_LOG_WARN, "dropping %s: %s", p->name, sk_strerror(reason));
  unhash(s, up);
  up->hnext = s->udp->reap;
  s->udp->reap = up;
  sk__defer_arm(&s->udp->reaper);
}

static void udp_end(sk_peer *p) {
  sk_peer_close(p, 0); /* a datagram peer has nothing to flush */
}

static size_t udp_queued(const sk_peer *p) {
  (void)p;
  return 0; /* datagrams are sent at once or dropped */
}

/* A UDP peer has no queue of its own: an offer is a send.  A datagram
 * the backed-up socket cannot take is lost, as any datagram may be, and
 * the peer stays: SK_ETOOSLOW from sk_peer_offer means a closing peer. */
static int udp_offer(sk_peer *p, sk_buf *b) {
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);
  int err = udp_send_bufs(p, &one, 1, b);

  return err == SK_ETOOSLOW ? 0 : err;
}

static const sk__peer_ops udp_ops = {
    .send = udp_send_bufs,
    .queued = udp_queued,
    .pause = udp_pause,
    .end = udp_end,
    .close = udp_close,
    .sendfile = NULL,
    .describe = NULL,
    .offer = udp_offer,
};

/* The reaper closes with the last peer (server.c), not here: peers that
 * close during the stop still need it. */
void sk__udp_server_close(sk_server *s) {
  uv_close(&s->h.handle, sk__server_handle_closed);
}

void sk__udp_server_close_reaper(sk_server *s) {
  sk__defer_close(&s->udp->reaper, sk__server_handle_closed);
}

void sk__udp_server_free(sk_server *s) {
  if (s->udp != NULL)
    free(s->udp->buckets);
  free(s->udp);
  s->udp = NULL;
}

/* -------------------------------------------------------------- servers */

int sk__udp_server_start(sk_server *s, const struct sockaddr *sa) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), err;

  s->udp = calloc(1, sizeof(*s->udp));
  if (s->udp == NULL)
    return UV_ENOMEM;
  s->udp->nbuckets = 64;
  while (s->udp->nbuckets < s->opts.max_conns * 2 && s->udp->nbuckets < 65536)
    s->udp->nbuckets *= 2;
  s->udp->buckets = calloc(s->udp->nbuckets, sizeof(*s->udp->buckets));
  if (s->udp->buckets == NULL)
    return UV_ENOMEM;
  err = uv_udp_init(s->loop, &s->h.udp);
  if (err)
    return err;
  s->handles_open++;
  err = uv_udp_bind(&s->h.udp, sa, 0);
  if (err == 0)
    err = uv_udp_getsockname(&s->h.udp, (struct sockaddr *)&ss, &len);
  if (err == 0)
    err = uv_udp_recv_start(&s->h.udp, sk__read_alloc, server_recv);
  if (err)
    return err;
  sk__addr_set_bound(&s->addr, (struct sockaddr *)&ss);
  sk__defer_init(s->loop, &s->udp->reaper, reap_cb);
  s->udp->reaper.idle.data = s;
  s->udp->server = s;
  s->handles_open++;
  return 0;
}

/* -------------------------------------------------------------- clients */

static void client_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  sk_peer *p = h->data;

  if (nread < 0)
    sk_peer_close(p, (int)nread);
  else if (addr != NULL && (flags & UV_UDP_PARTIAL))
    sk__log(SK_LOG_WARN, "dropping a datagram from %s: larger than %d bytes",
            p->name, SK__READ_BUF);
  else if (addr != NULL && p->state != SK__PEER_CLOSING) {
    sk__peer_touch(p);
    deliver(p, buf->base, (size_t)nread);
  }
  sk__read_release(buf);
}

static void client_open(sk__defer *d) {
  udp_peer *up = d->idle.data;
  sk_peer *p = &up->base;

  sk__defer_close(d, sk__free_handle);
  up->opening = NULL;
  p->state = SK__PEER_OPEN;
  p->opened = true;
  sk__peer_opened(p, up->udp->loop);
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
}

static const sk_handler no_handler;

int sk__udp_client(uv_loop_t *loop, const struct sockaddr *sa,
                   const sk_client_opts *opts, const sk_handler *h, void *ctx,
                   sk_peer **out) {
  udp_peer *up;
  sk_peer *p;
  int err;

  if (opts->framing.mode == SK_FRAME_LEN)
    return SK_EBADUDP;
  up = calloc(1, sizeof(*up));
  if (up == NULL || (up->udp = malloc(sizeof(*up->udp))) == NULL ||
      (up->opening = malloc(sizeof(*up->opening))) == NULL) {
    if (up != NULL)
      free(up->udp);
    free(up);
    return UV_ENOMEM;
  }
  p = &up->base;
  sk__peer_init(p, &udp_ops, SK_UDP, &opts->framing, opts->max_queue, h, ctx);
  p->idle_ms = opts->idle_timeout_ms;
  sk_sockaddr_format(sa, p->name, sizeof(p->name));
  uv_udp_init(loop, up->udp);
  up->udp->data = p;
  /* on_open comes from the loop, as a stream client's does, never from
   * inside sk_client_connect. */
  sk__defer_init(loop, up->opening, client_open);
  up->opening->idle.data = up;
  err =
      opts->local_addr != NULL ? uv_udp_bind(up->udp, opts->local_addr, 0) : 0;
  if (err == 0)
    err = uv_udp_connect(up->udp, sa);
  if (err == 0)
    err = uv_udp_recv_start(up->udp, sk__read_alloc, client_recv);
  if (err == 0)
    sk__defer_arm(up->opening);
  if (err) {
    p->handler = &no_handler; /* an error return calls no callback */
    sk_peer_close(p, err);
    return err;
  }
  *out = p;
  return 0;
}
