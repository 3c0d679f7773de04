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

typedef struct udp_send {
  uv_udp_send_t req;
  size_t *queued; /* the socket's count of bytes waiting */
  sk_buf *buf;
} udp_send;

/* -------------------------------------------------------------- sending */

static void send_cb(uv_udp_send_t *req, int status) {
  udp_send *u = SK__CONTAINER_OF(req, udp_send, req);

  (void)status; /* a datagram lost is a datagram lost */
  *u->queued -= u->buf->len;
  sk_buf_unref(u->buf);
  free(u);
}

static size_t *queued_of(sk_peer *p) {
  return p->server != NULL ? &p->server->udp_queued : &p->udp_queued;
}

int sk__udp_peer_send(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                      sk_buf *shared) {
  const struct sockaddr *to =
      p->server != NULL ? (const struct sockaddr *)p->udp_addr : NULL;
  size_t *queued = queued_of(p), total = 0;
  udp_send *u;
  uv_buf_t one;
  int r = uv_udp_try_send(p->udp, bufs, n, to);

  if (r >= 0)
    return 0;
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
  r = uv_udp_send(&u->req, p->udp, &one, 1, to, send_cb);
  if (r) {
    sk_buf_unref(u->buf);
    free(u);
    return r;
  }
  *queued += total;
  return 0;
}

/* ------------------------------------------------------------ receiving */

/* One datagram to the handler.  Line framing drops one final "\n" or
 * "\r\n"; a datagram over max_frame ends that peer. */
