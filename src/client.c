/* client.c -- connect to a TCP or Unix server (UDP is in udp.c). */
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

static void connect_cb(uv_connect_t *req, int status) {
  sk_peer *p = req->data;

  free(req);
  p->connect_req = NULL;
  if (status == UV_ECANCELED || p->closing)
    return;
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
  free(h->data);
}

int sk_client_connect(uv_loop_t *loop, const sk_addr *addr,
                      const sk_client_opts *opts, const sk_handler *handler,
                      void *ctx, sk_peer **out) {
  struct sockaddr_storage ss;
  uv_connect_t *req;
  sk_peer *p;
  int err;

  if (addr->transport != SK_UNIX) {
    err = sk_addr_resolve(addr, &ss);
    if (err)
      return err;
  }
  if (addr->transport == SK_UDP)
    return sk__udp_client(loop, (struct sockaddr *)&ss, opts, handler, ctx,
                          out);
  p = sk__conn_new(loop, addr->transport, &opts->framing, opts->max_queue,
                   handler, ctx);
  if (p == NULL)
    return UV_ENOMEM;
  req = malloc(sizeof(*req));
  err =
      req == NULL ? UV_ENOMEM : start_timer(loop, p, opts->connect_timeout_ms);
  if (err == 0) {
    sk_addr_format(addr, p->name, sizeof(p->name));
    req->data = p;
    if (addr->transport == SK_UNIX)
      uv_pipe_connect(req, &p->h.pipe, addr->path, connect_cb);
    else
      err = uv_tcp_connect(req, &p->h.tcp, (struct sockaddr *)&ss, connect_cb);
  }
  if (err) {
    free(req);
    if (p->connect_timer != NULL)
      uv_close((uv_handle_t *)p->connect_timer, sk__free_handle);
    uv_close(&p->h.handle, free_peer);
    return err;
  }
  p->connect_req = req;
  *out = p;
  return 0;
}
