/* sendfile.c -- sk_peer_sendfile: a file (or pipe) to a stream peer.
 *
 * Two ways, chosen by the stream:
 * - zero-copy, when the stream offers its socket (plain TCP or Unix):
 *   sendfile(2) in the thread pool, on a duplicate of the socket so that
 *   a close on the loop's side cannot hand its number to another file.
 *   The thread waits for room with poll(2) and checks `cancel` between
 *   waits.  The write queue stays empty meanwhile: the file is its only
 *   writer.
 * - through the stream, when it has no socket to give (TLS): the file is
 *   read on the thread pool (uv_fs_read) into a buffer and queued like any
 *   message; the next read waits until the queue is at most half full, so
 *   memory stays bounded by max_queue.
 * Either way it starts only once what was queued before has gone out, the
 * peer counts as active while it runs (no idle timeout), and its end is
 * reported from the loop (a deferral), never inside the call that caused
 * it.  A socket that fails closes the peer with the reason, and the
 * transfer ends with UV_EPIPE, as it does when the peer closes first.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define SENDFILE_CHUNK (4 << 20)
#define READ_CHUNK (256 * 1024)

struct sk__sendfile {
  sk__defer later; /* first: reports the end from the loop */
  sk__conn *conn;
  int fd;
  int64_t offset; /* -1: the descriptor's own position */
  uint64_t left;
  uint64_t sent;
  sk_sendfile_cb cb;
  void *arg;
  int status; /* how it ended, once ending */
  bool started;
  bool busy;   /* a thread-pool request is in flight */
  bool ending; /* the end is armed on `later` */
  /* zero-copy */
  uv_work_t work;
  int sock;
  atomic_int cancel;
  int err;
  /* through the stream */
  uv_fs_t fs;
  char *buf;
};

/* Whether an error of sendfile(2) or a queued write is the socket's (the
 * peer's), not the file's: sendfile reports both sides alike. */
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

static void job_free(uv_handle_t *h) {
  free(h); /* `later` is the job's first member */
}

/* Runs from the loop: tells the owner, lets the conn go on or go. */
static void report(sk__defer *d) {
  sk__sendfile *j = (sk__sendfile *)d;
  sk__conn *c = j->conn;

  if (j->sock >= 0)
    close(j->sock);
  free(j->buf);
  j->buf = NULL;
  c->job = NULL;
  c->base.transferring = false;
  if (j->cb != NULL)
    j->cb(&c->base, j->status, j->sent, j->arg);
  sk__defer_close(&j->later, job_free);
  if (c->closed) {
    sk__conn_maybe_free(c);
  } else if (c->base.state == SK__PEER_ENDING && c->wq.queued == 0) {
    c->base.state = SK__PEER_OPEN; /* sk_peer_end was waiting for us */
    sk_peer_end(&c->base);
  }
}

/* Ends the transfer with status: reported from the loop, once. */
static void end(sk__sendfile *j, int status) {
  if (j->ending)
    return;
  j->ending = true;
  j->status = status;
  sk__defer_arm(&j->later);
}

/* A socket error: the peer closes with it (which ends the transfer with
 * UV_EPIPE, see sk__sendfile_cancel); any other error is the file's. */
static void failed(sk__sendfile *j, int err) {
  if (socket_error(err) && j->conn->base.state != SK__PEER_CLOSING)
    sk_peer_close(&j->conn->base, err);
  else
    end(j, err);
}

/* ------------------------------------------------------------ zero-copy */

