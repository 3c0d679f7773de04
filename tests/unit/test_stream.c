/* test_stream.c -- the stream seam, without sockets: a fake stream that
 * takes at most `per_try` bytes per try_write and completes writes from
 * the loop, under the write queue and under a whole stream peer.
 *
 * What a user relies on: every byte sent arrives once, in order, however
 * the stream cuts the writes; the queue's count and its drain and empty
 * callbacks follow the bytes; a peer over any stream decodes messages and
 * frames replies the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "peer/conn.h"

/* ------------------------------------------------------ the fake stream */

typedef struct fake {
  sk__stream base;
  size_t per_try; /* bytes try_write takes per call (0: none) */
  char *out;      /* everything written, in order */
  size_t out_len, out_cap;
  sk__write_req *pending[64]; /* writes to complete from the loop */
  uv_buf_t pending_bufs[64][64];
  unsigned pending_n[64];
  unsigned npending;
  uv_idle_t idle; /* completes pending writes, a few bytes at a time */
  bool closed, reading, shut;
  unsigned writes, try_writes;
} fake;

static void out_add(fake *f, const char *p, size_t n) {
  if (f->out_len + n > f->out_cap) {
    f->out_cap = (f->out_len + n) * 2;
    f->out = realloc(f->out, f->out_cap);
    assert_non_null(f->out);
  }
  memcpy(f->out + f->out_len, p, n);
  f->out_len += n;
}

static int f_read_start(sk__stream *s) {
  ((fake *)s)->reading = true;
  return 0;
}

static int f_read_stop(sk__stream *s) {
  ((fake *)s)->reading = false;
  return 0;
}

static int f_try_write(sk__stream *s, const uv_buf_t *bufs, unsigned n) {
  fake *f = (fake *)s;
  size_t left = f->per_try, took = 0;

  f->try_writes++;
  for (unsigned i = 0; i < n && left > 0; i++) {
    size_t k = bufs[i].len < left ? bufs[i].len : left;
    out_add(f, bufs[i].base, k);
    left -= k;
    took += k;
  }
  return (int)took;
}

static void complete_cb(uv_idle_t *idle) {
  fake *f = idle->data;

  if (f->npending == 0) {
    uv_idle_stop(idle);
    return;
  }
  /* One write a turn: the queue sees its callback later, never inside. */
  sk__write_req *req = f->pending[0];
  for (unsigned i = 0; i < f->pending_n[0]; i++)
    out_add(f, f->pending_bufs[0][i].base, f->pending_bufs[0][i].len);
  f->npending--;
  memmove(f->pending, f->pending + 1, f->npending * sizeof(f->pending[0]));
  memmove(f->pending_bufs, f->pending_bufs + 1,
          f->npending * sizeof(f->pending_bufs[0]));
  memmove(f->pending_n, f->pending_n + 1,
          f->npending * sizeof(f->pending_n[0]));
  req->cb(req, 0);
}

static int f_write(sk__stream *s, sk__write_req *req, const uv_buf_t *bufs,
                   unsigned n) {
  fake *f = (fake *)s;

  assert_true(f->npending < 64 && n <= 64);
  f->writes++;
  f->pending[f->npending] = req;
  memcpy(f->pending_bufs[f->npending], bufs, n * sizeof(*bufs));
  f->pending_n[f->npending] = n;
  f->npending++;
  uv_idle_start(&f->idle, complete_cb);
  return 0;
}

static int f_shutdown(sk__stream *s, sk__shutdown_cb cb) {
  (void)cb;
  ((fake *)s)->shut = true;
  return 0;
}

static void f_closed(uv_handle_t *h) {
  fake *f = h->data;

  f->base.ev->on_closed(&f->base);
}

static void f_close(sk__stream *s) {
  fake *f = (fake *)s;

  f->closed = true;
  uv_close((uv_handle_t *)&f->idle, f_closed);
}

static int f_fileno(const sk__stream *s) {
  (void)s;
  return -1;
}

static int f_peername(const sk__stream *s, struct sockaddr_storage *ss) {
  (void)s;
  (void)ss;
  return UV_ENOTSUP;
}

static int f_describe(const sk__stream *s, char *buf, size_t size) {
  (void)s;
  return snprintf(buf, size, "fake");
}

static const char *f_error(const sk__stream *s) {
  (void)s;
  return NULL;
}

static const sk__stream_ops fake_ops = {
    .name = "fake",
    .open = NULL,
    .read_start = f_read_start,
    .read_stop = f_read_stop,
    .try_write = f_try_write,
    .write = f_write,
    .shutdown = f_shutdown,
    .close = f_close,
    .fileno = f_fileno,
    .peername = f_peername,
    .describe = f_describe,
    .error = f_error,
};

