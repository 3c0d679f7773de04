/* hist.c -- a log-linear (HDR-style) histogram of uint64_t values.
 *
 * Values below 256 have a bucket each, so they are counted exactly.  Above,
 * a value v with its highest set bit at msb is cut down to its top 8 bits,
 * top = v >> (msb - 7), which lies in [128, 255]; every power of two from
 * 2^8 up to 2^63 is thus split into 128 buckets of equal width
 * 2^(msb - 7).  A bucket's width is at most 1/128 of its lower bound, so
 * its midpoint is within 1/256 (0.39%) of any value in it.
 *
 * That makes 256 + 56 * 128 = 7424 buckets of 8 bytes, about 58 KB, fixed
 * for the life of the histogram: recording never allocates and costs a
 * count-leading-zeros and a few shifts.  The price is paid by the
 * percentile query, which walks the buckets (O(7424), a few microseconds),
 * and by merge and reset, which touch all of them.
 */
#include "hist.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_LIMIT 256u /* values below this have a bucket each */
#define SUB_BITS 7       /* 2^7 = 128 buckets per power of two above */
#define SUB_COUNT (1u << SUB_BITS)
#define BUCKETS (EXACT_LIMIT + (64 - 8) * SUB_COUNT)

/* The sum of all values needs up to 128 bits (2^64 values of up to
 * 2^64 - 1 each), so that the mean stays exact where a uint64_t sum would
 * wrap after a handful of large values and a double would drop the low
 * bits.  __extension__ keeps the GNU type quiet under -std=c11. */
__extension__ typedef unsigned __int128 hist_sum;

struct sk_hist {
  uint64_t count;
  uint64_t min; /* UINT64_MAX while empty */
  uint64_t max; /* 0 while empty */
  hist_sum sum;
  uint64_t buckets[BUCKETS];
};

/* The bucket of value; see the top of the file for the layout. */
static size_t bucket_of(uint64_t value) {
  int msb;
  int shift;
  uint64_t top;

  if (value < EXACT_LIMIT)
    return (size_t)value;
  msb = 63 - __builtin_clzll(value); /* value != 0 here, so this is defined */
  shift = msb - SUB_BITS;            /* 1 .. 56 */
  top = value >> shift;              /* 128 .. 255 */
  return EXACT_LIMIT + (size_t)(shift - 1) * SUB_COUNT +
         (size_t)(top - SUB_COUNT);
}

/* The value reported for bucket i: the value itself below 256, else the
 * bucket's lower bound plus half its width.  For the last bucket, whose
 * lower bound is 255 << 56, that is 255.5 * 2^56, which still fits. */
static uint64_t bucket_mid(size_t i) {
  size_t j;
  int shift;
  uint64_t top;

  if (i < EXACT_LIMIT)
    return (uint64_t)i;
  j = i - EXACT_LIMIT;
  shift = (int)(j / SUB_COUNT) + 1;
  top = SUB_COUNT + j % SUB_COUNT;
  return (top << shift) + ((uint64_t)1 << (shift - 1));
}

sk_hist *sk_hist_new(void) {
  sk_hist *h = malloc(sizeof(*h));

  if (h == NULL)
    return NULL;
  sk_hist_reset(h);
  return h;
}

void sk_hist_free(sk_hist *h) {
  free(h);
}

void sk_hist_reset(sk_hist *h) {
  memset(h->buckets, 0, sizeof(h->buckets));
  h->count = 0;
  h->min = UINT64_MAX;
  h->max = 0;
  h->sum = 0;
}

void sk_hist_record(sk_hist *h, uint64_t value) {
  h->buckets[bucket_of(value)]++;
  h->count++;
  h->sum += value;
  if (value < h->min)
    h->min = value;
  if (value > h->max)
    h->max = value;
}

/* Both histograms have the same fixed layout, so merging is a bucket-wise
 * sum; the empty histogram's min (UINT64_MAX) and max (0) are neutral, so
 * merging an empty one changes nothing.  dst == src doubles every count. */
void sk_hist_merge(sk_hist *dst, const sk_hist *src) {
  size_t i;

  for (i = 0; i < BUCKETS; i++)
    dst->buckets[i] += src->buckets[i];
  dst->count += src->count;
  dst->sum += src->sum;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

uint64_t sk_hist_count(const sk_hist *h) {
  return h->count;
}

uint64_t sk_hist_min(const sk_hist *h) {
  return h->count == 0 ? 0 : h->min;
}

uint64_t sk_hist_max(const sk_hist *h) {
  return h->count == 0 ? 0 : h->max;
}

/* The quotient of two exact integers, rounded once through long double
 * (where it has 64 bits of mantissa) and once more to double. */
double sk_hist_mean(const sk_hist *h) {
  if (h->count == 0)
    return 0.0;
  return (double)((long double)h->sum / (long double)h->count);
}

/* The rank (1-based, in sorted order) of the value at percentile p among
 * count > 0 values: ceil(p / 100 * count), at least 1 and at most count.
 * p outside (0, 100], or NaN, is clamped to that range.
 *
 * p / 100 is rarely exact in binary, so a product that is an integer on
 * paper (99.9% of 1000 values is 999) can come out a hair above it, and
 * ceil would then skip to the next value.  The three roundings involved
 * are each within half an epsilon, so a product within 4 epsilons above an
 * integer is taken to be that integer. */
static uint64_t rank_of(double p, uint64_t count) {
  double x;
  uint64_t r;

  if (!(p > 0.0))
    return 1;
  if (p >= 100.0)
    return count;
  x = p / 100.0 * (double)count;
  if (x >= (double)count) /* rounding, or count above 2^53 */
    return count;
  r = (uint64_t)x; /* x < count, so this fits; rounded up below */
  if ((double)r < x)
    r++;
  if (r > 1 && (double)(r - 1) >= x - 4 * DBL_EPSILON * x)
    r--;
  if (r < 1)
    r = 1;
  return r > count ? count : r;
}

/* Finds the bucket holding the value of rank rank by walking the buckets
 * from the bottom, O(7424).  Its midpoint is clamped to [min, max], which
 * both makes a histogram of one value exact and keeps a bucket that holds
 * the minimum or maximum from reporting a value nobody recorded beyond
 * them.  The first and last ranks are the recorded minimum and maximum
 * themselves, so those are exact, p = 100 among them. */
uint64_t sk_hist_percentile(const sk_hist *h, double p) {
  uint64_t rank;
  uint64_t seen = 0;
  uint64_t v;
  size_t i;

  if (h->count == 0)
    return 0;
  rank = rank_of(p, h->count);
  if (rank == h->count)
    return h->max;
  if (rank == 1)
    return h->min;
  for (i = 0; i < BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank)
      break;
  }
  if (i == BUCKETS) /* counts wrapped past 2^64; the maximum is all we know */
    return h->max;
  v = bucket_mid(i);
  if (v < h->min)
    return h->min;
  return v > h->max ? h->max : v;
}
