/* loadgen.c -- the load generator behind `sockit bench`, a client of the
 * library like any other.
 *
 * Every connection keeps `pipeline` requests in flight.  Echo mode keeps
 * the send times in a ring per connection (replies come back in order on a
 * stream); UDP mode gives each in-flight slot its own sequence number,
 * carried in the datagram, because datagrams may be lost or reordered.
 * Connect mode keeps `conns` connection attempts in flight: each one that
 * opens (its TLS handshake done, for tls://) is closed at once and its
 * slot starts the next.  A 100 ms tick moves the run through its phases:
 * warm-up, measurement, draining, closing.
 */
#include "loadgen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 100
#define DRAIN_MS 2000             /* wait this long for replies at the end */
#define UDP_LOST_NS 1000000000ull /* a datagram unanswered for 1 s is lost */
#define PORTS_PER_SOURCE 20000    /* connections per 127.0.0.x source */
#define SEQ_DIGITS 16

enum phase { WARMUP, MEASURE, DRAINING, CLOSING };

typedef struct lg lg;

typedef struct lg_conn {
  lg *g;
  sk_peer *peer;
  uint64_t *sent_at; /* echo: ring of send times; udp: per slot, 0 = free */
  uint64_t *seq;     /* sequence numbers, same layout */
  unsigned head, count;
  uint64_t next_seq;
  uint64_t started_at; /* connect: when this attempt began */
  bool opened, closed;
} lg_conn;

struct lg {
  uv_loop_t loop;
  const lg_opts *o;
  lg_result *r;
  sk_client_opts co; /* what every connection is made with */
  lg_conn *conns;
  char *msg;       /* the request being built */
  char *tmpl;      /* what every request looks like */
  size_t overhead; /* framing bytes around a message */
  uv_timer_t tick;
  uv_idle_t refill; /* stream mode: keep every connection writing */
  enum phase phase;
  uint64_t start_ns, measure_ns, drain_ns;
  uint64_t issued, answered; /* for --requests: counted from the start */
  uint64_t delivered;        /* chat: lines received by any reader */
  unsigned nclosed;
  uint64_t shown_ns, shown_requests;
  uint64_t moved_ns, moved;      /* when the run last made progress, and how */
  struct sockaddr_storage local; /* where connections come from */
  bool spread;                   /* over 127.0.0.x, from local's */
  uint32_t first_source;         /* local's IPv4 address, host order */
};

static void chat_fill(struct lg_conn *c);
static int conn_start(lg *g, lg_conn *c);

static uint64_t now_ns(void) {
  return uv_hrtime();
}

/* --------------------------------------------------------------- phases */

static bool measuring(const lg *g, uint64_t sent_at) {
  return g->phase == MEASURE && sent_at >= g->measure_ns;
}

static bool may_send(const lg *g) {
  if (g->phase >= DRAINING)
    return false;
  return g->o->requests == 0 || g->issued < g->o->requests;
}

static void close_conn(lg_conn *c) {
  if (c->peer != NULL && !c->closed)
    sk_peer_close(c->peer, SK_ECLOSED);
}

/* Stops sending; connections close once their answers are in. */
static void start_draining(lg *g) {
  uint64_t now = now_ns();

  if (g->phase >= DRAINING)
    return;
  if (g->phase == WARMUP) /* --requests: everything was measured */
    g->measure_ns = g->start_ns;
  g->phase = DRAINING;
  g->drain_ns = now;
  g->r->seconds = (double)(now - g->measure_ns) / 1e9;
  /* Connect mode lets the attempts in flight finish: they are closed as
   * they open, or by the drain timeout. */
  for (unsigned i = 0; i < g->o->conns && g->o->mode != LG_CONNECT; i++)
    if (g->conns[i].count == 0 || g->o->mode == LG_STREAM ||
        g->o->mode == LG_CHAT)
      close_conn(&g->conns[i]);
}

