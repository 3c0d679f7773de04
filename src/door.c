/* door.c -- who may come in: a server's access list, its count of open
 * connections per source and its rate of new ones per source, checked
 * before a new peer costs anything (no byte read, no handshake).
 *
 * A source is an IPv4 address, or an IPv6 network of per_ip_prefix6 bits
 * (one host usually holds a whole /64).  Sources live in a hash table only
 * while they matter: while they have connections open, or while their
 * token bucket is not yet full again.  The table is swept of the others
 * before it grows, so its size follows the sources seen in the last rate
 * period plus those connected, never the total ever seen.
 *
 * The rate is a token bucket kept as one number per source, its
 * "theoretical arrival time" (GCRA): each admission pushes it one interval
 * (period / burst) later, and a new connection is refused when it lies
 * more than a period ahead of now.  No timer, no refill loop.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More sources than this at once (distinct addresses connected or seen
 * within one rate period) are refused as a flood: 2^20 entries of 48
 * bytes, 48 MiB at most. */
#define SOURCES_MAX (1u << 20)

#define RATE_PERIOD_MAX_MS (365ull * 24 * 3600 * 1000)

struct sk__source {
  sk__source *hnext;
  uint64_t tat_us; /* the token bucket's theoretical arrival time */
  unsigned open;   /* peers of this source not yet closed */
  int family;
  uint8_t key[16]; /* the address, IPv6 cut to the source prefix */
};

struct sk__door {
  sk__source **buckets;
  unsigned nbuckets; /* a power of two, or 0 */
  unsigned count;
  uint64_t swept_ms;   /* when a full table was last swept (us) */
  uint64_t warned_ms;  /* when refusals were last summed up, 0: never */
  uint64_t since_warn; /* refusals since then */
};

/* ------------------------------------------------------------- sources */

static uint64_t now_us(sk_server *s) {
  return sk__now(s->loop) * 1000;
}

/* The source of an IP address: its network of the source prefix. */
static void source_key(sk_server *s, const sk_net *ip, int *family,
                       uint8_t key[16]) {
  sk_net n = *ip, net;

  if (n.family == AF_INET6) /* 1-128 (sk_server_start checked it) */
    n.prefix = s->opts.per_ip_prefix6 > 0 ? s->opts.per_ip_prefix6 : 64;
  sk_net_network(&n, &net);
  *family = net.family;
  memset(key, 0, 16);
  memcpy(key, net.addr, net.family == AF_INET ? 4 : 16);
}

static unsigned key_hash(int family, const uint8_t key[16]) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)family; /* FNV-1a */

  for (int i = 0; i < 16; i++)
    h = (h ^ key[i]) * 1099511628211ull;
  return (unsigned)(h ^ (h >> 32));
}

/* A source that holds nothing: no peer open, its bucket full again. */
static bool source_idle(const sk__source *src, uint64_t now) {
  return src->open == 0 && src->tat_us <= now;
}

static void sweep(sk__door *d, uint64_t now) {
  for (unsigned i = 0; i < d->nbuckets; i++) {
    sk__source **pp = &d->buckets[i];
    while (*pp != NULL) {
      sk__source *src = *pp;
      if (source_idle(src, now)) {
        *pp = src->hnext;
        free(src);
        d->count--;
      } else {
        pp = &src->hnext;
      }
    }
  }
}

static int grow(sk__door *d) {
  unsigned n = d->nbuckets > 0 ? d->nbuckets * 2 : 64;
  sk__source **b = calloc(n, sizeof(*b));

  if (b == NULL)
    return UV_ENOMEM;
  for (unsigned i = 0; i < d->nbuckets; i++) {
    sk__source *src = d->buckets[i], *next;
    for (; src != NULL; src = next) {
      unsigned h = key_hash(src->family, src->key) & (n - 1);
      next = src->hnext;
      src->hnext = b[h];
      b[h] = src;
    }
  }
  free(d->buckets);
  d->buckets = b;
  d->nbuckets = n;
  return 0;
}

