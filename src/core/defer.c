/* defer.c -- the one way to run something "soon, from the loop".
 *
 * libuv's convention, kept by every layer here, is that a callback never
 * runs inside the call that caused it.  What must happen after the
 * current callback returns (a UDP peer's on_close, a TLS completion, a
 * client's on_open) is armed here and runs in the loop's next idle phase.
 * Arming twice before it ran runs it once.  An idle handle costs nothing
 * while stopped, so an idle peer pays for it in memory only.
 */
#include "internal.h"

static void idle_cb(uv_idle_t *idle) {
  sk__defer *d = SK__CONTAINER_OF(idle, sk__defer, idle);

  uv_idle_stop(idle);
  d->fn(d);
}

void sk__defer_init(uv_loop_t *loop, sk__defer *d, void (*fn)(sk__defer *d)) {
  uv_idle_init(loop, &d->idle);
  d->fn = fn;
}

void sk__defer_arm(sk__defer *d) {
  if (!uv_is_closing((uv_handle_t *)&d->idle))
    uv_idle_start(&d->idle, idle_cb);
}

void sk__defer_close(sk__defer *d, uv_close_cb cb) {
  uv_close((uv_handle_t *)&d->idle, cb);
}
