/* stream.h -- the byte-stream seam under every stream peer.
 *
 * A stream moves bytes in both directions and knows nothing of messages.
 * Each kind (a libuv TCP or pipe handle, TLS over another stream) fills in
 * one table of operations, as Redis's ConnectionType and nng's transports
 * do; the write queue, the peers and the services above only ever call
 * through the table.  Streams stack: a TLS stream owns the stream below
 * it and is that stream's owner, so it sees the lower stream's events.
 *
 * Conventions (libuv's):
 * - An operation that returns an error calls no callback.
 * - Callbacks never run from inside the operation that caused them.
 * - Memory: a stream is allocated by its constructor and freed by the
 *   stream itself right after its owner's on_closed returned.  The owner
 *   must not touch it after that.
 */
#ifndef SOCKIT_STREAM_H
#define SOCKIT_STREAM_H

#include "sockit.h"

#include <stdbool.h>
#include <sys/types.h>

typedef struct sk__stream sk__stream;
typedef struct sk__write_req sk__write_req;

typedef void (*sk__write_cb)(sk__write_req *req, int status);
typedef void (*sk__shutdown_cb)(sk__stream *s, int status);
typedef void (*sk__open_cb)(sk__stream *s, int status);

/* A one-shot write request, owned by the caller until its callback ran.
 * The stream uses the private part; the caller sets nothing but passes
 * cb and data through sk__stream_write. */
struct sk__write_req {
  sk__write_cb cb;
  void *data; /* the caller's */
  /* Private to the stream that took the request. */
  uv_write_t uv;              /* libuv streams */
  struct sk__write_req *next; /* layered streams: waiting their turn */
  uint64_t end;               /* layered streams: bytes that finish it */
};

/* What a stream tells its owner. */
typedef struct sk__stream_events {
  /* nread > 0 bytes at buf[0..nread), valid only during the call; or
   * UV_EOF when the other side finished sending, or another negative
   * error.  Called only between read_start and read_stop. */
  void (*on_read)(sk__stream *s, ssize_t nread, const char *buf);
  /* The stream closed (after close); it is freed when this returns. */
  void (*on_closed)(sk__stream *s);
} sk__stream_events;

typedef struct sk__stream_ops {
  const char *name; /* "tcp", "unix", "tls" */
  /* Makes the stream usable: for TLS, runs the handshake and calls cb
   * with 0 once it is done, or with an error (SK_ETLS and a reason in
   * error()).  NULL when a stream is usable as soon as it exists. */
  int (*open)(sk__stream *s, sk__open_cb cb);
  /* Starts / stops delivering reads through on_read. */
  int (*read_start)(sk__stream *s);
  int (*read_stop)(sk__stream *s);
  /* Writes what can go at once, without blocking and without a callback.
   * Returns the bytes taken (0 when none), or a hard error.  A layered
   * stream may take bytes it then has to finish writing below on its own;
   * it keeps that bounded by what one call passes, and takes nothing
   * while such bytes remain. */
  int (*try_write)(sk__stream *s, const uv_buf_t *bufs, unsigned n);
  /* Writes bufs (the bytes must stay valid until req->cb) and calls
   * req->cb once they are all written or failed.  Writes complete in the
   * order they were made. */
  int (*write)(sk__stream *s, sk__write_req *req, const uv_buf_t *bufs,
               unsigned n);
  /* Ends our direction once every earlier write is done (TLS sends its
   * close_notify first); cb follows. */
  int (*shutdown)(sk__stream *s, sk__shutdown_cb cb);
  /* Closes at once: pending writes fail with UV_ECANCELED, then
   * on_closed.  Idempotent. */
  void (*close)(sk__stream *s);
  /* The socket's descriptor for zero-copy (sendfile, splice), or -1 when
   * the bytes must pass through the stream (TLS). */
  int (*fileno)(const sk__stream *s);
  /* The remote address, for naming peers; UV_ENOTSUP when none. */
  int (*peername)(const sk__stream *s, struct sockaddr_storage *ss);
  /* A line describing the session for logs (TLS: protocol, cipher, the
   * peer certificate's subject, issuer, dates and fingerprint, escaped),
   * or "" when there is nothing to say.  Returns the length. */
  int (*describe)(const sk__stream *s, char *buf, size_t size);
  /* Why the stream failed, in words a user can act on ("certificate
   * verify failed: unknown CA; try --ca FILE"), or NULL for nothing more
   * than the error code says.  Valid until the stream is freed. */
  const char *(*error)(const sk__stream *s);
} sk__stream_ops;

/* Every stream starts with this. */
struct sk__stream {
  const sk__stream_ops *ops;
  const sk__stream_events *ev;
  void *owner; /* for the owner's callbacks */
  uv_loop_t *loop;
};

/* Calls through the table. */
static inline int sk__stream_read_start(sk__stream *s) {
  return s->ops->read_start(s);
}
static inline int sk__stream_read_stop(sk__stream *s) {
  return s->ops->read_stop(s);
}
static inline int sk__stream_try_write(sk__stream *s, const uv_buf_t *bufs,
                                       unsigned n) {
  return s->ops->try_write(s, bufs, n);
}
static inline int sk__stream_write(sk__stream *s, sk__write_req *req,
                                   const uv_buf_t *bufs, unsigned n) {
  return s->ops->write(s, req, bufs, n);
}
static inline int sk__stream_shutdown(sk__stream *s, sk__shutdown_cb cb) {
  return s->ops->shutdown(s, cb);
}
static inline void sk__stream_close(sk__stream *s) {
  s->ops->close(s);
}
static inline int sk__stream_fileno(const sk__stream *s) {
  return s->ops->fileno(s);
}

/* ------------------------------------------------------ libuv streams */

/* A TCP stream, Unix stream or terminal/pipe on the loop, not yet
 * connected (its handle is initialised).  NULL when memory runs out. */
sk__stream *sk__stream_tcp_new(uv_loop_t *loop);
sk__stream *sk__stream_pipe_new(uv_loop_t *loop);

/* A stream over descriptor fd when it is a terminal, pipe or socket
 * (stdin, stdout); NULL for a regular file or when it cannot be opened.
 * Closing the stream closes fd. */
sk__stream *sk__stream_fd_new(uv_loop_t *loop, int fd, bool readable);

/* The libuv handle of a stream made above (for accept, connect, bind,
 * open); NULL for any other kind. */
uv_stream_t *sk__stream_uv(sk__stream *s);

/* TCP_NODELAY on a TCP stream; nothing on others. */
void sk__stream_nodelay(sk__stream *s, bool on);

/* -------------------------------------------------------- TLS streams */

/* TLS over lower, as a server or client according to tls.  The TLS
 * stream owns lower from now on (it sets lower's events and owner) and
 * closes it with itself.  servername (client only, may be NULL): sent as
 * SNI and checked against the server certificate's DNS or IP
 * subjectAltNames, unless the context pins a fingerprint or is
 * insecure.  NULL when memory runs out (lower is then left as it was). */
sk__stream *sk__stream_tls_new(sk__stream *lower, sk_tls *tls,
                               const char *servername);

#endif
