/* test_acl.c -- unit tests for access lists (sk_acl_*): deny wins, the
 * longest prefix names the rule, allow lists refuse the rest, IPv4-mapped
 * clients are IPv4, and 10,000 random rules decide as a linear scan
 * does. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ip.h"
#include "sockit.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void add(sk_acl *a, const char *net, sk_acl_action action,
                const char *label) {
  sk_net n;

  if (sk_net_parse(&n, net) != 0)
    fail_msg("test bug: \"%s\" is not a network", net);
  assert_int_equal(sk_acl_add(a, &n, action, label), 0);
}

/* sk_acl_check(a, ip) gives action, with why. */
static void check_is(const sk_acl *a, const char *ip, sk_acl_action action,
                     const char *why) {
  struct sockaddr_storage ss;
  const char *got_why = "(unset)";
  sk_acl_action got = sk_acl_check(a, sa_of(ip, &ss), &got_why);

  if (got != action || got_why == NULL || strcmp(got_why, why) != 0)
    fail_msg("%s: %s \"%s\", expected %s \"%s\"", ip,
             got == SK_ACL_ALLOW ? "allow" : "deny",
             got_why ? got_why : "(null)",
             action == SK_ACL_ALLOW ? "allow" : "deny", why);
  /* why may be NULL. */
  assert_int_equal(sk_acl_check(a, sa_of(ip, &ss), NULL), action);
}

static void test_empty(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  assert_non_null(a);
  check_is(a, "10.1.2.3", SK_ACL_ALLOW, "no rules");
  check_is(a, "::1", SK_ACL_ALLOW, "no rules");
  assert_int_equal(sk_acl_count(a, SK_ACL_ALLOW), 0);
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), 0);
  sk_acl_unref(a);
}

static void test_deny_wins(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "10.0.0.0/8", SK_ACL_ALLOW, "allow ten");
  add(a, "10.1.0.0/16", SK_ACL_DENY, "deny ten-one");
  add(a, "10.1.2.0/24", SK_ACL_ALLOW, "allow ten-one-two");
  add(a, "192.168.0.0/16", SK_ACL_DENY, "deny lan");
  add(a, "192.168.1.1", SK_ACL_ALLOW, "allow one host");
  /* A deny match wins over a longer allow match. */
  check_is(a, "10.1.2.3", SK_ACL_DENY, "deny ten-one");
  check_is(a, "192.168.1.1", SK_ACL_DENY, "deny lan");
  check_is(a, "10.2.0.1", SK_ACL_ALLOW, "allow ten");
  check_is(a, "11.0.0.1", SK_ACL_DENY, "no allow rule matches");
  assert_int_equal(sk_acl_count(a, SK_ACL_ALLOW), 3);
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), 2);
  sk_acl_unref(a);
}

/* The same network in both lists is denied. */
static void test_same_network_both(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "2001:db8::/32", SK_ACL_ALLOW, "allow");
  add(a, "2001:db8::/32", SK_ACL_DENY, "deny");
  check_is(a, "2001:db8::1", SK_ACL_DENY, "deny");
  sk_acl_unref(a);
}

static void test_longest_prefix_label(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "10.1.2.3", SK_ACL_DENY, "host");
  add(a, "0.0.0.0/0", SK_ACL_DENY, "everyone");
  add(a, "10.1.0.0/16", SK_ACL_DENY, "sixteen");
  add(a, "10.0.0.0/8", SK_ACL_DENY, "eight");
  add(a, "2001:db8::/32", SK_ACL_ALLOW, "doc");
  add(a, "2001:db8:0:1::/64", SK_ACL_ALLOW, "doc subnet");
  add(a, "2001:db8:0:1::/127", SK_ACL_ALLOW, "doc pair");
  check_is(a, "10.1.2.3", SK_ACL_DENY, "host");
  check_is(a, "10.1.2.2", SK_ACL_DENY, "sixteen");
  check_is(a, "10.2.2.2", SK_ACL_DENY, "eight");
  check_is(a, "1.1.1.1", SK_ACL_DENY, "everyone");
  /* 0.0.0.0/0 is IPv4 only. */
  check_is(a, "2001:db8:0:1::1", SK_ACL_ALLOW, "doc pair");
  check_is(a, "2001:db8:0:1::2", SK_ACL_ALLOW, "doc subnet");
  check_is(a, "2001:db8:0:2::", SK_ACL_ALLOW, "doc");
  check_is(a, "2001:db9::", SK_ACL_DENY, "no allow rule matches");
  sk_acl_unref(a);
}

/* Once an allow rule exists, the rest is refused, of either family. */
static void test_allow_only(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "127.0.0.1", SK_ACL_ALLOW, "--allow 127.0.0.1");
  check_is(a, "127.0.0.1", SK_ACL_ALLOW, "--allow 127.0.0.1");
  check_is(a, "127.0.0.2", SK_ACL_DENY, "no allow rule matches");
  check_is(a, "::1", SK_ACL_DENY, "no allow rule matches");
  sk_acl_unref(a);
}