static void deliver(sk_peer *p, const char *data, size_t len) {
  if (p->framing.mode == SK_FRAME_LINE && len > 0 && data[len - 1] == '\n') {
    len--;
    if (len > 0 && data[len - 1] == '\r')
      len--;
  }
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

static sk_peer **bucket(sk_server *s, const struct sockaddr *sa) {
  return &s->udp_table[sa_hash(sa) & (s->udp_buckets - 1)];
}

static sk_peer *lookup(sk_server *s, const struct sockaddr *sa) {
  for (sk_peer *p = *bucket(s, sa); p != NULL; p = p->hnext)
    if (sa_equal((struct sockaddr *)p->udp_addr, sa))
      return p;
  return NULL;
}

static void unhash(sk_server *s, sk_peer *p) {
  sk_peer **pp = bucket(s, (struct sockaddr *)p->udp_addr);

  while (*pp != p)
    pp = &(*pp)->hnext;
  *pp = p->hnext;
  p->hnext = NULL;
}

static sk_peer *peer_new(sk_server *s, const struct sockaddr *sa) {
  sk_peer *p, **b;

  if (s->nactive >= s->opts.max_conns) {
    sk_peer *old = s->first;
    while (old != NULL && old->closing)
      old = old->next;
    if (old == NULL)
      return NULL;
    sk_peer_close(old, SK_EIDLE);
  }
  p = calloc(1, sizeof(*p) + sizeof(*p->udp_addr)); /* address after */
  if (p == NULL)
    return NULL;
  p->kind = SK__PEER_UDP;
  p->transport = SK_UDP;
  p->handler = s->handler;
  p->ctx = s->ctx;
  p->framing = s->opts.framing;
  p->max_queue = s->opts.max_queue;
  p->udp = &s->h.udp;
  p->udp_addr = (struct sockaddr_storage *)(p + 1);
  memcpy(p->udp_addr, sa, sa_len(sa));
  sk_sockaddr_format(sa, p->name, sizeof(p->name));
  sk__server_link(s, p);
  b = bucket(s, sa);
  p->hnext = *b;
  *b = p;
  s->nactive++;
  p->opened = true;
  sk__log(SK_LOG_INFO, "datagrams from %s", p->name);
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
  if (s->opts.idle_timeout_ms > 0 && s->first == p)
    sk__server_arm_idle(s);
  return p;
}

static void server_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  sk_server *s = h->data;
  char name[64];
  sk_peer *p;

  if (nread < 0) {
    sk__log(SK_LOG_WARN, "udp receive: %s", sk_strerror((int)nread));
  } else if (addr != NULL && (flags & UV_UDP_PARTIAL)) {
    sk_sockaddr_format(addr, name, sizeof(name));
    sk__log(SK_LOG_WARN, "dropping a datagram from %s: larger than %d bytes",
            name, SK__READ_BUF);
  } else if (addr != NULL && !s->stopping) {
    p = lookup(s, addr);
    if (p == NULL)
      p = peer_new(s, addr);
    if (p != NULL && !p->closing) {
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

void sk__udp_pause(sk_peer *p, bool paused) {
  sk_server *s = p->server;

  if (s == NULL) {
    if (paused)
      uv_udp_recv_stop(p->udp);
    else
      uv_udp_recv_start(p->udp, sk__read_alloc, client_recv);
    return;
  }
  if (paused && s->udp_paused++ == 0)
    uv_udp_recv_stop(&s->h.udp);
  else if (!paused && --s->udp_paused == 0 && !s->stopping)
    uv_udp_recv_start(&s->h.udp, sk__read_alloc, server_recv);
}

/* ------------------------------------------------------------- closing */

static void reap_cb(uv_idle_t *idle) {
  sk_server *s = idle->data;

  uv_idle_stop(idle);
  while (s->udp_reap != NULL) {
    sk_peer *p = s->udp_reap;
    s->udp_reap = p->hnext;
    if (p->handler->on_close != NULL)
      p->handler->on_close(p, p->close_reason, p->ctx);
    /* s outlives this call: the reaper handle that runs it is open. */
    sk__server_peer_closed(p);
    free(p);
  }
}

static void client_closed(uv_handle_t *h) {
  sk_peer *p = h->data;

  if (p->handler->on_close != NULL)
    p->handler->on_close(p, p->close_reason, p->ctx);
  free(p->udp);
  free(p);
}

void sk__udp_peer_close(sk_peer *p, int reason) {
  sk_server *s = p->server;

  if (p->closing)
    return;
  if (p->user_paused && s != NULL)
    sk__udp_pause(p, false);
  p->closing = true;
  p->close_reason = reason;
  if (s == NULL) {
    if (p->connect_timer != NULL) {
      uv_close((uv_handle_t *)p->connect_timer, sk__free_handle);
      p->connect_timer = NULL;
    }
    uv_close((uv_handle_t *)p->udp, client_closed);
    return;
  }
  if (reason == SK_EIDLE)
    sk__log(SK_LOG_INFO, "forgetting %s: idle", p->name);
  else if (reason != 0 && reason != SK_ECLOSED && reason != SK_EFRAMETOOBIG)
    sk__log(SK_LOG_WARN, "dropping %s: %s", p->name, sk_strerror(reason));
  unhash(s, p);
  p->hnext = s->udp_reap;
  s->udp_reap = p;
  uv_idle_start(&s->udp_reaper, reap_cb);
}

/* The reaper closes with the last peer (server.c), not here: peers that
 * close during the stop still need it. */
void sk__udp_server_close(sk_server *s) {
  uv_close(&s->h.handle, sk__server_handle_closed);
}

/* -------------------------------------------------------------- servers */

int sk__udp_server_start(sk_server *s, const struct sockaddr *sa) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), err;

  s->udp_buckets = 64;
  while (s->udp_buckets < s->opts.max_conns * 2 && s->udp_buckets < 65536)
    s->udp_buckets *= 2;
  s->udp_table = calloc(s->udp_buckets, sizeof(*s->udp_table));
  if (s->udp_table == NULL)
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
  uv_idle_init(s->loop, &s->udp_reaper);
  s->udp_reaper.data = s;
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
  else if (addr != NULL && !p->closing)
    deliver(p, buf->base, (size_t)nread);
  sk__read_release(buf);
}

static void client_open(uv_timer_t *t) {
  sk_peer *p = t->data;

  uv_close((uv_handle_t *)t, sk__free_handle);
  p->connect_timer = NULL;
  p->opened = true;
  if (p->handler->on_open != NULL)
    p->handler->on_open(p, p->ctx);
}

static const sk_handler no_handler;

int sk__udp_client(uv_loop_t *loop, const struct sockaddr *sa,
                   const sk_client_opts *opts, const sk_handler *h, void *ctx,
                   sk_peer **out) {
  sk_peer *p = calloc(1, sizeof(*p));
  int err;

  if (opts->framing.mode == SK_FRAME_LEN) {
    free(p);
    return SK_EBADUDP;
  }
  if (p == NULL || (p->udp = malloc(sizeof(*p->udp))) == NULL ||
      (p->connect_timer = malloc(sizeof(*p->connect_timer))) == NULL) {
    if (p != NULL)
      free(p->udp);
    free(p);
    return UV_ENOMEM;
  }
  p->kind = SK__PEER_UDP;
  p->transport = SK_UDP;
  p->handler = h;
  p->ctx = ctx;
  p->framing = opts->framing;
  p->max_queue = opts->max_queue;
  sk_sockaddr_format(sa, p->name, sizeof(p->name));
  uv_udp_init(loop, p->udp);
  p->udp->data = p;
  uv_timer_init(loop, p->connect_timer);
  p->connect_timer->data = p;
  err = uv_udp_connect(p->udp, sa);
  if (err == 0)
    err = uv_udp_recv_start(p->udp, sk__read_alloc, client_recv);
  if (err == 0)
    err = uv_timer_start(p->connect_timer, client_open, 0, 0);
  if (err) {
    p->handler = &no_handler; /* an error return calls no callback */
    sk_peer_close(p, err);
    return err;
  }
  *out = p;
  return 0;
}
