/* upper.c -- every message back with ASCII a-z upper-cased; other bytes,
 * UTF-8 included, pass untouched. */
#include "internal.h"
#include "services/services.h"

#include <stdlib.h>
#include <string.h>

/* One scratch buffer per server, grown to the largest message seen (at
 * most max_frame, or one read for raw framing). */
typedef struct upper {
  char *buf;
  size_t cap;
} upper;

static int upper_create(uv_loop_t *loop, const sk_service_opts *o,
                        void **state) {
  (void)loop;
  (void)o;
  *state = calloc(1, sizeof(upper));
  return *state != NULL ? 0 : UV_ENOMEM;
}

static void upper_destroy(void *state) {
  upper *u = state;

  free(u->buf);
  free(u);
}

static void upper_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  upper *u = ctx;

  if (len > u->cap) {
    char *b = realloc(u->buf, len);
    if (b == NULL) {
      sk_peer_close(p, UV_ENOMEM);
      return;
    }
    u->buf = b;
    u->cap = len;
  }
  for (size_t i = 0; i < len; i++) {
    char c = msg[i];
    u->buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
  }
  sk_peer_send(p, u->buf, len);
}

static const sk_handler upper_handler = {.on_message = upper_message};

const sk_service sk__service_upper = {
    .name = "upper",
    .summary = "send every message back upper-cased (ASCII a-z)",
    .default_mode = SK_FRAME_RAW,
    .nodelay = 1,
    .create = upper_create,
    .destroy = upper_destroy,
    .handler = &upper_handler,
};
