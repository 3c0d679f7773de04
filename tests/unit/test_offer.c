/* test_offer.c -- sk_peer_offer from a client's side, over real sockets on
 * loopback: a client's peer has no server, so the slow-consumer rule
 * keeps only its hard cap (no clock, no pacing), and what an offer queued
 * is counted in sk_peer_stats like any send; what a peer refused is not.
 */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sockit.h"

#define CHUNK (64 * 1024)

typedef struct run {
  uv_loop_t loop;
  uv_timer_t guard;
  sk_server *server;
  sk_buf *chunk;
  uint64_t offered; /* bytes of offers that returned 0 */
  int last_err;     /* the first offer that did not return 0 */
  int reason;       /* the client's close reason */
  bool closed;
} run;

/* The server never reads: what the client offers piles up. */
static void server_open(sk_peer *p, void *ctx) {
  (void)ctx;
  sk_peer_pause(p);
}

static const sk_handler server = {.on_open = server_open};

/* Offers 64 KiB chunks until one is refused: the socket buffers fill,
 * the queue passes the soft cap (64 KiB) and then the hard cap (1 MiB). */
static void client_open(sk_peer *p, void *ctx) {
  run *r = ctx;
  sk_peer_stats st;
  int err = 0;

  for (int i = 0; i < 4096 && err == 0; i++) {
    err = sk_peer_offer(p, r->chunk);
    if (err == 0)
      r->offered += CHUNK;
  }
  r->last_err = err;
  /* Counted: what went to the socket plus what waits, no more. */
  sk_peer_stats_get(p, &st);
  if (err == 0) /* the hard cap was never met: say so */
    r->last_err = 1;
  assert_int_equal(st.sent + sk_peer_queued(p), r->offered);
}

static void client_close(sk_peer *p, int reason, void *ctx) {
  run *r = ctx;

  (void)p;
  r->reason = reason;
  r->closed = true;
  sk_server_stop(r->server, 0, NULL, NULL);
  uv_close((uv_handle_t *)&r->guard, NULL);
}

static const sk_handler client = {.on_open = client_open,
                                  .on_close = client_close};

static void guard_cb(uv_timer_t *t) {
  (void)t;
  fail_msg("the test did not finish within 20 s");
}

static void test_client_offer_keeps_the_hard_cap(void **state) {
  static char zeros[CHUNK];
  sk_server_opts so;
  sk_client_opts co;
  sk_framing raw;
  sk_peer *p;
  sk_addr a;
  run r;

  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(uv_loop_init(&r.loop), 0);
  uv_timer_init(&r.loop, &r.guard);
  uv_timer_start(&r.guard, guard_cb, 20000, 0);
  assert_int_equal(sk_framing_parse(&raw, "raw"), 0);
  r.chunk = sk_buf_frame(&raw, zeros, sizeof(zeros));
  assert_non_null(r.chunk);

  sk_server_opts_init(&so);
  so.framing = raw;
  assert_int_equal(sk_addr_parse(&a, "127.0.0.1:0"), 0);
  assert_int_equal(sk_server_start(&r.loop, &a, &so, &server, &r, &r.server),
                   0);
  sk_client_opts_init(&co);
  co.max_queue = CHUNK; /* the hard cap: 16 x 64 KiB */
  assert_int_equal(sk_client_connect(&r.loop, sk_server_addr(r.server), &co,
                                     &client, &r, &p),
                   0);
  uv_run(&r.loop, UV_RUN_DEFAULT);

  assert_true(r.closed);
  assert_int_equal(r.last_err, SK_ETOOSLOW);
  assert_int_equal(r.reason, SK_ETOOSLOW);
  sk_buf_unref(r.chunk);
  assert_int_equal(uv_loop_close(&r.loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_offer_keeps_the_hard_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