static void set_error(lg *g, const char *fmt, const char *a, const char *b) {
  if (g->r->first_error[0] == '\0')
    snprintf(g->r->first_error, sizeof(g->r->first_error), fmt, a, b);
}

/* A connection that did not open: why, naming --source when the source
 * address is at fault. */
static void connect_error(lg *g, int err) {
  char where[SK_ADDR_STRLEN];

  if (g->r->first_error[0] != '\0')
    return;
  sk_addr_format(&g->o->addr, where, sizeof(where));
  if (g->o->net != NULL && cli_net_source_failed(g->o->net, err))
    snprintf(g->r->first_error, sizeof(g->r->first_error),
             "connect %s: --source %s: %s%s", where, g->o->net->source_text,
             sk_strerror(err), cli_net_source_hint(err));
  else
    set_error(g, "connect %s: %s", where, sk_strerror(err));
}

/* -------------------------------------------------------------- requests */

static void format_seq(char *p, uint64_t seq) {
  static const char hex[] = "0123456789abcdef";

  for (int i = SEQ_DIGITS - 1; i >= 0; i--, seq >>= 4)
    p[i] = hex[seq & 15];
}

static bool parse_seq(const char *p, uint64_t *seq) {
  uint64_t v = 0;

  for (int i = 0; i < SEQ_DIGITS; i++) {
    char ch = p[i];
    int d = ch >= '0' && ch <= '9'   ? ch - '0'
            : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                     : -1;
    if (d < 0)
      return false;
    v = (v << 4) | (uint64_t)d;
  }
  *seq = v;
  return true;
}

static size_t msg_size(const lg *g) {
  return g->o->payload != NULL ? strlen(g->o->payload) : g->o->size;
}

/* Requests carry their sequence number when there is room for it, so a
 * reply out of order or from another request is caught. */
static bool carries_seq(const lg *g) {
  return g->o->payload == NULL && g->o->size >= SEQ_DIGITS;
}

static void send_request(lg *g, lg_conn *c, uint64_t seq) {
  size_t n = msg_size(g);

  memcpy(g->msg, g->tmpl, n);
  if (carries_seq(g))
    format_seq(g->msg, seq);
  if (sk_peer_send(c->peer, g->msg, n) == 0) {
    g->issued++;
    if (g->phase == MEASURE)
      g->r->bytes_sent += n + g->overhead;
  }
}

static bool reply_matches(const lg *g, const char *msg, size_t len,
                          uint64_t seq) {
  size_t n = msg_size(g);
  uint64_t got;

  if (g->o->payload != NULL)
    return true; /* another server's reply: counted, not checked */
  if (len != n)
    return false;
  if (!carries_seq(g))
    return memcmp(msg, g->tmpl, n) == 0;
  return parse_seq(msg, &got) && got == seq &&
         memcmp(msg + SEQ_DIGITS, g->tmpl + SEQ_DIGITS, n - SEQ_DIGITS) == 0;
}

/* ------------------------------------------------------------ echo mode */

static void echo_send(lg_conn *c) {
  lg *g = c->g;
  unsigned slot = (c->head + c->count) % g->o->pipeline;

  c->seq[slot] = c->next_seq++;
  c->sent_at[slot] = now_ns();
  c->count++;
  send_request(g, c, c->seq[slot]);
}

static void echo_reply(lg_conn *c, const char *msg, size_t len) {
  lg *g = c->g;
  uint64_t sent_at, seq, now = now_ns();

  if (c->count == 0) {
    g->r->mismatches++;
    return;
  }
  sent_at = c->sent_at[c->head];
  seq = c->seq[c->head];
  c->head = (c->head + 1) % g->o->pipeline;
  c->count--;
  g->answered++;
  if (measuring(g, sent_at)) {
    sk_hist_record(g->r->latency_ns, now - sent_at);
    g->r->requests++;
    g->r->bytes_received += len + g->overhead;
  }
  if (!reply_matches(g, msg, len, seq))
    g->r->mismatches++;
  if (g->o->requests != 0 && g->answered >= g->o->requests)
    start_draining(g);
  if (may_send(g))
    echo_send(c);
  else if (g->phase >= DRAINING && c->count == 0)
    close_conn(c);
}