/* The source's entry, made when missing; NULL when the table is full or
 * memory runs out.  Before the table grows it is swept: O(sources) once
 * per doubling, so O(1) per new source amortized.  A table at
 * SOURCES_MAX cannot grow: it is swept once a second at most (some 50 ms
 * for 2^20 entries), not once per new source, so a flood of sources
 * (spoofed UDP) costs the loop 5 % at most; meanwhile new sources are
 * refused and the sources already known go on as before. */
static sk__source *source_get(sk_server *s, const sk_net *ip) {
  sk__door *d = s->door;
  uint64_t now = now_us(s);
  sk__source *src;
  uint8_t key[16];
  int family;
  unsigned h;

  source_key(s, ip, &family, key);
  if (d->nbuckets > 0) {
    h = key_hash(family, key) & (d->nbuckets - 1);
    for (src = d->buckets[h]; src != NULL; src = src->hnext)
      if (src->family == family && memcmp(src->key, key, 16) == 0)
        return src;
  }
  if (d->count >= SOURCES_MAX && now - d->swept_ms < 1000000)
    return NULL;
  if (d->count >= d->nbuckets) {
    d->swept_ms = now;
    sweep(d, now);
    if (d->count >= d->nbuckets / 2 && (d->count >= SOURCES_MAX || grow(d)))
      return NULL;
  }
  src = calloc(1, sizeof(*src));
  if (src == NULL)
    return NULL;
  src->family = family;
  memcpy(src->key, key, 16);
  h = key_hash(family, key) & (d->nbuckets - 1);
  src->hnext = d->buckets[h];
  d->buckets[h] = src;
  d->count++;
  return src;
}

/* GCRA: whether one more connection fits in the source's bucket, and if
 * so takes its token. */
static bool rate_take(sk_server *s, sk__source *src) {
  uint64_t now = now_us(s), period = s->opts.rate_period_ms * 1000;
  uint64_t interval = period / s->opts.rate_burst;
  uint64_t tat = src->tat_us > now ? src->tat_us : now;

  if (interval == 0)
    interval = 1;
  if (tat + interval > now + period)
    return false;
  src->tat_us = tat + interval;
  return true;
}

/* --------------------------------------------------------------- admit */

static bool limits_on(const sk_server *s) {
  return s->opts.max_conns_per_ip > 0 || s->opts.rate_burst > 0;
}

int sk__door_admit(sk_server *s, const struct sockaddr *sa, sk__source **out,
                   char *why, size_t whylen) {
  sk_net ip;
  const char *rule = NULL;
  char who[SK_NET_STRLEN];
  sk__source *src;

  *out = NULL;
  if (sk_net_from_sockaddr(&ip, sa) != 0)
    return 0; /* not IP (Unix): no rules apply */
  if (s->opts.acl != NULL &&
      sk_acl_check(s->opts.acl, sa, &rule) == SK_ACL_DENY) {
    snprintf(why, whylen, "%s", rule != NULL ? rule : "denied");
    return SK_EDENIED;
  }
  if (!limits_on(s))
    return 0;
  src = source_get(s, &ip);
  if (src == NULL) {
    snprintf(why, whylen, "too many sources at once (%u)", s->door->count);
    return SK_ERATE;
  }
  if (s->opts.max_conns_per_ip > 0 && src->open >= s->opts.max_conns_per_ip) {
    sk_net_format(&ip, who, sizeof(who));
    snprintf(why, whylen, "already %u open from %s%s, the most per source",
             src->open, who,
             ip.family == AF_INET6 && s->opts.per_ip_prefix6 != 128
                 ? "'s network"
                 : "");
    return SK_EPERIP;
  }
  if (s->opts.rate_burst > 0 && !rate_take(s, src)) {
    sk_net_format(&ip, who, sizeof(who));
    snprintf(why, whylen, "over %u new connections per %.3g s from %s",
             s->opts.rate_burst, (double)s->opts.rate_period_ms / 1000, who);
    return SK_ERATE;
  }
  src->open++;
  *out = src;
  return 0;
}

