/* queue.c -- the bounded write queue of one stream.
 *
 * Bytes wait in chunks (slices of sk_buf).  Chunks from head up to
 * `unsent` are in one stream write in flight; the rest wait for it to
 * finish, then go out together in the next write (up to WQ_IOV of them),
 * so a slow consumer gets few, large writes.  The queue writes to an
 * sk__stream, never to a libuv handle: TCP, Unix and TLS alike.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define WQ_CHUNK 16384 /* a private chunk's size: small writes pack here */
#define WQ_IOV 64      /* chunks per uv_write */
#define SHARE_MIN 1024 /* shared buffers this small are copied instead */

static void write_cb(sk__write_req *req, int status);
static void batch_hold(sk__wq *q);

/* A batch spans one read callback: every queue written to meanwhile is
 * corked and listed, and at the end each goes to the kernel in one write.
 * A chat line to 99 members read with 600 others costs 99 writes, not
 * 60,000. */
static _Thread_local struct {
  unsigned depth;
  sk__wq *dirty;
  struct {
    void (*fn)(void *);
    void *arg;
  } defer[8]; /* run at the end of the batch, before the writes */
  unsigned ndefer;
} batch;

/* What a corked, empty queue gathers during one read callback: replies
 * wait here, then go to the kernel in one uv_try_write, so the common
 * request/response round costs one write and no allocation.  Only the
 * stream being read is corked, so one buffer per thread is enough. */
static _Thread_local struct {
  sk__wq *owner;
  size_t len;
  char data[SK__READ_BUF];
} gather;

void sk__wq_init(sk__wq *q, sk__stream *stream, size_t cap) {
  memset(q, 0, sizeof(*q));
  q->stream = stream;
  q->cap = cap;
}

bool sk__wq_full(const sk__wq *q) {
  return q->queued >= q->cap;
}

static void chunk_free(sk__chunk *c) {
  sk_buf_unref(c->buf);
  free(c);
}

static void push(sk__wq *q, sk__chunk *c) {
  c->next = NULL;
  if (q->tail != NULL)
    q->tail->next = c;
  else
    q->head = c;
  q->tail = c;
  if (q->unsent == NULL)
    q->unsent = c;
  q->queued += c->len;
  if (q->queued >= q->cap)
    q->was_full = true;
}

static void start_write(sk__wq *q) {
  uv_buf_t iov[WQ_IOV];
  unsigned n = 0;
  sk__chunk *c;
  int err;

  if (q->in_flight || q->unsent == NULL || q->corked)
    return;
  for (c = q->unsent; c != NULL && n < WQ_IOV; c = c->next, n++)
    iov[n] = uv_buf_init(c->buf->data + c->off, (unsigned)c->len);
  if (q->req == NULL && (q->req = malloc(sizeof(*q->req))) == NULL) {
    if (q->on_error != NULL)
      q->on_error(q, UV_ENOMEM);
    return;
  }
  q->req->data = q;
  q->req->cb = write_cb;
  err = sk__stream_write(q->stream, q->req, iov, n);
  if (err) {
    if (q->on_error != NULL)
      q->on_error(q, err);
    return;
  }
  q->unsent = c;
  q->in_flight = true;
}

/* Frees the chunks of the write that just finished: those before unsent. */
static void release_written(sk__wq *q) {
  while (q->head != NULL && q->head != q->unsent) {
    sk__chunk *c = q->head;
    q->head = c->next;
    q->queued -= c->len;
    chunk_free(c);
  }
  if (q->head == NULL)
    q->tail = NULL;
}

/* Tells the owner the queue went down: drained, or empty. */
static void notify_lower(sk__wq *q) {
  if (q->on_lower != NULL)
    q->on_lower(q);
  if (q->was_full && q->queued <= q->cap / 2) {
    q->was_full = false;
    if (q->on_drain != NULL)
      q->on_drain(q);
  }
  if (q->queued == 0 && q->on_empty != NULL)
    q->on_empty(q);
}

static void write_cb(sk__write_req *req, int status) {
  sk__wq *q = req->data;

  q->in_flight = false;
  release_written(q);
  if (q->unsent == NULL) { /* nothing more to write: give the request up */
    free(q->req);
    q->req = NULL;
  }
  if (status < 0) {
    if (status != UV_ECANCELED && q->on_error != NULL)
      q->on_error(q, status);
    return;
  }
  start_write(q);
  notify_lower(q);
}