/* ------------------------------------------------------------- UDP mode */

/* Slot i carries sequence numbers i, i + P, i + 2P, ... so a reply finds
 * its slot without a search, and a late one is recognised as stale. */
static void udp_send(lg_conn *c, unsigned slot) {
  c->sent_at[slot] = now_ns();
  send_request(c->g, c, c->seq[slot]);
}

static void udp_reply(lg_conn *c, const char *msg, size_t len) {
  lg *g = c->g;
  unsigned P = g->o->pipeline, slot;
  uint64_t seq, sent_at, now = now_ns();

  if (len < SEQ_DIGITS || !parse_seq(msg, &seq)) {
    g->r->mismatches++;
    return;
  }
  slot = (unsigned)(seq % P);
  sent_at = c->sent_at[slot];
  if (sent_at == 0 || c->seq[slot] != seq)
    return; /* a late reply to a datagram already counted lost */
  g->answered++;
  if (measuring(g, sent_at)) {
    sk_hist_record(g->r->latency_ns, now - sent_at);
    g->r->requests++;
    g->r->bytes_received += len;
  }
  if (!reply_matches(g, msg, len, seq))
    g->r->mismatches++;
  c->seq[slot] += P;
  c->sent_at[slot] = 0;
  if (g->o->requests != 0 && g->answered >= g->o->requests)
    start_draining(g);
  if (may_send(g))
    udp_send(c, slot);
}

static unsigned udp_in_flight(const lg_conn *c) {
  unsigned n = 0;

  for (unsigned i = 0; i < c->g->o->pipeline; i++)
    n += c->sent_at[i] != 0;
  return n;
}

/* Counts datagrams unanswered for too long as lost and sends anew. */
static void udp_sweep(lg *g, uint64_t now) {
  for (unsigned i = 0; i < g->o->conns; i++) {
    lg_conn *c = &g->conns[i];
    if (!c->opened || c->closed)
      continue;
    for (unsigned s = 0; s < g->o->pipeline; s++) {
      if (c->sent_at[s] == 0 || now - c->sent_at[s] < UDP_LOST_NS)
        continue;
      if (measuring(g, c->sent_at[s]))
        g->r->lost++;
      c->seq[s] += g->o->pipeline;
      c->sent_at[s] = 0;
      if (may_send(g))
        udp_send(c, s);
    }
    if (g->phase >= DRAINING && udp_in_flight(c) == 0)
      close_conn(c);
  }
}

/* ---------------------------------------------------------- stream mode */

/* Writes until the connection's queue holds back, or a budget is spent:
 * when the kernel takes everything at once, the idle handle comes back
 * for more after the loop saw to other events. */
static void stream_fill(lg_conn *c) {
  lg *g = c->g;
  size_t n = msg_size(g);

  for (int budget = 64; budget > 0 && may_send(g) && c->opened && !c->closed &&
                        sk_peer_writable(c->peer, n);
       budget--) {
    if (sk_peer_send(c->peer, g->tmpl, n) != 0)
      return;
    g->issued++;
    if (g->phase == MEASURE) {
      g->r->requests++;
      g->r->bytes_sent += n + g->overhead;
    }
  }
}

static void refill_cb(uv_idle_t *idle) {
  lg *g = idle->data;

  if (!may_send(g)) {
    uv_idle_stop(idle);
    return;
  }
  for (unsigned i = 0; i < g->o->conns; i++) {
    if (g->o->mode == LG_CHAT)
      chat_fill(&g->conns[i]);
    else
      stream_fill(&g->conns[i]);
  }
}

/* ------------------------------------------------------------ chat mode */

/* Every reader sends lines stamped with their send time; every line
 * reaches the other readers as "NAME: TEXT".  A shared window keeps the
 * lines not yet delivered under `pipeline` per reader, so the send rate
 * follows the readers, as in a real room; stalled clients (--stall) are
 * left out of it, and the server is expected to drop them. */