static void fake_init(fake *f, uv_loop_t *loop, size_t per_try) {
  memset(f, 0, sizeof(*f));
  f->base.ops = &fake_ops;
  f->base.loop = loop;
  f->per_try = per_try;
  uv_idle_init(loop, &f->idle);
  f->idle.data = f;
}

/* Runs the loop until the fake has nothing pending (bounded). */
static void settle(uv_loop_t *loop, fake *f) {
  for (int i = 0; i < 100000 && f->npending > 0; i++)
    uv_run(loop, UV_RUN_NOWAIT);
  assert_int_equal(f->npending, 0);
}

/* ---------------------------------------------------- the write queue */

typedef struct qstate {
  unsigned drains, empties, errors;
} qstate;

static qstate qs;

static void q_drain(sk__wq *q) {
  (void)q;
  qs.drains++;
}

static void q_empty(sk__wq *q) {
  (void)q;
  qs.empties++;
}

static void q_error(sk__wq *q, int err) {
  (void)q;
  (void)err;
  qs.errors++;
}

static void fill(char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (char)(seed * 131 + i * 7 + (i >> 8));
}

/* The bytes out equal the bytes in, with the shared buffer in its place. */
static void check_order(size_t per_try, size_t piece, size_t total,
                        bool batch) {
  uv_loop_t loop;
  fake f;
  sk__wq q;
  char *data = malloc(total), *want = malloc(total + 13);
  size_t wlen = 0, peak = 0;
  sk_framing raw;

  assert_non_null(data);
  assert_non_null(want);
  sk_framing_parse(&raw, "raw");
  fill(data, total, (unsigned)(per_try * 3 + piece));
  memset(&qs, 0, sizeof(qs));
  uv_loop_init(&loop);
  fake_init(&f, &loop, per_try);
  sk__wq_init(&q, &f.base, 8 * 1024);
  q.on_drain = q_drain;
  q.on_empty = q_empty;
  q.on_error = q_error;
  if (batch)
    sk__batch_begin();
  for (size_t off = 0; off < total; off += piece) {
    size_t n = total - off < piece ? total - off : piece;
    uv_buf_t b = uv_buf_init(data + off, (unsigned)n);
    assert_int_equal(sk__wq_write(&q, &b, 1), 0);
    peak = q.queued > peak ? q.queued : peak;
    memcpy(want + wlen, data + off, n);
    wlen += n;
    if (off == piece * 2) {
      sk_buf *sb = sk_buf_frame(&raw, "SHARED-BUFFER", 13);
      assert_int_equal(sk__wq_write_buf(&q, sb), 0);
      sk_buf_unref(sb);
      memcpy(want + wlen, "SHARED-BUFFER", 13);
      wlen += 13;
    }
    if (!batch && off % (piece * 5) == 0) /* some writes finish meanwhile */
      uv_run(&loop, UV_RUN_NOWAIT);
  }
  if (batch)
    sk__batch_end();
  settle(&loop, &f);
  assert_int_equal(f.out_len, wlen);
  assert_memory_equal(f.out, want, wlen);
  assert_int_equal(q.queued, 0);
  assert_int_equal(qs.errors, 0);
  /* A queue that had to wait for a write says when it is empty again. */
  if (f.writes > 0)
    assert_true(qs.empties >= 1);
  /* A queue that went over its cap says so once it is back to half. */
  if (peak >= 8 * 1024 && qs.drains == 0)
    fail_msg("per_try %zu piece %zu: peak %zu, no drain", per_try, piece, peak);
  if (peak < 8 * 1024 && qs.drains != 0)
    fail_msg("per_try %zu piece %zu: drained below its cap", per_try, piece);
  sk__wq_clear(&q);
  uv_close((uv_handle_t *)&f.idle, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(f.out);
  free(data);
  free(want);
}

static void test_queue_partial_writes(void **state) {
  static const size_t per_try[] = {0, 1, 7, 100, 4096, 1 << 20};
  static const size_t piece[] = {1, 13, 1000, 20000};

  (void)state;
  for (size_t i = 0; i < sizeof(per_try) / sizeof(*per_try); i++)
    for (size_t k = 0; k < sizeof(piece) / sizeof(*piece); k++)
      check_order(per_try[i], piece[k], 100000, false);
}

/* Everything written during one batch (one read's replies) leaves as one
 * stream of bytes, in order, however the stream cuts it. */
static void test_queue_batched(void **state) {
  (void)state;
  check_order(5, 100, 50000, true);
  check_order(0, 3000, 200000, true);
  check_order(1 << 20, 7, 30000, true);
}

/* A batch holds the writes of one read: one try_write for all of them. */
static void test_batch_one_write(void **state) {
  uv_loop_t loop;
  fake f;
  sk__wq q;

  (void)state;
  uv_loop_init(&loop);
  fake_init(&f, &loop, 1 << 20);
  sk__wq_init(&q, &f.base, 1 << 20);
  sk__batch_begin();
  for (int i = 0; i < 100; i++) {
    uv_buf_t b = uv_buf_init("reply\n", 6);
    assert_int_equal(sk__wq_write(&q, &b, 1), 0);
  }
  assert_int_equal(f.try_writes, 0);
  sk__batch_end();
  assert_int_equal(f.try_writes, 1);
  assert_int_equal(f.writes, 0);
  assert_int_equal(f.out_len, 600);
  assert_int_equal(q.queued, 0);
  sk__wq_clear(&q);
  uv_close((uv_handle_t *)&f.idle, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(f.out);
}

/* ------------------------------------------------- a peer over the fake */

typedef struct seen {
  unsigned opens, closes;
  int reason;
  char msgs[16][64];
  unsigned nmsgs;
} seen;

static void h_open(sk_peer *p, void *ctx) {
  (void)p;
  ((seen *)ctx)->opens++;
}

static void h_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  seen *s = ctx;
  char reply[80];

  assert_true(s->nmsgs < 16 && len < 64);
  memcpy(s->msgs[s->nmsgs], msg, len);
  s->msgs[s->nmsgs++][len] = '\0';
  snprintf(reply, sizeof(reply), "got %.*s", (int)len, msg);
  assert_int_equal(sk_peer_send(p, reply, strlen(reply)), 0);
}

static void h_close(sk_peer *p, int reason, void *ctx) {
  (void)p;
  ((seen *)ctx)->closes++;
  ((seen *)ctx)->reason = reason;
}

static void test_peer_over_fake(void **state) {
  static const sk_handler h = {
      .on_open = h_open, .on_message = h_message, .on_close = h_close};
  static const char want[] = "\x00\x00\x00\x07got one"
                             "\x00\x00\x00\x07got two";
  uv_loop_t loop;
  fake *f = calloc(1, sizeof(*f));
  sk_framing fr;
  seen s;
  sk__conn *c;

  (void)state;
  assert_non_null(f);
  memset(&s, 0, sizeof(s));
  uv_loop_init(&loop);
  fake_init(f, &loop, 3); /* replies leave three bytes at a time */
  sk_framing_parse(&fr, "len");
  c = sk__conn_new(&f->base, SK_TCP, &fr, 1 << 20, &h, &s);
  assert_non_null(c);
  sk__conn_open(c, NULL, NULL, 0, true);
  assert_int_equal(s.opens, 1);
  assert_true(f->reading);
  /* Two frames, cut in the middle of the second header. */
  f->base.ev->on_read(&f->base, 9, "\x00\x00\x00\x03one\x00\x00");
  f->base.ev->on_read(&f->base, 5, "\x00\x03two");
  assert_int_equal(s.nmsgs, 2);
  assert_string_equal(s.msgs[0], "one");
  assert_string_equal(s.msgs[1], "two");
  settle(&loop, f);
  assert_int_equal(f->out_len, sizeof(want) - 1);
  assert_memory_equal(f->out, want, sizeof(want) - 1);
  /* The other side ends: the peer ends too (no on_eof handler). */
  f->base.ev->on_read(&f->base, UV_EOF, NULL);
  assert_true(f->shut);
  sk_peer_close(sk__conn_peer(c), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(s.closes, 1);
  assert_int_equal(s.reason, 0);
  uv_loop_close(&loop);
  free(f->out);
  /* The fake's memory is the conn's stream: the conn does not free it. */
  free(f);
}

/* ------------------------------------ the slow-consumer rule (offer) */

/* A server on port 0 for its clocks, and a peer over the fake linked to
 * it as if accepted: soft cap 1 KiB, hard cap 8 KiB, slow timeout 100 ms. */
static char closed_why[128]; /* sk_peer_error at on_close */

static void o_close(sk_peer *p, int reason, void *ctx) {
  snprintf(closed_why, sizeof(closed_why), "%s", sk_peer_error(p));
  h_close(p, reason, ctx);
}

typedef struct offer_run {
  uv_loop_t loop;
  sk_server *server;
  fake *f;
  sk__conn *c;
  seen s;
} offer_run;

static void offer_start(offer_run *r, size_t per_try) {
  static const sk_handler h = {.on_open = h_open, .on_close = o_close};
  sk_server_opts o;
  sk_framing raw;
  sk_addr a;

  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  sk_server_opts_init(&o);
  o.max_queue = 1024;
  o.max_queue_hard = 8192;
  o.slow_timeout_ms = 100;
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:0"), 0);
  assert_int_equal(sk_server_start(&r->loop, &a, &o, &h, &r->s, &r->server), 0);
  r->f = calloc(1, sizeof(*r->f));
  assert_non_null(r->f);
  fake_init(r->f, &r->loop, per_try);
  sk_framing_parse(&raw, "raw");
  r->c = sk__conn_new(&r->f->base, SK_TCP, &raw, 1024, &h, &r->s);
  assert_non_null(r->c);
  sk__server_link(r->server, sk__conn_peer(r->c));
  sk__conn_open(r->c, NULL, NULL, 0, true);
  assert_int_equal(r->s.opens, 1);
}

/* Offers n bytes in one shared buffer. */
static int offer(offer_run *r, size_t n) {
  sk_buf *b = sk__buf_new(n);
  int err;

  assert_non_null(b);
  memset(b->data, 'o', n);
  b->len = n;
  err = sk_peer_offer(sk__conn_peer(r->c), b);
  sk_buf_unref(b);
  return err;
}

/* Runs the loop for about ms (bounded: the fake completes writes from an
 * idle handle, so the loop never blocks while it has some pending). */
static void run_for(offer_run *r, uint64_t ms) {
  uint64_t until = uv_now(&r->loop) + ms;

  while (uv_now(&r->loop) < until && r->s.closes == 0) {
    uv_run(&r->loop, UV_RUN_NOWAIT);
    uv_sleep(1);
    uv_update_time(&r->loop);
  }
}

static void offer_finish(offer_run *r) {
  if (r->s.closes == 0)
    sk_peer_close(sk__conn_peer(r->c), 0);
  sk_server_stop(r->server, 0, NULL, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->s.closes, 1);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  free(r->f->out);
  free(r->f);
}

/* A burst under the hard cap, four times the soft cap, is kept; when it
 * drains back to the soft cap the clock stops, so a reader that keeps up
 * is never dropped however long the room goes on. */
static void test_offer_burst_kept_and_drained(void **state) {
  offer_run r;

  (void)state;
  offer_start(&r, 0); /* the kernel takes nothing at once */
  for (int round = 0; round < 5; round++) {
    assert_int_equal(offer(&r, 4000), 0);
    assert_int_equal(offer(&r, 3000), 0); /* 7000 queued: under 8192 */
    assert_true(sk__list_linked(&sk__conn_peer(r.c)->slow.link));
    settle(&r.loop, r.f); /* the writes complete: drained */
    assert_false(sk__list_linked(&sk__conn_peer(r.c)->slow.link));
    run_for(&r, 40); /* 5 x 40 ms: longer than the timeout in all */
  }
  assert_int_equal(r.s.closes, 0);
  assert_int_equal(r.f->out_len, 5 * 7000);
  offer_finish(&r);
}

/* An offer that would pass the hard cap drops the peer before it is
 * queued, saying which limit. */
static void test_offer_over_hard_cap_dropped(void **state) {
  offer_run r;
  sk_peer *p;

  (void)state;
  offer_start(&r, 0);
  p = sk__conn_peer(r.c);
  assert_int_equal(offer(&r, 8000), 0);
  assert_int_equal(offer(&r, 193), SK_ETOOSLOW);
  assert_int_equal(p->state, SK__PEER_CLOSING);
  assert_string_equal(sk_peer_error(p),
                      "too slow: queue would pass its hard cap of 8 KiB");
  assert_int_equal(r.server->stats.slow, 1);
  offer_finish(&r);
  assert_int_equal(r.s.reason, SK_ETOOSLOW);
}

/* A queue left above the soft cap is dropped by the timer after the slow
 * timeout, with nothing more offered; not before. */
static void test_offer_timer_drops(void **state) {
  offer_run r;
  uint64_t t0;

  (void)state;
  offer_start(&r, 0);
  assert_int_equal(offer(&r, 2000), 0);
  uv_idle_stop(&r.f->idle); /* the "reader" stalls */
  t0 = uv_now(&r.loop);
  while (r.s.closes == 0 && uv_now(&r.loop) - t0 < 2000) {
    uv_run(&r.loop, UV_RUN_ONCE); /* blocks until the timer */
    uv_update_time(&r.loop);
  }
  assert_int_equal(r.s.closes, 1);
  assert_true(uv_now(&r.loop) - t0 >= 100);
  assert_int_equal(r.s.reason, SK_ETOOSLOW);
  assert_string_equal(closed_why, "too slow: queue above 1 KiB for 0.1 s");
  assert_int_equal(r.server->stats.slow, 1);
  offer_finish(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue_partial_writes),
      cmocka_unit_test(test_queue_batched),
      cmocka_unit_test(test_batch_one_write),
      cmocka_unit_test(test_peer_over_fake),
      cmocka_unit_test(test_offer_burst_kept_and_drained),
      cmocka_unit_test(test_offer_over_hard_cap_dropped),
      cmocka_unit_test(test_offer_timer_drops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