static void test_deny_only(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "::/0", SK_ACL_DENY, "no IPv6");
  check_is(a, "fe80::1", SK_ACL_DENY, "no IPv6");
  check_is(a, "10.0.0.1", SK_ACL_ALLOW, "no deny rule matches");
  sk_acl_unref(a);
}

/* Duplicates, also written with host bits, are one rule with the first
 * label. */
static void test_duplicates(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "10.0.0.0/8", SK_ACL_DENY, "first");
  add(a, "10.0.0.0/8", SK_ACL_DENY, "second");
  add(a, "10.9.9.9/8", SK_ACL_DENY, "host bits");
  add(a, "10.0.0.0/255.0.0.0", SK_ACL_DENY, "mask");
  add(a, "::ffff:10.0.0.0/104", SK_ACL_DENY, "mapped");
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), 1);
  check_is(a, "10.1.1.1", SK_ACL_DENY, "first");
  sk_acl_unref(a);
}

/* Host bits of a rule are cleared: 10.1.2.3/8 covers all of 10/8. */
static void test_host_bits_masked(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "10.1.2.3/8", SK_ACL_DENY, "ten");
  add(a, "2001:db8::1/64", SK_ACL_DENY, "doc");
  check_is(a, "10.200.0.1", SK_ACL_DENY, "ten");
  check_is(a, "2001:db8::ffff", SK_ACL_DENY, "doc");
  sk_acl_unref(a);
}

/* An IPv4 client seen through a dual-stack socket is IPv4, and a rule
 * written as a mapped network is an IPv4 rule. */
static void test_v4_mapped(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();
  sk_net n;

  add(a, "::ffff:192.0.2.0/120", SK_ACL_ALLOW, "mapped rule");
  add(a, "10.0.0.0/8", SK_ACL_ALLOW, "plain rule");
  add(a, "::/0", SK_ACL_DENY, "all IPv6");
  check_is(a, "192.0.2.9", SK_ACL_ALLOW, "mapped rule");
  check_is(a, "::ffff:192.0.2.9", SK_ACL_ALLOW, "mapped rule");
  check_is(a, "::ffff:10.1.1.1", SK_ACL_ALLOW, "plain rule");
  check_is(a, "::ffff:11.1.1.1", SK_ACL_DENY, "no allow rule matches");
  check_is(a, "2001:db8::1", SK_ACL_DENY, "all IPv6");
  /* A mapped network built by hand is folded too. */
  memset(&n, 0, sizeof n);
  n.family = AF_INET6;
  n.prefix = 128;
  n.addr[10] = n.addr[11] = 0xff;
  n.addr[12] = 172;
  n.addr[15] = 1;
  assert_int_equal(sk_acl_add(a, &n, SK_ACL_ALLOW, "by hand"), 0);
  check_is(a, "172.0.0.1", SK_ACL_ALLOW, "by hand");
  sk_acl_unref(a);
}

static void test_not_ip(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();
  struct sockaddr_un un;
  const char *why = NULL;

  add(a, "0.0.0.0/0", SK_ACL_DENY, "all");
  add(a, "::/0", SK_ACL_DENY, "all");
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  assert_int_equal(sk_acl_check(a, (struct sockaddr *)&un, &why), SK_ACL_ALLOW);
  assert_string_equal(why, "not an IP address");
  sk_acl_unref(a);
}

/* Labels are copied; without one, the rule is named by its network. */
static void test_labels(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();
  char label[32];

  snprintf(label, sizeof label, "allow.txt:%d", 12);
  add(a, "10.0.0.0/8", SK_ACL_ALLOW, label);
  memset(label, 'X', sizeof label - 1);
  add(a, "10.1.2.3/16", SK_ACL_DENY, NULL);
  check_is(a, "10.0.0.1", SK_ACL_ALLOW, "allow.txt:12");
  check_is(a, "10.1.0.1", SK_ACL_DENY, "10.1.0.0/16");
  sk_acl_unref(a);
}

static void test_bad_rules(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();
  sk_net n;

  memset(&n, 0, sizeof n);
  n.family = AF_INET;
  n.prefix = 33;
  assert_int_equal(sk_acl_add(a, &n, SK_ACL_DENY, "x"), SK_EBADNET);
  n.family = AF_UNIX;
  n.prefix = 8;
  assert_int_equal(sk_acl_add(a, &n, SK_ACL_DENY, "x"), SK_EBADNET);
  n.family = AF_INET;
  assert_int_equal(sk_acl_add(a, &n, (sk_acl_action)3, "x"), SK_EBADNET);
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), 0);
  check_is(a, "1.2.3.4", SK_ACL_ALLOW, "no rules");
  sk_acl_unref(a);
}

