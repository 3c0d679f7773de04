/* acl.c -- access lists: allow and deny rules by network.
 *
 * The rules of one action, one family and one prefix length live in one
 * open-addressing hash set keyed by the network's bytes (host bits
 * cleared).  A check masks the address to each prefix length present,
 * longest first, and probes that set: its cost is one probe per distinct
 * prefix length (at most 33 for IPv4, 129 for IPv6), whatever the number
 * of rules.  Sets stay at most half full and grow by doubling, so memory
 * is bounded by the rules: under 4 slots of 24 bytes per rule, its label,
 * and one small header per prefix length in use.
 *
 * The rules come from the operator, not from peers, so the hash is not
 * keyed against chosen collisions: a peer picks only the address it is
 * probed with, not what the sets hold. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define V4_LENS 33  /* prefix lengths 0-32 */
#define V6_LENS 129 /* prefix lengths 0-128 */
#define FIRST_CAP 8 /* slots of a new set, a power of two */

/* One rule.  label is NULL in an empty slot. */
typedef struct slot {
  char *label;
  uint8_t key[16];
} slot;

/* The rules of one action, family and prefix length. */
typedef struct rule_set {
  size_t count; /* rules */
  size_t cap;   /* slots, a power of two, at least 2 * count */
  slot *slots;
} rule_set;

/* The rules of one action and one family. */
typedef struct family_rules {
  rule_set *sets[V6_LENS]; /* by prefix length; NULL when no rule has it */
  uint8_t lens[V6_LENS];   /* the prefix lengths present, longest first */
  unsigned nlens;
} family_rules;

/* The rules of one action. */
typedef struct action_rules {
  family_rules v4, v6;
  size_t count;
} action_rules;

struct sk_acl {
  size_t refs; /* a list is used from its loop's thread only */
  action_rules allow, deny;
};

static unsigned family_width(int family) {
  return family == AF_INET ? 4 : 16;
}