static unsigned chat_readers(const lg *g) {
  return g->o->conns - g->o->stall;
}

static bool chat_stalled(const lg *g, const lg_conn *c) {
  return (unsigned)(c - g->conns) >= chat_readers(g);
}

static bool chat_window_open(const lg *g) {
  uint64_t r = chat_readers(g);

  return r < 2 || g->issued * (r - 1) < g->delivered + r * g->o->pipeline;
}

static void chat_fill(lg_conn *c) {
  lg *g = c->g;
  size_t n = msg_size(g);

  if (!c->opened || c->closed || chat_stalled(g, c))
    return;
  for (int budget = 16; budget > 0 && may_send(g) && chat_window_open(g) &&
                        sk_peer_writable(c->peer, n);
       budget--) {
    memcpy(g->msg, g->tmpl, n);
    format_seq(g->msg, now_ns());
    if (sk_peer_send(c->peer, g->msg, n) != 0)
      return;
    g->issued++;
    if (g->phase == MEASURE)
      g->r->bytes_sent += n + g->overhead;
  }
}

/* A delivered line ends with the line that was sent, whatever the server
 * puts before it ("NAME: " for sockit, "<userN> " for ncat --chat). */
static void chat_line(lg_conn *c, const char *msg, size_t len) {
  lg *g = c->g;
  size_t n = msg_size(g);
  uint64_t sent_at, now;

  if (len >= 2 && msg[0] == '*' && msg[1] == ' ')
    return; /* a notice */
  if (len < n || !parse_seq(msg + len - n, &sent_at) ||
      memcmp(msg + len - n + SEQ_DIGITS, g->tmpl + SEQ_DIGITS,
             n - SEQ_DIGITS) != 0) {
    g->r->mismatches++;
    return;
  }
  g->delivered++;
  if (!measuring(g, sent_at))
    return;
  now = now_ns();
  sk_hist_record(g->r->latency_ns, now > sent_at ? now - sent_at : 0);
  g->r->requests++;
  g->r->bytes_received += len + g->overhead;
}

/* --------------------------------------------------------- connect mode */

/* An attempt opened: its connect (+ handshake) time is the latency, and
 * the connection is closed at once. */
static void connect_opened(lg_conn *c) {
  lg *g = c->g;

  g->answered++;
  if (measuring(g, c->started_at)) {
    sk_hist_record(g->r->latency_ns, now_ns() - c->started_at);
    g->r->requests++;
  }
  if (g->o->requests != 0 && g->answered >= g->o->requests)
    start_draining(g);
  close_conn(c);
}

/* An attempt ended (opened and closed, or failed).  Returns true when its
 * slot went on with the next attempt. */
static bool connect_next(lg_conn *c, int reason) {
  lg *g = c->g;

  if (!c->opened) { /* a failed attempt is answered by its error */
    g->answered++;
    if (reason != 0 && reason != SK_ECLOSED) {
      g->r->errors++;
      connect_error(g, reason);
    }
    if (g->o->requests != 0 && g->answered >= g->o->requests)
      start_draining(g);
  }
  while (may_send(g)) {
    int err = conn_start(g, c);
    if (err == 0)
      return true;
    /* Refused before it began (no ephemeral port, no memory): counted,
     * and the next attempt tries again, up to the run's end. */
    g->answered++;
    g->r->errors++;
    connect_error(g, err);
    if (g->o->requests != 0 && g->answered >= g->o->requests)
      start_draining(g);
    if (g->o->requests == 0)
      break; /* with --duration, this slot rests: others go on */
  }
  return false;
}

/* ------------------------------------------------------------ callbacks */

