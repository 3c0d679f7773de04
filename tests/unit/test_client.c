/* test_client.c -- sk_client_connect: with sk_client_opts.targets, a
 * client given its host's addresses already resolved never looks the name
 * up, tries them in order at addr's own port (their ports are ignored),
 * and reports the last one's error when none accepts; a socket that
 * connected to itself (source port = destination port, nothing listening)
 * is a refusal, not an open connection. */
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

typedef struct run {
  uv_loop_t loop;
  sk_server *server;
  bool opened;
  int reason;
} run;

static void client_open(sk_peer *p, void *ctx) {
  run *r = ctx;

  r->opened = true;
  sk_peer_close(p, SK_ECLOSED);
}

static void client_close(sk_peer *p, int reason, void *ctx) {
  run *r = ctx;

  (void)p;
  r->reason = reason;
  if (r->server != NULL)
    sk_server_stop(r->server, 0, NULL, NULL);
}

static const sk_handler client = {.on_open = client_open,
                                  .on_close = client_close};
static const sk_handler nothing;

/* A refused address first, the listening one second: the client moves on
 * and connects.  The host is a name that cannot resolve: it is never
 * looked up.  The targets carry port 1: addr's port is used instead. */
static void test_targets_in_order_at_addr_port(void **state) {
  run r;
  sk_server_opts so;
  sk_client_opts co;
  sk_addr a;
  struct sockaddr_storage *found, targets[2];
  sk_peer *p;

  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(uv_loop_init(&r.loop), 0);
  sk_server_opts_init(&so);
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:0"), 0);
  assert_int_equal(sk_server_start(&r.loop, &a, &so, &nothing, NULL, &r.server),
                   0);
  /* 127.0.0.2 is loopback too, with nothing listening on it. */
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.2:1"), 0);
  assert_int_equal(sk_addr_resolve_all(&a, &found), 1);
  targets[0] = found[0];
  free(found);
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:1"), 0);
  assert_int_equal(sk_addr_resolve(&a, &targets[1]), 0);

  assert_int_equal(sk_addr_parse(&a, "tcp://no-such-host.invalid:1"), 0);
  a.port = sk_server_addr(r.server)->port;
  sk_client_opts_init(&co);
  co.targets = targets;
  co.ntargets = 2;
  assert_int_equal(sk_client_connect(&r.loop, &a, &co, &client, &r, &p), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r.loop), 0);
  assert_true(r.opened);
  assert_int_equal(r.reason, SK_ECLOSED);
}

/* No target accepts: on_close without on_open, with the refusal. */
static void test_targets_all_refused(void **state) {
  run r;
  sk_client_opts co;
  sk_addr a;
  struct sockaddr_storage target;
  sk_peer *p;

  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(uv_loop_init(&r.loop), 0);
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.2:1"), 0);
  assert_int_equal(sk_addr_resolve(&a, &target), 0);
  assert_int_equal(sk_addr_parse(&a, "tcp://no-such-host.invalid:1"), 0);
  sk_client_opts_init(&co);
  co.targets = &target;
  co.ntargets = 1;
  assert_int_equal(sk_client_connect(&r.loop, &a, &co, &client, &r, &p), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r.loop), 0);
  assert_false(r.opened);
  assert_int_equal(r.reason, UV_ECONNREFUSED);
}

/* Binding the source to the very address connected to makes TCP's
 * simultaneous open join the socket to itself, every time. */
static void test_self_connect_is_refused(void **state) {
  run r;
  sk_client_opts co;
  sk_addr a;
  struct sockaddr_storage me;
  uv_tcp_t probe;
  int len = sizeof(me);
  sk_peer *p;

  (void)state;
  memset(&r, 0, sizeof(r));
  assert_int_equal(uv_loop_init(&r.loop), 0);
  /* A free port: bound by a handle that is closed again at once. */
  assert_int_equal(sk_addr_parse(&a, "tcp://127.0.0.1:0"), 0);
  assert_int_equal(sk_addr_resolve(&a, &me), 0);
  uv_tcp_init(&r.loop, &probe);
  assert_int_equal(uv_tcp_bind(&probe, (struct sockaddr *)&me, 0), 0);
  assert_int_equal(uv_tcp_getsockname(&probe, (struct sockaddr *)&me, &len), 0);
  uv_close((uv_handle_t *)&probe, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);

  a.port = ntohs(((struct sockaddr_in *)&me)->sin_port);
  sk_client_opts_init(&co);
  co.local_addr = (struct sockaddr *)&me;
  assert_int_equal(sk_client_connect(&r.loop, &a, &co, &client, &r, &p), 0);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&r.loop), 0);
  assert_false(r.opened);
  assert_int_equal(r.reason, UV_ECONNREFUSED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_targets_in_order_at_addr_port),
      cmocka_unit_test(test_targets_all_refused),
      cmocka_unit_test(test_self_connect_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