/* A reference keeps the list; the last unref frees it (ASan and valgrind
 * see a leak or a use after free). */
static void test_refs(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();

  add(a, "10.0.0.0/8", SK_ACL_DENY, "ten");
  assert_ptr_equal(sk_acl_ref(a), a);
  sk_acl_unref(a);
  check_is(a, "10.0.0.1", SK_ACL_DENY, "ten");
  sk_acl_unref(a);
  sk_acl_unref(NULL);
  assert_null(sk_acl_ref(NULL));
}

/* Many rules of one length make their set grow many times; each stays
 * found, and its neighbours are not. */
static void test_growth(void **state) {
  (void)state;
  sk_acl *a = sk_acl_new();
  char ip[32], label[32];

  for (unsigned i = 0; i < 5000; i++) {
    snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 8, i & 0xff, 1);
    snprintf(label, sizeof label, "r%u", i);
    add(a, ip, SK_ACL_DENY, label);
  }
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), 5000);
  for (unsigned i = 0; i < 5000; i++) {
    snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 8, i & 0xff, 1);
    snprintf(label, sizeof label, "r%u", i);
    check_is(a, ip, SK_ACL_DENY, label);
    snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 8, i & 0xff, 2);
    check_is(a, ip, SK_ACL_ALLOW, "no deny rule matches");
  }
  sk_acl_unref(a);
}

/* ------------------------------------------- random rules, linear oracle */

typedef struct rule {
  int family; /* AF_INET or AF_INET6, as the oracle sees it */
  uint8_t addr[16];
  unsigned prefix;
  sk_acl_action action;
  char label[24];
} rule;

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void) {
  /* xorshift64*: the same sequence on every run. */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dULL;
}

/* Bit i of addr, counted from the most significant. */
static int bit(const uint8_t *addr, unsigned i) {
  return (addr[i / 8] >> (7 - i % 8)) & 1;
}

/* One bit at a time, unlike the library. */
static int oracle_covers(const rule *r, int family, const uint8_t *addr) {
  if (r->family != family)
    return 0;
  for (unsigned i = 0; i < r->prefix; i++)
    if (bit(r->addr, i) != bit(addr, i))
      return 0;
  return 1;
}

/* The longest rule of action covering addr; the first added among equal
 * networks. */
static const rule *oracle_longest(const rule *rules, size_t n,
                                  sk_acl_action action, int family,
                                  const uint8_t *addr) {
  const rule *best = NULL;

  for (size_t i = 0; i < n; i++)
    if (rules[i].action == action && oracle_covers(&rules[i], family, addr) &&
        (best == NULL || rules[i].prefix > best->prefix))
      best = &rules[i];
  return best;
}

static sk_acl_action oracle(const rule *rules, size_t n, size_t allows,
                            int family, const uint8_t *addr, const char **why) {
  const rule *r = oracle_longest(rules, n, SK_ACL_DENY, family, addr);

  if (r != NULL) {
    *why = r->label;
    return SK_ACL_DENY;
  }
  r = oracle_longest(rules, n, SK_ACL_ALLOW, family, addr);
  if (r != NULL) {
    *why = r->label;
    return SK_ACL_ALLOW;
  }
  *why = allows > 0 ? "no allow rule matches" : "no deny rule matches";
  return allows > 0 ? SK_ACL_DENY : SK_ACL_ALLOW;
}

/* A prefix length: most of them short-to-middle, as real lists are, with
 * the ends /0 and /32 (/128) present. */
static unsigned random_prefix(unsigned bits) {
  uint64_t r = next() % 100;

  if (r < 2)
    return 0;
  if (r < 20)
    return bits;
  return (unsigned)(next() % (bits + 1));
}

/* A random rule; the rule as given to the library keeps random host bits
 * and is written as a mapped IPv6 network a tenth of the time. */
static void random_rule(rule *r, sk_net *given, unsigned i) {
  int v4 = next() % 3 != 0;

  memset(r, 0, sizeof *r);
  r->family = v4 ? AF_INET : AF_INET6;
  r->prefix = random_prefix(v4 ? 32 : 128);
  for (unsigned b = 0; b < (v4 ? 4u : 16u); b++)
    r->addr[b] = (uint8_t)next();
  /* Cluster IPv6 rules under a few /16s so that long ones overlap. */
  if (!v4) {
    r->addr[0] = 0x20;
    r->addr[1] = (uint8_t)(next() % 4);
  }
  r->action = next() % 4 == 0 ? SK_ACL_ALLOW : SK_ACL_DENY;
  snprintf(r->label, sizeof r->label, "rule %u", i);

  memset(given, 0, sizeof *given);
  given->family = r->family;
  given->prefix = r->prefix;
  memcpy(given->addr, r->addr, 16);
  if (v4 && next() % 10 == 0) {
    given->family = AF_INET6;
    given->prefix = r->prefix + 96;
    memset(given->addr, 0, 16);
    given->addr[10] = given->addr[11] = 0xff;
    memcpy(given->addr + 12, r->addr, 4);
  }
  /* The oracle's copy has no host bits, so duplicates compare equal. */
  for (unsigned b = r->prefix; b < 128; b++)
    r->addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
}

