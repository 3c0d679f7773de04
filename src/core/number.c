/* number.c -- the one decimal parser, for addresses, options and tests. */
#include "internal.h"

size_t sk_parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  size_t i;

  for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
    uint64_t d = (uint64_t)(s[i] - '0');
    /* Past 2^64 - 1 the value sticks there: callers range-check it, and
     * "too big" must not wrap around into a small, valid number. */
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  *out = v;
  return i;
}
