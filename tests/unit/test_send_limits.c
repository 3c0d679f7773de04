/* test_send_limits.c -- sk_peer_send refuses what it cannot send whole:
 * a message over max_frame, or over 4 GiB - 1 (the most one libuv buffer
 * holds) even when max_frame allows it, instead of cutting it short under
 * a header that promises all of it. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "sockit.h"

typedef struct run {
  uv_loop_t loop;
  sk_server *server;
  uv_tcp_t client;
  uv_connect_t creq;
  int over_4g, fine;
  bool opened;
} run;

static void on_open(sk_peer *p, void *ctx) {
  run *r = ctx;
  static const char byte = 'x';

  r->opened = true;
  /* The length alone is checked: nothing is read from msg. */
  r->over_4g = sk_peer_send(p, &byte, (size_t)UINT_MAX + 1);
  r->fine = sk_peer_send(p, &byte, 1);
  sk_peer_close(p, SK_ECLOSED);
  sk_server_stop(r->server, 0, NULL, NULL);
  uv_close((uv_handle_t *)&r->client, NULL);
}

static const sk_handler handler = {.on_open = on_open};

static void connected(uv_connect_t *req, int status) {
  /* 0, or UV_ECANCELED when on_open closed the client first. */
  (void)req;
  assert_true(status == 0 || status == UV_ECANCELED);
}

static void test_over_4g(void **state) {
  run r;
  sk_server_opts o;
  sk_addr a;
  struct sockaddr_storage ss;

  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(uv_loop_init(&r.loop), 0);
  sk_server_opts_init(&o);
  assert_int_equal(sk_framing_parse(&o.framing, "len:8"), 0);
  o.framing.max_frame = SIZE_MAX;
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:0"), 0);
  assert_int_equal(sk_server_start(&r.loop, &a, &o, &handler, &r, &r.server),
                   0);
  assert_int_equal(sk_addr_resolve(sk_server_addr(r.server), &ss), 0);
  uv_tcp_init(&r.loop, &r.client);
  assert_int_equal(
      uv_tcp_connect(&r.creq, &r.client, (struct sockaddr *)&ss, connected), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r.loop), 0);
  assert_true(r.opened);
  assert_int_equal(r.over_4g, SK_EFRAMETOOBIG);
  assert_int_equal(r.fine, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_over_4g),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
