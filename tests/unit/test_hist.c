/* test_hist.c -- unit tests for the histogram (sk_hist).
 *
 * Every percentile is checked against an oracle that keeps all the values:
 * it sorts them and takes the one of rank ceil(p / 100 * n), computed in
 * integers (p is given in tenths of a percent), so the oracle does not
 * share the library's floating-point rank.  sockit.h promises that a
 * reported percentile is within 0.4% of that value, exact below 256, and
 * that p = 100 is the maximum; the tests hold the library to the exact
 * bound of the design, 1/256, rather than to a looser one that a histogram
 * reporting bucket lower bounds (off by up to 1/128) would also pass.
 *
 * Values come from a fixed-seed xorshift generator, so a failure is
 * reproducible. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* The largest relative error any percentile showed, reported at the end. */
static double worst_rel;
static uint64_t worst_expected;
static uint64_t worst_got;
static double worst_p;
static const char *worst_name;

/* The percentiles every distribution is checked at, in tenths of a
 * percent. */
static const unsigned PCTS[] = {10, 500, 900, 990, 999, 1000};
#define NPCTS (sizeof(PCTS) / sizeof(PCTS[0]))

/* ------------------------------------------------------------ helpers */

/* xorshift64*: small, fast and good enough to spread values around. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed) {
  rng_state = seed;
}

static uint64_t rng_next(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, bound], bound < 2^64 - 1; the modulo bias is harmless. */
static uint64_t rng_upto(uint64_t bound) {
  return rng_next() % (bound + 1);
}

/* Uniform in (0, 1]. */
static double rng_unit(void) {
  return ((double)(rng_next() >> 11) + 1.0) / 9007199254740992.0;
}

/* The natural logarithm of u in (0, 1], without libm, which the unit
 * tests are not linked with: u = m * 2^-e with m in [0.5, 1), and
 * ln(m) = 2 atanh((m - 1) / (m + 1)), whose series converges fast for
 * |z| <= 1/3.  Accurate to a few ulps, far more than a test value needs. */
