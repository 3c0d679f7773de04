/* client.c -- connect to a TCP or Unix server (UDP is in udp.c).
 *
 * A host name may resolve to several addresses (localhost: ::1 and
 * 127.0.0.1); like netcat, the client tries them in the resolver's order
 * until one accepts, all within one connect timeout.  Each new try needs
 * a fresh socket, so the peer's handle is closed and initialised again.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sk_client_opts_init(sk_client_opts *o) {
  memset(o, 0, sizeof(*o));
  sk_framing_parse(&o->framing, "raw");
  o->max_queue = (size_t)1 << 20;
  o->connect_timeout_ms = 10000;
}

static void connect_cb(uv_connect_t *req, int status);
static void retry_cb(uv_handle_t *h);

static int connect_next(sk_peer *p) {
  uv_connect_t *req = malloc(sizeof(*req));
  int err;

  if (req == NULL)
    return UV_ENOMEM;
  req->data = p;
  err = 0;
  if (p->local != NULL &&
      p->local->ss_family == p->targets[p->target].ss_family)
    err = uv_tcp_bind(&p->h.tcp, (struct sockaddr *)p->local, 0);
  if (err == 0)
    err =
        uv_tcp_connect(req, &p->h.tcp,
                       (struct sockaddr *)&p->targets[p->target++], connect_cb);
  if (err) {
    free(req);
    if (p->target < p->ntargets) { /* refused at once: try the next */
      p->retrying = true;
      uv_close(&p->h.handle, retry_cb);
      return 0;
    }
    return err;
  }
  p->connect_req = req;
  return 0;
}

static void retry_cb(uv_handle_t *h) {
  sk_peer *p = h->data;
  int err;

  p->retrying = false;
  if (p->closing) { /* timed out or closed while the handle closed */
    sk__conn_closed(h);
    return;
  }
  err = uv_tcp_init(h->loop, &p->h.tcp);
  p->h.handle.data = p;
  if (err == 0)
    err = connect_next(p);
  if (err)
    sk_peer_close(p, err);
}

static void connect_cb(uv_connect_t *req, int status) {
  sk_peer *p = req->data;

  free(req);
  p->connect_req = NULL;
  if (status == UV_ECANCELED || p->closing)
    return;
  if (status < 0 && p->target < p->ntargets) {
    p->retrying = true;
    uv_close(&p->h.handle, retry_cb);
    return;
  }
  if (p->connect_timer != NULL) {
    uv_close((uv_handle_t *)p->connect_timer, sk__free_handle);
    p->connect_timer = NULL;
  }
  if (status < 0) {
    sk_peer_close(p, status);
    return;
  }
  sk__conn_start(p);
}

static void timeout_cb(uv_timer_t *t) {
  sk_peer_close(t->data, UV_ETIMEDOUT);
}

static int start_timer(uv_loop_t *loop, sk_peer *p, uint64_t ms) {
  if (ms == 0)
    return 0;
  p->connect_timer = malloc(sizeof(*p->connect_timer));
  if (p->connect_timer == NULL)
    return UV_ENOMEM;
  uv_timer_init(loop, p->connect_timer);
  p->connect_timer->data = p;
  return uv_timer_start(p->connect_timer, timeout_cb, ms, 0);
}

static void free_peer(uv_handle_t *h) {
  sk_peer *p = h->data;

  free(p->targets);
  free(p->local);
  free(p);
}

static int connect_unix(sk_peer *p, const char *path) {
  uv_connect_t *req = malloc(sizeof(*req));

  if (req == NULL)
    return UV_ENOMEM;
  req->data = p;
  uv_pipe_connect(req, &p->h.pipe, path, connect_cb);
  p->connect_req = req;
  return 0;
}

int sk_client_connect(uv_loop_t *loop, const sk_addr *addr,
                      const sk_client_opts *opts, const sk_handler *handler,
                      void *ctx, sk_peer **out) {
  struct sockaddr_storage *targets = NULL;
  sk_peer *p;
  int n = 0, err;

  sk__ignore_sigpipe();
  if (addr->transport != SK_UNIX) {
    n = sk__addr_resolve_all(addr, &targets);
    if (n < 0)
      return n;
  }
  if (addr->transport == SK_UDP) {
    err = sk__udp_client(loop, (struct sockaddr *)&targets[0], opts, handler,
                         ctx, out);
    free(targets);
    return err;
  }
  p = sk__conn_new(loop, addr->transport, &opts->framing, opts->max_queue,
                   handler, ctx);
  if (p == NULL) {
    free(targets);
    return UV_ENOMEM;
  }
  p->targets = targets;
  p->ntargets = (unsigned)n;
  p->nodelay = true;
  if (opts->local_addr != NULL) {
    p->local = malloc(sizeof(*p->local));
    if (p->local != NULL)
      memcpy(p->local, opts->local_addr,
             opts->local_addr->sa_family == AF_INET6
                 ? sizeof(struct sockaddr_in6)
                 : sizeof(struct sockaddr_in));
  }
  sk_addr_format(addr, p->name, sizeof(p->name));
  err = start_timer(loop, p, opts->connect_timeout_ms);
  if (err == 0)
    err = addr->transport == SK_UNIX ? connect_unix(p, addr->path)
                                     : connect_next(p);
  if (err) {
    if (p->connect_timer != NULL)
      uv_close((uv_handle_t *)p->connect_timer, sk__free_handle);
    uv_close(&p->h.handle, free_peer);
    return err;
  }
  *out = p;
  return 0;
}