/* Offers bufs to the kernel while nothing else is queued.  Returns the
 * bytes written (possibly 0) or a hard error. */
static int try_direct(sk__wq *q, const uv_buf_t *bufs, unsigned n) {
  int r;

  if (q->head != NULL || q->corked)
    return 0;
  r = sk__stream_try_write(q->stream, bufs, n);
  return r;
}

/* Room left in the tail chunk for appending, 0 when it cannot take any. */
static size_t tail_room(const sk__wq *q) {
  const sk__chunk *t = q->tail;

  if (t == NULL || q->unsent == NULL || t->buf->refs != 1 ||
      t->off + t->len != t->buf->len)
    return 0;
  return t->buf->cap - t->buf->len;
}

static int copy_in(sk__wq *q, const char *p, size_t n) {
  while (n > 0) {
    size_t room = tail_room(q), k;
    if (room == 0) {
      size_t cap = n > WQ_CHUNK ? n : WQ_CHUNK;
      sk__chunk *c = malloc(sizeof(*c));
      sk_buf *b = sk__buf_new(cap);
      if (c == NULL || b == NULL) {
        free(c);
        free(b);
        return UV_ENOMEM;
      }
      c->buf = b;
      c->off = 0;
      c->len = 0;
      push(q, c);
      room = cap;
    }
    k = n < room ? n : room;
    memcpy(q->tail->buf->data + q->tail->buf->len, p, k);
    q->tail->buf->len += k;
    q->tail->len += k;
    q->queued += k;
    if (q->queued >= q->cap)
      q->was_full = true;
    p += k;
    n -= k;
  }
  return 0;
}

/* Forgets what q gathered (it fails or closes), and counts it gone. */
static void drop_gathered(sk__wq *q) {
  if (gather.owner != q)
    return;
  q->queued -= gather.len;
  gather.owner = NULL;
  gather.len = 0;
}

/* Moves gathered bytes into the queue proper, keeping their order. */
static int spill_gathered(sk__wq *q) {
  size_t n = gather.len;

  if (gather.owner != q)
    return 0;
  gather.owner = NULL;
  gather.len = 0;
  q->queued -= n;
  return copy_in(q, gather.data, n);
}

/* Gathers bufs while q is corked and holds nothing else.  Returns false
 * when they do not fit (the caller queues them the ordinary way). */
static bool gather_corked(sk__wq *q, const uv_buf_t *bufs, unsigned n) {
  size_t total = 0;

  if (!q->corked || q->head != NULL ||
      (gather.owner != NULL && gather.owner != q))
    return false;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if (gather.len + total > sizeof(gather.data))
    return false;
  for (unsigned i = 0; i < n; i++) {
    memcpy(gather.data + gather.len, bufs[i].base, bufs[i].len);
    gather.len += bufs[i].len;
  }
  gather.owner = q;
  q->queued += total;
  if (q->queued >= q->cap)
    q->was_full = true;
  return true;
}

int sk__wq_write(sk__wq *q, const uv_buf_t *bufs, unsigned n) {
  int done, err;
  size_t skip;

  if (q->dead)
    return UV_EPIPE;
  batch_hold(q);
  if (gather_corked(q, bufs, n))
    return 0;
  if ((err = spill_gathered(q)) != 0)
    return err;
  done = try_direct(q, bufs, n);
  if (done < 0)
    return done;
  skip = (size_t)done;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    err = copy_in(q, bufs[i].base + skip, len - skip);
    if (err)
      return err;
    skip = 0;
  }
  start_write(q);
  return 0;
}

int sk__wq_write_buf(sk__wq *q, sk_buf *b) {
  uv_buf_t one = uv_buf_init(b->data, (unsigned)b->len);
  int done, err;
  sk__chunk *c;

  if (q->dead)
    return UV_EPIPE;
  /* A small message is cheaper copied next to others than referenced by
   * a chunk of its own. */
  if (b->len <= SHARE_MIN)
    return sk__wq_write(q, &one, 1);
  batch_hold(q);
  if ((err = spill_gathered(q)) != 0)
    return err;
  done = try_direct(q, &one, 1);
  if (done < 0)
    return done;
  if ((size_t)done == b->len)
    return 0;
  c = malloc(sizeof(*c));
  if (c == NULL)
    return UV_ENOMEM;
  c->buf = sk_buf_ref(b);
  c->off = (size_t)done;
  c->len = b->len - (size_t)done;
  push(q, c);
  start_write(q);
  return 0;
}