static void on_open(sk_peer *p, void *ctx) {
  lg_conn *c = ctx;
  lg *g = c->g;

  c->opened = true;
  g->r->connected++;
  if (g->o->mode == LG_CONNECT) {
    connect_opened(c);
    return;
  }
  if (g->phase >= DRAINING) {
    close_conn(c);
    return;
  }
  for (unsigned i = 0;
       g->o->mode != LG_CHAT && i < g->o->pipeline && may_send(g); i++) {
    if (g->o->mode == LG_ECHO)
      echo_send(c);
    else if (g->o->mode == LG_UDP)
      udp_send(c, i);
  }
  if (g->o->mode == LG_STREAM)
    stream_fill(c);
  if (g->o->mode == LG_CHAT && chat_stalled(g, c))
    sk_peer_pause(p);
}

static void on_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  lg_conn *c = ctx;

  (void)p;
  if (c->g->o->mode == LG_UDP)
    udp_reply(c, msg, len);
  else if (c->g->o->mode == LG_ECHO)
    echo_reply(c, msg, len);
  else if (c->g->o->mode == LG_CHAT)
    chat_line(c, msg, len);
}

static void on_drain(sk_peer *p, void *ctx) {
  lg_conn *c = ctx;

  (void)p;
  if (c->g->o->mode == LG_STREAM)
    stream_fill(c);
}

static void finish(lg *g) {
  if (g->phase == CLOSING)
    return;
  g->phase = CLOSING;
  uv_close((uv_handle_t *)&g->tick, NULL);
  uv_close((uv_handle_t *)&g->refill, NULL);
}

static void on_close(sk_peer *p, int reason, void *ctx) {
  lg_conn *c = ctx;
  lg *g = c->g;
  char where[SK_ADDR_STRLEN];

  (void)p;
  c->closed = true;
  c->peer = NULL;
  if (g->o->mode == LG_CONNECT && connect_next(c, reason))
    return;
  if (g->o->mode != LG_CONNECT && reason != 0 && reason != SK_ECLOSED &&
      (g->phase < DRAINING || !c->opened)) {
    g->r->errors++;
    sk_addr_format(&g->o->addr, where, sizeof(where));
    if (c->opened)
      set_error(g, "%s: %s", where, sk_strerror(reason));
    else
      connect_error(g, reason);
  }
  if (++g->nclosed == g->o->conns) {
    if (g->phase < DRAINING)
      start_draining(g);
    finish(g);
  }
}

static const sk_handler handler = {
    .on_open = on_open,
    .on_message = on_message,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* ------------------------------------------------------------------ tick */

static void show_progress(lg *g, uint64_t now) {
  double dt = (double)(now - g->shown_ns) / 1e9;
  uint64_t n = g->r->requests - g->shown_requests;

  if (!g->o->progress || dt < 1.0)
    return;
  fprintf(stderr, "\r%6.1f s  %s  %12.0f %s/s  p50 %8.1f us  p99 %8.1f us ",
          (double)(now - g->start_ns) / 1e9,
          g->phase == WARMUP ? "warm-up" : "       ", (double)n / dt,
          g->o->mode == LG_STREAM    ? "msg"
          : g->o->mode == LG_CONNECT ? "conn"
                                     : "req",
          (double)sk_hist_percentile(g->r->latency_ns, 50) / 1e3,
          (double)sk_hist_percentile(g->r->latency_ns, 99) / 1e3);
  fflush(stderr);
  g->shown_ns = now;
  g->shown_requests = g->r->requests;
}

/* A run in which nothing moves (no reply, delivery, message or
 * connection) for the connect timeout ends with a reason instead of
 * waiting forever: a server that answers in another framing, or not at
 * all, would otherwise hold `-n N` up without a word. */
static void check_stalled(lg *g, uint64_t now) {
  uint64_t moved =
      g->r->requests + g->answered + g->delivered + g->r->connected + g->issued;
  uint64_t limit = g->o->connect_timeout_ms;
  char secs[32], framing[32];

  if (moved != g->moved || g->moved_ns == 0) {
    g->moved = moved;
    g->moved_ns = now;
    return;
  }
  if (limit == 0 || g->phase >= DRAINING ||
      now - g->moved_ns < limit * 1000000ull)
    return;
  snprintf(secs, sizeof(secs), "%.3g", (double)limit / 1000);
  sk_framing_format(&g->o->framing, framing, sizeof(framing));
  set_error(g,
            "nothing moved for %s s (--timeout): does the server answer, "
            "and in -f %s?",
            secs, framing);
  g->r->errors++;
  start_draining(g);
}

static void tick_cb(uv_timer_t *t) {
  lg *g = t->data;
  uint64_t now = now_ns();

  check_stalled(g, now);
  if (g->phase == WARMUP && g->o->requests == 0 &&
      now - g->start_ns >= g->o->warmup_ms * 1000000ull) {
    g->phase = MEASURE;
    g->measure_ns = now;
  }
  if (g->phase == MEASURE && g->o->requests == 0 &&
      now - g->measure_ns >= g->o->duration_ms * 1000000ull)
    start_draining(g);
  if (g->o->mode == LG_UDP)
    udp_sweep(g, now);
  if (g->phase == DRAINING && now - g->drain_ns >= DRAIN_MS * 1000000ull)
    for (unsigned i = 0; i < g->o->conns; i++)
      close_conn(&g->conns[i]);
  show_progress(g, now);
}

/* ----------------------------------------------------------------- setup */

static void fill_template(lg *g) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t n = msg_size(g);

  if (g->o->payload != NULL) {
    memcpy(g->tmpl, g->o->payload, n);
    return;
  }
  for (size_t i = 0; i < n; i++)
    g->tmpl[i] = alphabet[i % (sizeof(alphabet) - 1)];
}