/* An address near a random rule (inside it, or its prefix with one bit
 * flipped) or anywhere; sent as a mapped IPv6 address now and then. */
static void random_client(const rule *rules, size_t n, int *family,
                          uint8_t addr[16], struct sockaddr_storage *ss) {
  const rule *r = &rules[next() % n];
  unsigned bits;

  *family = next() % 8 == 0 ? (next() % 2 ? AF_INET : AF_INET6) : r->family;
  bits = *family == AF_INET ? 32 : 128;
  memset(addr, 0, 16);
  for (unsigned b = 0; b < bits / 8; b++)
    addr[b] = (uint8_t)next();
  if (*family == r->family) {
    for (unsigned b = 0; b < r->prefix; b++)
      if (bit(r->addr, b) != bit(addr, b))
        addr[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
    if (r->prefix > 0 && next() % 3 == 0) {
      unsigned flip = (unsigned)(next() % r->prefix);
      addr[flip / 8] ^= (uint8_t)(0x80 >> (flip % 8));
    }
  }
  memset(ss, 0, sizeof *ss);
  if (*family == AF_INET && next() % 4 != 0) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, addr, 4);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    if (*family == AF_INET) {
      in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(in6->sin6_addr.s6_addr + 12, addr, 4);
    } else {
      memcpy(&in6->sin6_addr, addr, 16);
    }
  }
}

static void test_random_against_oracle(void **state) {
  (void)state;
  enum { RULES = 10000, CLIENTS = 5000 };
  rule *rules = calloc(RULES, sizeof *rules);
  sk_acl *a = sk_acl_new();
  size_t allows = 0, denies = 0, decided_by_rule = 0;

  assert_non_null(rules);
  for (unsigned i = 0; i < RULES; i++) {
    sk_net given;
    random_rule(&rules[i], &given, i);
    assert_int_equal(sk_acl_add(a, &given, rules[i].action, rules[i].label), 0);
    /* Count distinct rules: a duplicate keeps the first one. */
    int dup = 0;
    for (unsigned j = 0; j < i && !dup; j++)
      dup = rules[j].action == rules[i].action &&
            rules[j].family == rules[i].family &&
            rules[j].prefix == rules[i].prefix &&
            memcmp(rules[j].addr, rules[i].addr, 16) == 0;
    if (!dup)
      *(rules[i].action == SK_ACL_ALLOW ? &allows : &denies) += 1;
  }
  assert_int_equal(sk_acl_count(a, SK_ACL_ALLOW), allows);
  assert_int_equal(sk_acl_count(a, SK_ACL_DENY), denies);

  for (unsigned c = 0; c < CLIENTS; c++) {
    struct sockaddr_storage ss;
    uint8_t addr[16];
    int family;
    const char *want_why, *why = NULL;
    random_client(rules, RULES, &family, addr, &ss);
    sk_acl_action want = oracle(rules, RULES, allows, family, addr, &want_why);
    sk_acl_action got = sk_acl_check(a, (struct sockaddr *)&ss, &why);
    if (got != want || why == NULL || strcmp(why, want_why) != 0) {
      char text[INET6_ADDRSTRLEN];
      inet_ntop(family, addr, text, sizeof text);
      fail_msg("client %u (%s): got %d \"%s\", the oracle says %d \"%s\"", c,
               text, got, why ? why : "(null)", want, want_why);
    }
    decided_by_rule += strncmp(why, "rule ", 5) == 0;
  }
  /* The clients must exercise the rules, not only the fall-through. */
  assert_true(decided_by_rule > CLIENTS / 2);
  sk_acl_unref(a);
  free(rules);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_deny_wins),
      cmocka_unit_test(test_same_network_both),
      cmocka_unit_test(test_longest_prefix_label),
      cmocka_unit_test(test_allow_only),
      cmocka_unit_test(test_deny_only),
      cmocka_unit_test(test_duplicates),
      cmocka_unit_test(test_host_bits_masked),
      cmocka_unit_test(test_v4_mapped),
      cmocka_unit_test(test_not_ip),
      cmocka_unit_test(test_labels),
      cmocka_unit_test(test_bad_rules),
      cmocka_unit_test(test_refs),
      cmocka_unit_test(test_growth),
      cmocka_unit_test(test_random_against_oracle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
