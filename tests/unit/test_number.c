/* test_number.c -- sk_parse_u64, the one decimal parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "sockit.h"

static void expect(const char *s, size_t n, uint64_t v, size_t used) {
  uint64_t got = 12345;
  size_t u = sk_parse_u64(s, n, &got);

  if (u != used || got != v)
    fail_msg("sk_parse_u64(\"%.*s\") = %zu digits, %ju; expected %zu, %ju",
             (int)n, s, u, (uintmax_t)got, used, (uintmax_t)v);
}

static void test_digits(void **state) {
  (void)state;
  expect("0", 1, 0, 1);
  expect("80", 2, 80, 2);
  expect("000080", 6, 80, 6);
  expect("8080x", 5, 8080, 4);
  expect("12345", 3, 123, 3); /* only n bytes are read */
  expect("", 0, 0, 0);
  expect("x1", 2, 0, 0);
  expect("-1", 2, 0, 0);
  expect(" 1", 2, 0, 0);
  expect("+1", 2, 0, 0);
}

static void test_saturates(void **state) {
  (void)state;
  expect("18446744073709551615", 20, UINT64_MAX, 20);
  expect("18446744073709551614", 20, UINT64_MAX - 1, 20);
  /* Past 2^64 - 1 it sticks at the top instead of wrapping to 0 or 6. */
  expect("18446744073709551616", 20, UINT64_MAX, 20);
  expect("18446744073709551622", 20, UINT64_MAX, 20);
  expect("99999999999999999999999999", 26, UINT64_MAX, 26);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_digits),
      cmocka_unit_test(test_saturates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