static bool is_loopback4(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET &&
         (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) ==
             127;
}

/* Where the connections come from: --source, or anywhere.  Above
 * PORTS_PER_SOURCE connections to a 127.x address, from no source or a
 * 127.x one, each block of them comes from its own 127.0.0.x, counting
 * up from the source (127.0.0.1 when none was given), since one source
 * address has only some 28,000 ephemeral ports. */
static void plan_sources(lg *g) {
  const struct sockaddr *src =
      g->o->net != NULL ? cli_net_source(g->o->net) : NULL;
  struct sockaddr_storage ss;
  struct sockaddr_in *local = (struct sockaddr_in *)&g->local;

  memset(&g->local, 0, sizeof(g->local));
  if (src != NULL)
    memcpy(&g->local, src,
           src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                      : sizeof(struct sockaddr_in));
  g->spread = g->o->conns > PORTS_PER_SOURCE &&
              g->o->addr.transport == SK_TCP &&
              sk_addr_resolve(&g->o->addr, &ss) == 0 &&
              is_loopback4((struct sockaddr *)&ss) &&
              (src == NULL || is_loopback4(src));
  if (g->spread && src == NULL) {
    local->sin_family = AF_INET;
    local->sin_addr.s_addr = htonl(0x7f000001u);
  }
  if (g->spread)
    g->first_source = ntohl(local->sin_addr.s_addr);
}

/* The source of slot i's connection, or NULL for any. */
static const struct sockaddr *source_for(lg *g, unsigned i) {
  struct sockaddr_in *local = (struct sockaddr_in *)&g->local;

  if (g->spread)
    local->sin_addr.s_addr = htonl(g->first_source + i / PORTS_PER_SOURCE);
  else if (g->local.ss_family == AF_UNSPEC)
    return NULL;
  return (struct sockaddr *)&g->local;
}

/* Starts slot c's connection (again, in connect mode, where every
 * attempt counts as issued, whether it starts or not). */
static int conn_start(lg *g, lg_conn *c) {
  int err;

  g->co.local_addr = source_for(g, (unsigned)(c - g->conns));
  c->opened = c->closed = false;
  c->started_at = now_ns();
  if (g->o->mode == LG_CONNECT)
    g->issued++;
  err = sk_client_connect(&g->loop, &g->o->addr, &g->co, &handler, c, &c->peer);
  if (err) {
    c->closed = true;
    c->peer = NULL;
  }
  return err;
}

