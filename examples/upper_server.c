/* upper_server.c -- a length-prefixed upper-casing server on libsockit.
 *
 *   cc upper_server.c $(pkg-config --cflags --libs sockit) -o upper_server
 *   ./upper_server 127.0.0.1:9000
 *
 * Prints "listening on ADDRESS", then answers every message (4-byte
 * big-endian length + payload) with the payload upper-cased.
 */
#include <sockit.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static void on_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  char *out = malloc(len + 1);

  (void)ctx;
  if (out == NULL) {
    sk_peer_close(p, UV_ENOMEM);
    return;
  }
  for (size_t i = 0; i < len; i++)
    out[i] = (char)toupper((unsigned char)msg[i]);
  sk_peer_send(p, out, len); /* the library copies what it cannot write */
  free(out);
}

static void on_signal(uv_signal_t *sig, int signum) {
  (void)signum;
  sk_server_stop(sig->data, 1000, NULL, NULL);
  uv_close((uv_handle_t *)sig, NULL);
}

int main(int argc, char **argv) {
  static const sk_handler handler = {.on_message = on_message};
  uv_loop_t *loop = uv_default_loop();
  sk_server_opts opts;
  sk_server *server;
  sk_addr addr;
  uv_signal_t sig;
  char where[SK_ADDR_STRLEN];
  int err;

  if (argc != 2 || sk_addr_parse(&addr, argv[1]) != 0) {
    fprintf(stderr, "usage: upper_server ADDRESS (%s)\n", sk_addr_forms);
    return 2;
  }
  sk_server_opts_init(&opts);
  sk_framing_parse(&opts.framing, "len");
  err = sk_server_start(loop, &addr, &opts, &handler, NULL, &server);
  if (err) {
    fprintf(stderr, "upper_server: listen %s: %s\n", argv[1],
            sk_strerror(err));
    return 1;
  }
  sk_addr_format(sk_server_addr(server), where, sizeof(where));
  fprintf(stderr, "listening on %s\n", where);
  uv_signal_init(loop, &sig);
  sig.data = server;
  uv_signal_start(&sig, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
