/* test_frame_timeout.c -- the frame timeout's clock, in one loop: a server
 * with frame_timeout_ms and a client that trickles bytes of a line it never
 * ends.  The clock must run only while the server reads the peer, and pause
 * (not start again) while it does not. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "sockit.h"

#define LIMIT_MS 300
#define TRICKLE_MS 30

typedef struct run {
  uv_loop_t loop;
  sk_server *server;
  sk_peer *peer;   /* the server's side */
  uv_tcp_t client; /* the trickling client */
  uv_connect_t creq;
  uv_timer_t trickle, pause, resume, give_up;
  uint64_t opened_at, closed_at;
  int reason;
  bool closed;
  uint64_t pause_every, pause_for; /* 0: never */
} run;

static void stop_all(run *r);

static void on_open(sk_peer *p, void *ctx) {
  run *r = ctx;

  r->peer = p;
  r->opened_at = uv_now(&r->loop);
}

static void on_close(sk_peer *p, int reason, void *ctx) {
  run *r = ctx;

  (void)p;
  r->peer = NULL;
  r->closed = true;
  r->reason = reason;
  r->closed_at = uv_now(&r->loop);
  stop_all(r);
}

static const sk_handler handler = {.on_open = on_open, .on_close = on_close};

static void trickle_cb(uv_timer_t *t) {
  run *r = t->data;
  uv_buf_t b = uv_buf_init("x", 1);

  uv_try_write((uv_stream_t *)&r->client, &b, 1);
}

static void resume_cb(uv_timer_t *t) {
  run *r = t->data;

  if (r->peer != NULL)
    sk_peer_resume(r->peer);
}

static void pause_cb(uv_timer_t *t) {
  run *r = t->data;

  if (r->peer == NULL)
    return;
  sk_peer_pause(r->peer);
  uv_timer_start(&r->resume, resume_cb, r->pause_for, 0);
}

static void give_up_cb(uv_timer_t *t) {
  stop_all(t->data);
}

static void connected(uv_connect_t *req, int status) {
  run *r = req->data;

  assert_int_equal(status, 0);
  uv_timer_start(&r->trickle, trickle_cb, 0, TRICKLE_MS);
  if (r->pause_every > 0)
    uv_timer_start(&r->pause, pause_cb, r->pause_every,
                   r->pause_for < r->pause_every ? r->pause_every : 0);
}

static void stop_all(run *r) {
  uv_timer_stop(&r->trickle);
  uv_timer_stop(&r->pause);
  uv_timer_stop(&r->resume);
  uv_timer_stop(&r->give_up);
  if (!uv_is_closing((uv_handle_t *)&r->client))
    uv_close((uv_handle_t *)&r->client, NULL);
  if (r->server != NULL) {
    sk_server_stop(r->server, 0, NULL, NULL);
    r->server = NULL;
  }
}

/* Runs one trickling client against a server that pauses its peer for
 * pause_for ms every pause_every ms (0: never); returns ms from open to
 * close, or 0 when the peer was not cut within 5 s. */
static uint64_t trickle_until_cut(run *r, uint64_t pause_every,
                                  uint64_t pause_for) {
  sk_server_opts o;
  sk_addr a;
  struct sockaddr_storage ss;

  memset(r, 0, sizeof(*r));
  r->pause_every = pause_every;
  r->pause_for = pause_for;
  assert_int_equal(uv_loop_init(&r->loop), 0);
  sk_server_opts_init(&o);
  o.frame_timeout_ms = LIMIT_MS;
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:0"), 0);
  assert_int_equal(sk_server_start(&r->loop, &a, &o, &handler, r, &r->server),
                   0);
  assert_int_equal(sk_addr_resolve(sk_server_addr(r->server), &ss), 0);
  uv_timer_init(&r->loop, &r->trickle);
  uv_timer_init(&r->loop, &r->pause);
  uv_timer_init(&r->loop, &r->resume);
  uv_timer_init(&r->loop, &r->give_up);
  r->trickle.data = r->pause.data = r->resume.data = r->give_up.data = r;
  uv_tcp_init(&r->loop, &r->client);
  r->creq.data = r;
  assert_int_equal(
      uv_tcp_connect(&r->creq, &r->client, (struct sockaddr *)&ss, connected),
      0);
  uv_timer_start(&r->give_up, give_up_cb, 5000, 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&r->trickle, NULL);
  uv_close((uv_handle_t *)&r->pause, NULL);
  uv_close((uv_handle_t *)&r->resume, NULL);
  uv_close((uv_handle_t *)&r->give_up, NULL);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r->loop), 0);
  if (!r->closed || r->reason == SK_ECLOSED) /* stopped by give_up */
    return 0;
  assert_int_equal(r->reason, SK_EFRAMETIMEOUT);
  return r->closed_at - r->opened_at;
}

static void test_cut_without_pauses(void **state) {
  run r;
  uint64_t ms = trickle_until_cut(&r, 0, 0);

  (void)state;
  if (ms < LIMIT_MS - 10 || ms > 3 * LIMIT_MS)
    fail_msg("cut after %ju ms, expected about %d", (uintmax_t)ms, LIMIT_MS);
}

/* Short pauses, often: the clock must pause, not start again, or the
 * trickler is never cut. */
static void test_short_pauses_do_not_reset_the_clock(void **state) {
  run r;
  uint64_t ms = trickle_until_cut(&r, 100, 10);

  (void)state;
  if (ms == 0)
    fail_msg("a peer paused 10 ms every 100 ms was never cut");
  if (ms > 5 * LIMIT_MS)
    fail_msg("cut after %ju ms, expected about %d plus the pauses",
             (uintmax_t)ms, LIMIT_MS);
}

/* One long pause, 100 ms into the frame: the time the server does not read
 * is not counted, and the 100 ms before it are. */
static void test_long_pause_is_not_counted(void **state) {
  run r;
  uint64_t ms = trickle_until_cut(&r, 100, 1000);

  (void)state;
  if (ms > 0 && ms < 1000 + LIMIT_MS / 2)
    fail_msg("cut after %ju ms although the server read it for less than "
             "%d ms",
             (uintmax_t)ms, LIMIT_MS);
  if (ms == 0 || ms > 1000 + 5 * LIMIT_MS)
    fail_msg("cut after %ju ms (0: never), expected about %d", (uintmax_t)ms,
             1000 + LIMIT_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cut_without_pauses),
      cmocka_unit_test(test_short_pauses_do_not_reset_the_clock),
      cmocka_unit_test(test_long_pause_is_not_counted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