static int start_conns(lg *g) {
  sk_client_opts *co = &g->co;
  int err;

  sk_client_opts_init(co);
  co->framing = g->o->framing;
  co->connect_timeout_ms = g->o->connect_timeout_ms;
  co->max_queue = g->o->mode == LG_STREAM ? (size_t)4 << 20 : (size_t)1 << 20;
  co->tls = g->o->tls;
  co->servername = NULL; /* the address's host */
  plan_sources(g);
  for (unsigned i = 0; i < g->o->conns; i++) {
    lg_conn *c = &g->conns[i];
    c->g = g;
    c->sent_at = calloc(g->o->pipeline, sizeof(*c->sent_at));
    c->seq = calloc(g->o->pipeline, sizeof(*c->seq));
    if (c->sent_at == NULL || c->seq == NULL)
      return UV_ENOMEM;
    for (unsigned s = 0; s < g->o->pipeline; s++)
      c->seq[s] = s;
    if (g->o->mode == LG_CONNECT && !may_send(g)) {
      /* -n below -c: the slots past the count never start. */
      c->closed = true;
      g->nclosed++;
      continue;
    }
    err = conn_start(g, c);
    if (err) {
      /* Connections already started close through the loop. */
      for (unsigned k = i; k < g->o->conns; k++)
        g->conns[k].closed = true;
      g->nclosed += g->o->conns - i;
      return err;
    }
  }
  return 0;
}

static void free_all(lg *g) {
  if (g->conns != NULL)
    for (unsigned i = 0; i < g->o->conns; i++) {
      free(g->conns[i].sent_at);
      free(g->conns[i].seq);
    }
  free(g->conns);
  free(g->msg);
  free(g->tmpl);
  free(g);
}

int lg_run(const lg_opts *o, lg_result *r) {
  lg *g = calloc(1, sizeof(*g));
  size_t n, tlen;
  char hdr[SK_FRAME_HEADER_MAX];
  int err;

  memset(r, 0, sizeof(*r));
  r->latency_ns = sk_hist_new();
  if (g == NULL || r->latency_ns == NULL)
    goto nomem;
  g->o = o;
  g->r = r;
  n = msg_size(g);
  g->conns = calloc(o->conns, sizeof(*g->conns));
  g->msg = malloc(n + 1);
  g->tmpl = malloc(n + 1);
  if (g->conns == NULL || g->msg == NULL || g->tmpl == NULL)
    goto nomem;
  sk_frame_trailer(&o->framing, &tlen);
  err = sk_frame_header(&o->framing, n, hdr);
  if (err < 0) {
    free_all(g);
    return err;
  }
  g->overhead = (size_t)err + tlen;
  fill_template(g);
  uv_loop_init(&g->loop);
  uv_timer_init(&g->loop, &g->tick);
  g->tick.data = g;
  g->start_ns = g->shown_ns = now_ns();
  g->phase = o->warmup_ms > 0 && o->requests == 0 ? WARMUP : MEASURE;
  g->measure_ns = g->start_ns;
  uv_timer_start(&g->tick, tick_cb, TICK_MS, TICK_MS);
  uv_idle_init(&g->loop, &g->refill);
  g->refill.data = g;
  if (o->mode == LG_STREAM || o->mode == LG_CHAT)
    uv_idle_start(&g->refill, refill_cb);
  err = start_conns(g);
  if (err) {
    r->errors++;
    connect_error(g, err);
    start_draining(g);
    for (unsigned i = 0; i < o->conns; i++)
      close_conn(&g->conns[i]);
    if (g->nclosed == o->conns)
      finish(g);
  }
  uv_run(&g->loop, UV_RUN_DEFAULT);
  uv_loop_close(&g->loop);
  if (o->progress)
    fputs("\r\033[K", stderr);
  r->errors += r->mismatches + r->lost;
  free_all(g);
  return 0;
nomem:
  if (g != NULL)
    free_all(g);
  sk_hist_free(r->latency_ns);
  r->latency_ns = NULL;
  return UV_ENOMEM;
}