static double ln_unit(double u) {
  double z, z2, term, sum = 0.0;
  int e = 0;
  int k;

  while (u < 0.5) {
    u *= 2;
    e++;
  }
  z = (u - 1) / (u + 1);
  z2 = z * z;
  term = z;
  for (k = 1; k < 60; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return 2 * sum - e * 0.69314718055994530942;
}

static uint64_t *values_new(size_t n) {
  uint64_t *v = malloc(n * sizeof(*v));
  assert_non_null(v);
  return v;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a;
  uint64_t y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* A histogram of the n values. */
static sk_hist *hist_of(const uint64_t *v, size_t n) {
  sk_hist *h = sk_hist_new();
  size_t i;

  assert_non_null(h);
  for (i = 0; i < n; i++)
    sk_hist_record(h, v[i]);
  return h;
}

/* The oracle: the value of rank ceil(p10 / 1000 * n) in sorted. */
static uint64_t oracle(const uint64_t *sorted, size_t n, unsigned p10) {
  uint64_t rank = ((uint64_t)p10 * n + 999) / 1000;

  if (rank < 1)
    rank = 1;
  return sorted[rank - 1];
}

/* The exact mean, through the same one rounding the library promises. */
static double oracle_mean(const uint64_t *v, size_t n) {
  __extension__ unsigned __int128 sum = 0;
  size_t i;

  for (i = 0; i < n; i++)
    sum += v[i];
  return (double)((long double)sum / (long double)n);
}

/* Checks percentile p10 of h against the oracle: never outside the
 * recorded min and max, exact below 256 and at p = 100, within 1/256
 * elsewhere. */
static void check_pct(const char *name, const sk_hist *h,
                      const uint64_t *sorted, size_t n, unsigned p10) {
  double p = p10 / 10.0;
  uint64_t want = oracle(sorted, n, p10);
  uint64_t got = sk_hist_percentile(h, p);
  uint64_t diff = got > want ? got - want : want - got;
  long double rel =
      want == 0 ? (diff == 0 ? 0 : 1) : (long double)diff / (long double)want;

  if ((double)rel > worst_rel) {
    worst_rel = (double)rel;
    worst_expected = want;
    worst_got = got;
    worst_p = p;
    worst_name = name;
  }
  if (want < 256 && got != want)
    fail_msg("%s: p%g = %llu, expected exactly %llu", name, p,
             (unsigned long long)got, (unsigned long long)want);
  if (got < sorted[0] || got > sorted[n - 1])
    fail_msg("%s: p%g = %llu, outside the recorded [%llu, %llu]", name, p,
             (unsigned long long)got, (unsigned long long)sorted[0],
             (unsigned long long)sorted[n - 1]);
  if (p10 == 1000 && got != sorted[n - 1])
    fail_msg("%s: p100 = %llu, expected the max %llu", name,
             (unsigned long long)got, (unsigned long long)sorted[n - 1]);
  if (rel > 1.0L / 256)
    fail_msg("%s: p%g = %llu, expected %llu (relative error %.5Lf%%)", name, p,
             (unsigned long long)got, (unsigned long long)want, rel * 100);
}

/* Records the n values (which it sorts) and checks count, min, max, mean
 * and the percentiles in PCTS, or every tenth of a percent when dense. */
static void check_dist(const char *name, uint64_t *v, size_t n, int dense) {
  double mean = oracle_mean(v, n);
  sk_hist *h = hist_of(v, n);
  unsigned p10;
  size_t i;

  qsort(v, n, sizeof(*v), cmp_u64);
  assert_int_equal(sk_hist_count(h), n);
  assert_int_equal(sk_hist_min(h), v[0]);
  assert_int_equal(sk_hist_max(h), v[n - 1]);
  if (sk_hist_mean(h) != mean)
    fail_msg("%s: mean %.17g, expected %.17g", name, sk_hist_mean(h), mean);
  if (dense) {
    for (p10 = 1; p10 <= 1000; p10++)
      check_pct(name, h, v, n, p10);
  } else {
    for (i = 0; i < NPCTS; i++)
      check_pct(name, h, v, n, PCTS[i]);
  }
  sk_hist_free(h);
}

/* Every query of a and b agrees, percentiles at every tenth of a
 * percent. */
static void assert_same_hist(const sk_hist *a, const sk_hist *b) {
  unsigned p10;

  assert_int_equal(sk_hist_count(a), sk_hist_count(b));
  assert_int_equal(sk_hist_min(a), sk_hist_min(b));
  assert_int_equal(sk_hist_max(a), sk_hist_max(b));
  assert_true(sk_hist_mean(a) == sk_hist_mean(b));
  for (p10 = 1; p10 <= 1000; p10++)
    assert_int_equal(sk_hist_percentile(a, p10 / 10.0),
                     sk_hist_percentile(b, p10 / 10.0));
}

static void assert_empty(const sk_hist *h) {
  assert_int_equal(sk_hist_count(h), 0);
  assert_int_equal(sk_hist_min(h), 0);
  assert_int_equal(sk_hist_max(h), 0);
  assert_true(sk_hist_mean(h) == 0.0);
  assert_int_equal(sk_hist_percentile(h, 1), 0);
  assert_int_equal(sk_hist_percentile(h, 50), 0);
  assert_int_equal(sk_hist_percentile(h, 100), 0);
}

#define N 20000

/* -------------------------------------------------------------- tests */

static void test_empty(void **state) {
  sk_hist *h = sk_hist_new();

  (void)state;
  assert_non_null(h);
  assert_empty(h);
  sk_hist_free(h);
  sk_hist_free(NULL);
}

/* Below 256 every value has its own bucket: each of 0..255 recorded i + 1
 * times, and every percentile is the exact oracle value. */
static void test_exact_below_256(void **state) {
  size_t n = 256 * 257 / 2;
  uint64_t *v = values_new(n);
  size_t k = 0;
  unsigned i, j;

  (void)state;
  for (i = 0; i < 256; i++)
    for (j = 0; j <= i; j++)
      v[k++] = i;
  check_dist("0..255 triangular", v, n, 1);
  free(v);
}

static void test_uniform_small(void **state) {
  uint64_t *v = values_new(N);
  size_t i;

  (void)state;
  rng_seed(1);
  for (i = 0; i < N; i++)
    v[i] = rng_upto(255);
  check_dist("uniform 0..255", v, N, 1);
  for (i = 0; i < N; i++)
    v[i] = rng_upto(1000);
  check_dist("uniform 0..1000", v, N, 1);
  free(v);
}

static void test_uniform_wide(void **state) {
  static const uint64_t bounds[] = {1000000, 1000000000, 1000000000000ULL};
  uint64_t *v = values_new(N);
  size_t b, i;

  (void)state;
  rng_seed(2);
  for (b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
    for (i = 0; i < N; i++)
      v[i] = rng_upto(bounds[b]);
    check_dist("uniform 0..1e6/1e9/1e12", v, N, 1);
  }
  for (i = 0; i < N; i++)
    v[i] = 999000000000ULL + rng_upto(1000000000);
  check_dist("uniform 999e9..1e12", v, N, 1);
  free(v);
}

/* Latency-like: exponential with a mean of 1 ms in nanoseconds, plus a
 * floor, and a heavy-tailed variant. */
static void test_exponential(void **state) {
  uint64_t *v = values_new(N);
  size_t i;

  (void)state;
  rng_seed(3);
  for (i = 0; i < N; i++)
    v[i] = (uint64_t)(-ln_unit(rng_unit()) * 1e6);
  check_dist("exponential mean 1e6", v, N, 1);
  for (i = 0; i < N; i++)
    v[i] = 50000 + (uint64_t)(-ln_unit(rng_unit()) * 200.0);
  check_dist("50000 + exponential mean 200", v, N, 1);
  for (i = 0; i < N; i++)
    v[i] = (uint64_t)(1000.0 / (rng_unit() * rng_unit()));
  check_dist("heavy tail", v, N, 1);
  free(v);
}

/* Every magnitude from 1 to 2^64 - 1, equally often. */
static void test_log_uniform(void **state) {
  uint64_t *v = values_new(N);
  size_t i;

  (void)state;
  rng_seed(4);
  for (i = 0; i < N; i++)
    v[i] = rng_next() >> (rng_next() % 64);
  check_dist("log-uniform", v, N, 1);
  free(v);
}

static void test_constant(void **state) {
  static const uint64_t consts[] = {0,         7,          255,
                                    256,       257,        1000003,
                                    123456789, 1ULL << 40, UINT64_MAX - 1,
                                    UINT64_MAX};
  uint64_t *v = values_new(1000);
  size_t c, i;

  (void)state;
  for (c = 0; c < sizeof(consts) / sizeof(consts[0]); c++) {
    for (i = 0; i < 1000; i++)
      v[i] = consts[c];
    check_dist("constant", v, 1000, 1);
  }
  free(v);
}

static void test_single_value(void **state) {
  static const uint64_t singles[] = {
      0,         1, 255, 256, 511, 512, 1000003, 1ULL << 63, (1ULL << 63) + 1,
      UINT64_MAX};
  uint64_t v[1];
  size_t c;

  (void)state;
  for (c = 0; c < sizeof(singles) / sizeof(singles[0]); c++) {
    v[0] = singles[c];
    check_dist("single value", v, 1, 1);
  }
}

/* Two values far apart in several proportions: a percentile must land on
 * the right side of the gap, never in between. */
static void test_bimodal(void **state) {
  static const size_t lows[] = {1, 10, 500, 899, 900, 901, 990, 999, 1000};
  uint64_t *v = values_new(N);
  size_t l, i;

  (void)state;
  rng_seed(5);
  for (l = 0; l < sizeof(lows) / sizeof(lows[0]); l++) {
    for (i = 0; i < 1000; i++)
      v[i] = i < lows[l] ? 100 : 1000000000;
    check_dist("bimodal 100/1e9", v, 1000, 1);
    for (i = 0; i < 1000; i++)
      v[i] = i < lows[l] ? 300 : 70000;
    check_dist("bimodal 300/70000", v, 1000, 1);
  }
  for (i = 0; i < N; i++)
    v[i] = rng_next() % 3 == 0 ? 200 + rng_upto(20) : 5000000 + rng_upto(1000);
  check_dist("bimodal clusters", v, N, 1);
  free(v);
}

/* Values at, just below and just above every power of two, where the
 * bucket layout changes width. */
static void test_powers_of_two(void **state) {
  uint64_t *v = values_new(64 * 3 * 10);
  size_t n = 0;
  unsigned k, r;

  (void)state;
  for (k = 0; k < 64; k++)
    for (r = 0; r < 10; r++) {
      uint64_t p = 1ULL << k;
      v[n++] = p - 1;
      v[n++] = p;
      v[n++] = p + 1;
    }
  check_dist("powers of two +-1", v, n, 1);
  /* The same near one power only, where the buckets just below and just
   * above differ in width by two. */
  n = 0;
  rng_seed(6);
  for (k = 0; k < 1000; k++)
    v[n++] = (1ULL << 20) - 5000 + rng_upto(10000);
  check_dist("around 2^20", v, n, 1);
  free(v);
}

static void test_extremes(void **state) {
  uint64_t v[100];
  size_t i;

  (void)state;
  for (i = 0; i < 100; i++)
    v[i] = i % 2 ? UINT64_MAX : 0;
  check_dist("0 and UINT64_MAX", v, 100, 1);
  for (i = 0; i < 100; i++)
    v[i] = UINT64_MAX - i * 1000;
  check_dist("just below UINT64_MAX", v, 100, 1);
}

/* The sum of the values needs more than 64 bits; a wrapped sum would make
 * these means 0 or wildly wrong. */
static void test_mean_exact(void **state) {
  sk_hist *h = sk_hist_new();
  int i;

  (void)state;
  assert_non_null(h);
  sk_hist_record(h, 1);
  sk_hist_record(h, 2);
  assert_true(sk_hist_mean(h) == 1.5);
  sk_hist_reset(h);
  sk_hist_record(h, UINT64_MAX);
  sk_hist_record(h, 1);
  assert_true(sk_hist_mean(h) == 9223372036854775808.0); /* 2^63 */
  sk_hist_reset(h);
  for (i = 0; i < 1000; i++)
    sk_hist_record(h, UINT64_MAX);
  assert_true(sk_hist_mean(h) == 18446744073709551615.0);
  sk_hist_reset(h);
  /* 2^53 + 1 is not a double, so a double sum would lose the 1s. */
  sk_hist_record(h, (1ULL << 53) + 1);
  sk_hist_record(h, (1ULL << 53) + 1);
  sk_hist_record(h, 1);
  sk_hist_record(h, 1);
  assert_true(sk_hist_mean(h) == 4503599627370497.0); /* 2^52 + 1 */
  sk_hist_free(h);
}

/* Merging two halves gives the histogram of everything, in either order,
 * and an empty histogram is neutral on either side. */
static void test_merge(void **state) {
  uint64_t *v = values_new(N);
  sk_hist *all, *a, *b, *empty, *copy;
  size_t i;

  (void)state;
  rng_seed(7);
  for (i = 0; i < N; i++)
    v[i] = rng_next() >> (rng_next() % 64);
  all = hist_of(v, N);
  a = hist_of(v, N / 3);
  b = hist_of(v + N / 3, N - N / 3);
  empty = sk_hist_new();
  copy = sk_hist_new();
  assert_non_null(empty);
  assert_non_null(copy);

  sk_hist_merge(copy, b); /* into an empty one: min must come from b */
  assert_same_hist(copy, b);
  sk_hist_merge(copy, a);
  assert_same_hist(copy, all);
  sk_hist_merge(b, a);
  assert_same_hist(b, all);
  sk_hist_merge(b, empty);
  assert_same_hist(b, all);
  sk_hist_merge(empty, empty);
  assert_empty(empty);

  /* Disjoint ranges: min from one side, max from the other. */
  sk_hist_reset(a);
  sk_hist_reset(b);
  sk_hist_record(a, 1000);
  sk_hist_record(b, 5);
  sk_hist_record(b, 7);
  sk_hist_merge(a, b);
  assert_int_equal(sk_hist_count(a), 3);
  assert_int_equal(sk_hist_min(a), 5);
  assert_int_equal(sk_hist_max(a), 1000);
  assert_int_equal(sk_hist_percentile(a, 50), 7);
  assert_int_equal(sk_hist_percentile(a, 100), 1000);
  assert_true(sk_hist_mean(a) == 1012.0 / 3);

  sk_hist_free(all);
  sk_hist_free(a);
  sk_hist_free(b);
  sk_hist_free(empty);
  sk_hist_free(copy);
  free(v);
}

/* Reset empties the histogram, and what is recorded afterwards is all it
 * reports: an old min, max, sum or bucket must not linger. */
static void test_reset(void **state) {
  sk_hist *h = sk_hist_new();
  sk_hist *fresh = sk_hist_new();
  int i;

  (void)state;
  assert_non_null(h);
  assert_non_null(fresh);
  for (i = 0; i < 1000; i++)
    sk_hist_record(h, (uint64_t)i * 1000003);
  sk_hist_record(h, 0);
  sk_hist_record(h, UINT64_MAX);
  sk_hist_reset(h);
  assert_empty(h);
  for (i = 0; i < 10; i++) {
    sk_hist_record(h, 5000 + (uint64_t)i);
    sk_hist_record(fresh, 5000 + (uint64_t)i);
  }
  assert_same_hist(h, fresh);
  assert_int_equal(sk_hist_min(h), 5000);
  assert_int_equal(sk_hist_max(h), 5009);
  assert_true(sk_hist_mean(h) == 5004.5);
  sk_hist_free(h);
  sk_hist_free(fresh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_exact_below_256),
      cmocka_unit_test(test_uniform_small),
      cmocka_unit_test(test_uniform_wide),
      cmocka_unit_test(test_exponential),
      cmocka_unit_test(test_log_uniform),
      cmocka_unit_test(test_constant),
      cmocka_unit_test(test_single_value),
      cmocka_unit_test(test_bimodal),
      cmocka_unit_test(test_powers_of_two),
      cmocka_unit_test(test_extremes),
      cmocka_unit_test(test_mean_exact),
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_reset),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);

  printf("worst relative error: %.5f%% (%s, p%g: %llu for %llu)\n",
         worst_rel * 100, worst_name ? worst_name : "-", worst_p,
         (unsigned long long)worst_got, (unsigned long long)worst_expected);
  return failed;
}