static uint64_t mix64(uint64_t x) {
  /* splitmix64's finalizer: every input bit moves every output bit. */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint64_t hash_key(const uint8_t *key, unsigned width) {
  uint64_t h = width, w;

  for (unsigned i = 0; i < width; i += 8) {
    w = 0;
    memcpy(&w, key + i, width - i < 8 ? width - i : 8);
    h = mix64(h ^ w);
  }
  return h;
}

/* The slot holding key, or the empty slot where it would go.  The set is
 * never full, so the probe ends. */
static slot *find(const rule_set *s, const uint8_t *key, unsigned width) {
  size_t mask = s->cap - 1, i = (size_t)hash_key(key, width) & mask;

  while (s->slots[i].label != NULL && memcmp(s->slots[i].key, key, width) != 0)
    i = (i + 1) & mask;
  return &s->slots[i];
}

/* Doubles s's slots.  On failure s is unchanged. */
static int grow(rule_set *s, unsigned width) {
  rule_set bigger = {s->count, s->cap * 2, NULL};

  bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
  if (bigger.slots == NULL)
    return UV_ENOMEM;
  for (size_t i = 0; i < s->cap; i++)
    if (s->slots[i].label != NULL)
      *find(&bigger, s->slots[i].key, width) = s->slots[i];
  free(s->slots);
  *s = bigger;
  return 0;
}

/* The set for prefix in r, made (and its length listed) if missing. */
static rule_set *set_for(family_rules *r, unsigned prefix) {
  rule_set *s = r->sets[prefix];
  unsigned i;

  if (s != NULL)
    return s;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->cap = FIRST_CAP;
  s->slots = calloc(s->cap, sizeof *s->slots);
  if (s->slots == NULL) {
    free(s);
    return NULL;
  }
  r->sets[prefix] = s;
  for (i = r->nlens; i > 0 && r->lens[i - 1] < prefix; i--)
    r->lens[i] = r->lens[i - 1];
  r->lens[i] = (uint8_t)prefix;
  r->nlens++;
  return s;
}

sk_acl *sk_acl_new(void) {
  sk_acl *a = calloc(1, sizeof *a);

  if (a != NULL)
    a->refs = 1;
  return a;
}

static action_rules *rules_of(sk_acl *a, sk_acl_action action) {
  return action == SK_ACL_DENY ? &a->deny : &a->allow;
}

/* n as a rule's key: a valid network, IPv4-mapped networks folded into
 * IPv4 and host bits cleared.  A network built by hand goes through the
 * parser's own checks by way of its text, so that there is one definition
 * of a valid network.  Also writes the key's text into text. */
static int rule_net(const sk_net *n, sk_net *out, char text[SK_NET_STRLEN]) {
  sk_net_format(n, text, SK_NET_STRLEN);
  if (sk_net_parse(out, text) != 0)
    return SK_EBADNET;
  sk_net_network(out, out);
  sk_net_format(out, text, SK_NET_STRLEN);
  return 0;
}

int sk_acl_add(sk_acl *a, const sk_net *n, sk_acl_action action,
               const char *label) {
  char text[SK_NET_STRLEN], *copy;
  action_rules *ar;
  family_rules *fr;
  rule_set *s;
  slot *sl;
  sk_net net;
  unsigned width;

  if ((action != SK_ACL_ALLOW && action != SK_ACL_DENY) ||
      rule_net(n, &net, text) != 0)
    return SK_EBADNET;
  ar = rules_of(a, action);
  fr = net.family == AF_INET ? &ar->v4 : &ar->v6;
  width = family_width(net.family);
  s = fr->sets[net.prefix];
  if (s != NULL && find(s, net.addr, width)->label != NULL)
    return 0; /* the same rule: the first label stays */
  copy = strdup(label != NULL ? label : text);
  if (copy == NULL)
    return UV_ENOMEM;
  s = set_for(fr, net.prefix);
  if (s == NULL || ((s->count + 1) * 2 > s->cap && grow(s, width) != 0)) {
    free(copy);
    return UV_ENOMEM;
  }
  sl = find(s, net.addr, width);
  sl->label = copy;
  memcpy(sl->key, net.addr, width);
  s->count++;
  ar->count++;
  return 0;
}

/* The label of the longest rule in r covering ip, or NULL. */
static const char *lookup(const family_rules *r, const sk_net *ip) {
  unsigned width = family_width(ip->family);
  sk_net key = *ip;

  for (unsigned i = 0; i < r->nlens; i++) {
    const rule_set *s = r->sets[r->lens[i]];
    const slot *sl;
    key.prefix = r->lens[i];
    sk_net_network(&key, &key);
    sl = find(s, key.addr, width);
    if (sl->label != NULL)
      return sl->label;
  }
  return NULL;
}

static sk_acl_action decide(sk_acl_action action, const char *text,
                            const char **why) {
  if (why != NULL)
    *why = text;
  return action;
}

sk_acl_action sk_acl_check(const sk_acl *a, const struct sockaddr *sa,
                           const char **why) {
  sk_net ip;
  const char *label;
  int v4;

  if (sk_net_from_sockaddr(&ip, sa) != 0)
    return decide(SK_ACL_ALLOW, "not an IP address", why);
  if (a == NULL || a->allow.count + a->deny.count == 0)
    return decide(SK_ACL_ALLOW, "no rules", why);
  v4 = ip.family == AF_INET;
  label = lookup(v4 ? &a->deny.v4 : &a->deny.v6, &ip);
  if (label != NULL)
    return decide(SK_ACL_DENY, label, why);
  label = lookup(v4 ? &a->allow.v4 : &a->allow.v6, &ip);
  if (label != NULL)
    return decide(SK_ACL_ALLOW, label, why);
  if (a->allow.count > 0)
    return decide(SK_ACL_DENY, "no allow rule matches", why);
  return decide(SK_ACL_ALLOW, "no deny rule matches", why);
}

size_t sk_acl_count(const sk_acl *a, sk_acl_action action) {
  if (a == NULL)
    return 0;
  return action == SK_ACL_DENY    ? a->deny.count
         : action == SK_ACL_ALLOW ? a->allow.count
                                  : 0;
}

sk_acl *sk_acl_ref(sk_acl *a) {
  if (a != NULL)
    a->refs++;
  return a;
}

static void free_family(family_rules *r) {
  for (unsigned i = 0; i < r->nlens; i++) {
    rule_set *s = r->sets[r->lens[i]];
    for (size_t j = 0; j < s->cap; j++)
      free(s->slots[j].label);
    free(s->slots);
    free(s);
  }
}

void sk_acl_unref(sk_acl *a) {
  if (a == NULL || --a->refs > 0)
    return;
  free_family(&a->allow.v4);
  free_family(&a->allow.v6);
  free_family(&a->deny.v4);
  free_family(&a->deny.v6);
  free(a);
}