void sk__door_refund(sk_server *s, sk__source *src) {
  uint64_t interval;

  if (src == NULL || s->opts.rate_burst == 0)
    return;
  interval = s->opts.rate_period_ms * 1000 / s->opts.rate_burst;
  src->tat_us -= interval > 0 && src->tat_us >= interval ? interval : 0;
}

void sk__door_leave(sk_server *s, sk__source *src) {
  if (src != NULL && src->open > 0)
    src->open--;
  (void)s; /* idle entries go at the next sweep */
}

/* ----------------------------------------------------------- refusals */

#define SUMMARY_MS 60000

/* Logs one refusal: with -v every one (INFO); otherwise the first, then
 * one line a minute at most with the count since the last. */
void sk__door_refused(sk_server *s, int reason, const char *what,
                      const char *name, const char *why) {
  sk__door *d = s->door;
  uint64_t now = sk__now(s->loop);
  bool summary = d->warned_ms == 0 || now - d->warned_ms >= SUMMARY_MS;

  switch (reason) {
  case SK_EDENIED:
    s->stats.denied++;
    break;
  case SK_EPERIP:
    s->stats.per_ip++;
    break;
  default:
    s->stats.rate++;
    break;
  }
  d->since_warn++;
  if (!summary) {
    sk__log(SK_LOG_INFO, "refused %s %s (%s)", what, name, why);
    return;
  }
  if (d->warned_ms == 0)
    sk__log(SK_LOG_WARN, "refused %s %s (%s)%s", what, name, why,
            sk__log_enabled(SK_LOG_INFO)
                ? ""
                : "; refusals are summed up once a minute, -v logs each");
  else
    sk__log(SK_LOG_WARN,
            "refused %s %s (%s); %ju refused in the last %ju s (access rules "
            "%ju, per-source limit %ju, rate %ju in all)",
            what, name, why, (uintmax_t)d->since_warn,
            (uintmax_t)((now - d->warned_ms) / 1000),
            (uintmax_t)s->stats.denied, (uintmax_t)s->stats.per_ip,
            (uintmax_t)s->stats.rate);
  d->warned_ms = now > 0 ? now : 1;
  d->since_warn = 0;
}

/* --------------------------------------------------------- life cycle */

int sk__door_init(sk_server *s) {
  s->door = calloc(1, sizeof(*s->door));
  if (s->door == NULL)
    return UV_ENOMEM;
  if (s->opts.acl != NULL)
    sk_acl_ref(s->opts.acl);
  if (s->opts.rate_burst > 0 && s->opts.rate_period_ms == 0)
    s->opts.rate_period_ms = 1000;
  /* A year at most: the bucket counts in microseconds. */
  if (s->opts.rate_period_ms > RATE_PERIOD_MAX_MS)
    s->opts.rate_period_ms = RATE_PERIOD_MAX_MS;
  return 0;
}

void sk__door_free(sk_server *s) {
  sk__door *d = s->door;

  if (d == NULL)
    return;
  for (unsigned i = 0; i < d->nbuckets; i++) {
    sk__source *src = d->buckets[i], *next;
    for (; src != NULL; src = next) {
      next = src->hnext;
      free(src);
    }
  }
  free(d->buckets);
  free(d);
  s->door = NULL;
  sk_acl_unref(s->opts.acl);
  s->opts.acl = NULL;
}

void sk_server_set_acl(sk_server *s, sk_acl *acl) {
  sk_acl *old = s->opts.acl;

  s->opts.acl = acl != NULL ? sk_acl_ref(acl) : NULL;
  sk_acl_unref(old);
}

void sk_server_stats_get(const sk_server *s, sk_server_stats *out) {
  *out = s->stats;
}
