/* uv.c -- streams over libuv handles: TCP sockets and Unix pipes.
 *
 * The thinnest layer of the seam: each operation is the libuv call of the
 * same name.  Reads go through the loop's one shared read buffer
 * (sk__read_alloc), since the owner consumes them within on_read.
 */
#include "internal.h"

#include <stdlib.h>

typedef struct uv_stream_impl {
  sk__stream base;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_handle_t handle;
    uv_stream_t stream;
  } h;
  sk__shutdown_cb shutdown_cb;
  uv_shutdown_t *shutdown_req; /* while a shutdown is in flight */
  bool is_tcp;
  bool closing;
} uv_stream_impl;

static uv_stream_impl *impl_of(const sk__stream *s) {
  return (uv_stream_impl *)s;
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  uv_stream_impl *u = h->data;

  if (nread != 0)
    u->base.ev->on_read(&u->base, nread, buf->base);
  sk__read_release(buf);
}

static int uvs_read_start(sk__stream *s) {
  return uv_read_start(&impl_of(s)->h.stream, sk__read_alloc, read_cb);
}

static int uvs_read_stop(sk__stream *s) {
  return uv_read_stop(&impl_of(s)->h.stream);
}

static int uvs_try_write(sk__stream *s, const uv_buf_t *bufs, unsigned n) {
  int r = uv_try_write(&impl_of(s)->h.stream, bufs, n);

  return r == UV_EAGAIN || r == UV_ENOSYS ? 0 : r;
}

static void write_cb(uv_write_t *w, int status) {
  sk__write_req *req = SK__CONTAINER_OF(w, sk__write_req, uv);

  req->cb(req, status);
}

static int uvs_write(sk__stream *s, sk__write_req *req, const uv_buf_t *bufs,
                     unsigned n) {
  return uv_write(&req->uv, &impl_of(s)->h.stream, bufs, n, write_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  uv_stream_impl *u = req->data;

  free(req);
  u->shutdown_req = NULL;
  u->shutdown_cb(&u->base, status);
}

static int uvs_shutdown(sk__stream *s, sk__shutdown_cb cb) {
  uv_stream_impl *u = impl_of(s);
  uv_shutdown_t *req = malloc(sizeof(*req));
  int err;

  if (req == NULL)
    return UV_ENOMEM;
  req->data = u;
  u->shutdown_cb = cb;
  err = uv_shutdown(req, &u->h.stream, shutdown_cb);
  if (err) {
    free(req);
    return err;
  }
  u->shutdown_req = req;
  return 0;
}

static void closed_cb(uv_handle_t *h) {
  uv_stream_impl *u = h->data;

  u->base.ev->on_closed(&u->base);
  free(u);
}

static void uvs_close(sk__stream *s) {
  uv_stream_impl *u = impl_of(s);

  if (u->closing)
    return;
  u->closing = true;
  uv_close(&u->h.handle, closed_cb);
}

static int uvs_fileno(const sk__stream *s) {
  uv_os_fd_t fd;

  if (impl_of(s)->closing || uv_fileno(&impl_of(s)->h.handle, &fd) != 0)
    return -1;
  return fd;
}

static int uvs_peername(const sk__stream *s, struct sockaddr_storage *ss) {
  int len = sizeof(*ss);

  if (!impl_of(s)->is_tcp)
    return UV_ENOTSUP;
  return uv_tcp_getpeername(&impl_of(s)->h.tcp, (struct sockaddr *)ss, &len);
}

static int uvs_describe(const sk__stream *s, char *buf, size_t size) {
  (void)s;
  if (size > 0)
    buf[0] = '\0';
  return 0;
}

static const char *uvs_error(const sk__stream *s) {
  (void)s;
  return NULL;
}

/* The three kinds differ only in name: libuv's stream calls serve all. */
#define UV_STREAM_OPS(kind)                                                    \
  {                                                                            \
    .name = kind, .open = NULL, .read_start = uvs_read_start,                  \
    .read_stop = uvs_read_stop, .try_write = uvs_try_write,                    \
    .write = uvs_write, .shutdown = uvs_shutdown, .close = uvs_close,          \
    .fileno = uvs_fileno, .peername = uvs_peername, .describe = uvs_describe,  \
    .error = uvs_error,                                                        \
  }

static const sk__stream_ops tcp_ops = UV_STREAM_OPS("tcp");
static const sk__stream_ops pipe_ops = UV_STREAM_OPS("unix");
static const sk__stream_ops tty_ops = UV_STREAM_OPS("tty");

static sk__stream *stream_new(uv_loop_t *loop, bool tcp) {
  uv_stream_impl *u = calloc(1, sizeof(*u));
  int err;

  if (u == NULL)
    return NULL;
  err = tcp ? uv_tcp_init(loop, &u->h.tcp) : uv_pipe_init(loop, &u->h.pipe, 0);
  if (err) {
    free(u);
    return NULL;
  }
  u->is_tcp = tcp;
  u->h.handle.data = u;
  u->base.ops = tcp ? &tcp_ops : &pipe_ops;
  u->base.loop = loop;
  return &u->base;
}

sk__stream *sk__stream_tcp_new(uv_loop_t *loop) {
  return stream_new(loop, true);
}

sk__stream *sk__stream_pipe_new(uv_loop_t *loop) {
  return stream_new(loop, false);
}

/* Frees a stream whose handle failed to open: it must still be closed. */
static void failed_closed(uv_handle_t *h) {
  free(h->data);
}

sk__stream *sk__stream_fd_new(uv_loop_t *loop, int fd, bool readable) {
  uv_stream_impl *u;
  int err;

  switch (uv_guess_handle(fd)) {
  case UV_TTY:
  case UV_NAMED_PIPE:
  case UV_TCP:
    break;
  default:
    return NULL;
  }
  u = calloc(1, sizeof(*u));
  if (u == NULL)
    return NULL;
  u->base.loop = loop;
  u->h.handle.data = u;
  switch (uv_guess_handle(fd)) {
  case UV_TTY:
    u->base.ops = &tty_ops;
    if (uv_tty_init(loop, &u->h.tty, fd, readable) != 0) {
      free(u);
      return NULL;
    }
    return &u->base;
  case UV_NAMED_PIPE:
    u->base.ops = &pipe_ops;
    if (uv_pipe_init(loop, &u->h.pipe, 0) != 0) {
      free(u);
      return NULL;
    }
    err = uv_pipe_open(&u->h.pipe, fd);
    break;
  default:
    u->base.ops = &tcp_ops;
    u->is_tcp = true;
    if (uv_tcp_init(loop, &u->h.tcp) != 0) {
      free(u);
      return NULL;
    }
    err = uv_tcp_open(&u->h.tcp, fd);
    break;
  }
  if (err == 0)
    return &u->base;
  uv_close(&u->h.handle, failed_closed);
  return NULL;
}

uv_stream_t *sk__stream_uv(sk__stream *s) {
  if (s->ops != &tcp_ops && s->ops != &pipe_ops && s->ops != &tty_ops)
    return NULL;
  return &impl_of(s)->h.stream;
}

void sk__stream_nodelay(sk__stream *s, bool on) {
  if (s->ops == &tcp_ops)
    uv_tcp_nodelay(&impl_of(s)->h.tcp, on);
}
