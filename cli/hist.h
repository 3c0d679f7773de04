/* hist.h -- the load generator's latency histogram (sockit bench).
 *
 * Not part of libsockit: the socket library has no use for it.
 */
#ifndef SOCKIT_CLI_HIST_H
#define SOCKIT_CLI_HIST_H

#include <stdint.h>

/* A log-linear (HDR-style) histogram of non-negative integers, such as
 * latencies in nanoseconds.  Values below 256 are counted exactly; above,
 * each power of two is split into 128 buckets, so a reported percentile is
 * within 0.4% of the true value (the bucket's midpoint, clamped to the
 * recorded min and max).  Fixed size (about 60 KB), no allocation after
 * sk_hist_new; record is O(1). */
typedef struct sk_hist sk_hist;

/* A new empty histogram, or NULL when memory runs out.  Free with
 * sk_hist_free. */
sk_hist *sk_hist_new(void);
void sk_hist_free(sk_hist *h);
void sk_hist_reset(sk_hist *h);
void sk_hist_record(sk_hist *h, uint64_t value);
/* Adds every count of src into dst. */
void sk_hist_merge(sk_hist *dst, const sk_hist *src);
uint64_t sk_hist_count(const sk_hist *h);
uint64_t sk_hist_min(const sk_hist *h); /* 0 when empty */
uint64_t sk_hist_max(const sk_hist *h); /* 0 when empty */
double sk_hist_mean(const sk_hist *h);  /* exact; 0 when empty */
/* The value at percentile p (0 < p <= 100): the smallest recorded value
 * v such that at least p% of the values are <= v, to within the bucket
 * precision above.  0 when empty. */
uint64_t sk_hist_percentile(const sk_hist *h, double p);

#endif