/* Offers the gathered bytes, then the unsent chunks, to the kernel at
 * once (no uv_write, so no callback and no epoll change when it takes
 * them all), and frees what it took.  Only while nothing is in flight. */
static int try_flush(sk__wq *q) {
  uv_buf_t iov[WQ_IOV];
  unsigned n = 0;
  int r;

  if (gather.owner == q) {
    iov[0] = uv_buf_init(gather.data, (unsigned)gather.len);
    r = q->head == NULL ? sk__stream_try_write(q->stream, iov, 1) : 0;
    if (r < 0)
      return r;
    if (r > 0) {
      q->queued -= (size_t)r;
      memmove(gather.data, gather.data + r, gather.len - (size_t)r);
      gather.len -= (size_t)r;
    }
    if ((r = spill_gathered(q)) != 0)
      return r;
  }
  if (q->in_flight || q->head == NULL)
    return 0;
  for (sk__chunk *c = q->head; c != NULL && n < WQ_IOV; c = c->next)
    iov[n++] = uv_buf_init(c->buf->data + c->off, (unsigned)c->len);
  r = sk__stream_try_write(q->stream, iov, n);
  if (r < 0)
    return r;
  for (size_t left = (size_t)r; left > 0;) {
    sk__chunk *c = q->head;
    size_t k = left < c->len ? left : c->len;
    c->off += k;
    c->len -= k;
    q->queued -= k;
    left -= k;
    if (c->len == 0) {
      q->head = c->next;
      if (q->unsent == c)
        q->unsent = c->next;
      chunk_free(c);
    }
  }
  if (q->head == NULL)
    q->tail = NULL;
  return 0;
}

void sk__wq_uncork(sk__wq *q) {
  size_t before = q->queued;
  int err;

  q->corked = false;
  err = try_flush(q);
  if (err) {
    drop_gathered(q);
    if (q->on_error != NULL)
      q->on_error(q, err);
    return;
  }
  start_write(q);
  if (q->queued < before)
    notify_lower(q);
}

static void batch_hold(sk__wq *q) {
  if (batch.depth == 0 || q->corked)
    return;
  q->corked = true;
  q->batch_next = batch.dirty;
  batch.dirty = q;
}

void sk__batch_begin(void) {
  batch.depth++;
}

void sk__batch_defer(void (*fn)(void *), void *arg) {
  for (unsigned i = 0; i < batch.ndefer; i++)
    if (batch.defer[i].fn == fn && batch.defer[i].arg == arg)
      return;
  if (batch.depth == 0 || batch.ndefer == 8) {
    fn(arg); /* no batch to wait for, or no room: now is fine too */
    return;
  }
  batch.defer[batch.ndefer].fn = fn;
  batch.defer[batch.ndefer].arg = arg;
  batch.ndefer++;
}

void sk__batch_end(void) {
  /* Deferred work runs while the batch still holds its writes. */
  while (batch.depth == 1 && batch.ndefer > 0) {
    batch.ndefer--;
    batch.defer[batch.ndefer].fn(batch.defer[batch.ndefer].arg);
  }
  if (--batch.depth > 0)
    return;
  while (batch.dirty != NULL) {
    sk__wq *q = batch.dirty;
    batch.dirty = q->batch_next;
    q->batch_next = NULL;
    if (q->dead) {
      q->corked = false; /* its close callback clears it */
      drop_gathered(q);
      continue;
    }
    sk__wq_uncork(q);
  }
}

void sk__wq_clear(sk__wq *q) {
  q->dead = true;
  drop_gathered(q);
  while (q->head != NULL) {
    sk__chunk *c = q->head;
    q->head = c->next;
    chunk_free(c);
  }
  q->tail = NULL;
  q->unsent = NULL;
  q->queued = 0;
  free(q->req); /* called once no write is in flight */
  q->req = NULL;
}
