/* loadgen.h -- the load generator behind `sockit bench`. */
#ifndef SOCKIT_LOADGEN_H
#define SOCKIT_LOADGEN_H

#include "cli.h"
#include "hist.h"
#include "sockit.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum lg_mode {
  LG_ECHO = 0,    /* request/response, replies checked */
  LG_STREAM = 1,  /* one-way bulk */
  LG_UDP = 2,     /* datagram echo, loss counted */
  LG_CHAT = 3,    /* every client sends lines, every other client reads them */
  LG_CONNECT = 4, /* connections opened (handshake included) and closed */
} lg_mode;

typedef struct lg_opts {
  lg_mode mode;
  sk_addr addr;
  sk_framing framing;
  unsigned conns;
  unsigned pipeline;
  size_t size;
  const char *payload;  /* every request is this text (not checked) */
  uint64_t duration_ms; /* when requests == 0 */
  uint64_t requests;    /* total, 0 = run for duration_ms */
  uint64_t warmup_ms;
  uint64_t connect_timeout_ms;
  unsigned stall; /* chat: this many of the clients never read nor send */
  bool progress;  /* a live line on stderr */
  sk_tls *tls;    /* the client context for a TLS address; the caller's */
  /* -4/-6 and --source (its resolved address), or NULL; the caller's.
   * Every connection comes from the source (see plan_sources). */
  const cli_net *net;
} lg_opts;

typedef struct lg_result {
  uint64_t requests; /* measured: replies (echo, udp), messages sent
                       (stream), lines delivered (chat) or connections
                       opened (connect) */
  uint64_t bytes_sent, bytes_received;
  uint64_t errors; /* failed connections, mismatches, lost datagrams */
  uint64_t mismatches;
  uint64_t lost;
  uint64_t connected;
  double seconds;      /* measured time */
  sk_hist *latency_ns; /* reply times; connect: connect (+ handshake) */
  char first_error[SK_ADDR_STRLEN + 128];
} lg_result;

/* Runs the load to completion on a loop of its own.  o (and o->tls, of
 * which each connection takes its own reference) must stay valid until
 * it returns.  Returns 0, or an error when it could not start at all;
 * r->latency_ns is set (free it with sk_hist_free) whenever 0 is
 * returned. */
int lg_run(const lg_opts *o, lg_result *r);

#endif