static void send_work(uv_work_t *req) {
  sk__sendfile *j = SK__CONTAINER_OF(req, sk__sendfile, work);
  off_t off = (off_t)j->offset;

  while (!atomic_load(&j->cancel) && j->left > 0) {
    size_t want = j->left < SENDFILE_CHUNK ? (size_t)j->left : SENDFILE_CHUNK;
    ssize_t n = sendfile(j->sock, j->fd, j->offset >= 0 ? &off : NULL, want);
    if (n > 0) {
      j->sent += (uint64_t)n;
      j->left -= (uint64_t)n;
      continue;
    }
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

static void send_done(uv_work_t *req, int status) {
  sk__sendfile *j = SK__CONTAINER_OF(req, sk__sendfile, work);

  j->busy = false;
  j->conn->base.bytes_out += j->sent; /* the kernel took them all */
  if (atomic_load(&j->cancel))
    end(j, UV_EPIPE);
  else if (j->err < 0)
    failed(j, j->err);
  else
    end(j, status < 0 ? status : 0);
}

/* ---------------------------------------------------- through the stream */

static void read_next(sk__sendfile *j);

static void read_cb(uv_fs_t *req) {
  sk__sendfile *j = req->data;
  sk__conn *c = j->conn;
  ssize_t n = req->result;
  uv_buf_t b;
  int err;

  uv_fs_req_cleanup(req);
  j->busy = false;
  if (atomic_load(&j->cancel)) { /* the peer closed meanwhile */
    end(j, UV_EPIPE);
    return;
  }
  if (n <= 0) {
    end(j, (int)n); /* 0 at the end of the file, or the file's error */
    return;
  }
  if (j->offset >= 0)
    j->offset += n;
  j->left -= (uint64_t)n;
  j->sent += (uint64_t)n;
  c->base.bytes_out += (uint64_t)n;
  b = uv_buf_init(j->buf, (unsigned)n);
  err = sk__wq_write(&c->wq, &b, 1);
  if (err) {
    failed(j, err);
    return;
  }
  sk__peer_touch(&c->base);
  read_next(j);
}

/* Reads the next piece once the queue has room for it. */
static void read_next(sk__sendfile *j) {
  sk__conn *c = j->conn;
  size_t want = j->left < READ_CHUNK ? (size_t)j->left : READ_CHUNK;
  uv_buf_t b;
  int err;

  if (j->busy || j->ending)
    return;
  if (j->left == 0) {
    end(j, 0);
    return;
  }
  if (c->wq.queued > c->base.max_queue / 2)
    return; /* sk__sendfile_room resumes it */
  b = uv_buf_init(j->buf, (unsigned)want);
  j->fs.data = j;
  err = uv_fs_read(c->stream->loop, &j->fs, j->fd, &b, 1, j->offset, read_cb);
  if (err) {
    end(j, err);
    return;
  }
  j->busy = true;
}

/* ------------------------------------------------------------- control */

static void start(sk__sendfile *j) {
  sk__conn *c = j->conn;
  int fd = sk__conn_fileno(c);

  j->started = true;
  if (fd >= 0) {
    j->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (j->sock >= 0 &&
        uv_queue_work(c->stream->loop, &j->work, send_work, send_done) == 0) {
      j->busy = true;
      return;
    }
    if (j->sock >= 0)
      close(j->sock);
    j->sock = -1;
  }
  j->buf = malloc(READ_CHUNK);
  if (j->buf == NULL) {
    end(j, UV_ENOMEM);
    return;
  }
  read_next(j);
}

void sk__sendfile_room(sk__conn *c) {
  sk__sendfile *j = c->job;

  if (j->ending)
    return;
  if (!j->started) {
    if (c->wq.queued == 0)
      start(j);
  } else if (j->buf != NULL) {
    read_next(j);
  }
}

void sk__sendfile_cancel(sk__conn *c) {
  sk__sendfile *j = c->job;

  atomic_store(&j->cancel, 1);
  if (j->sock >= 0)
    shutdown(j->sock, SHUT_RDWR); /* wakes a thread blocked on it */
  if (j->busy && j->buf != NULL)
    uv_cancel((uv_req_t *)&j->fs); /* read_cb then sees the cancel */
  if (!j->busy)
    end(j, UV_EPIPE); /* else the request's callback ends it */
}

int sk__conn_sendfile(sk_peer *p, int fd, int64_t offset, uint64_t len,
                      sk_sendfile_cb cb, void *arg) {
  sk__conn *c = sk__conn_of(p);
  sk__sendfile *j;

  if (c->job != NULL)
    return UV_EBUSY;
  j = calloc(1, sizeof(*j));
  if (j == NULL)
    return UV_ENOMEM;
  sk__defer_init(c->stream->loop, &j->later, report);
  j->conn = c;
  j->fd = fd;
  j->offset = offset;
  j->left = len;
  j->cb = cb;
  j->arg = arg;
  j->sock = -1;
  c->job = j;
  p->transferring = true;
  if (c->wq.queued == 0)
    start(j);
  return 0;
}
