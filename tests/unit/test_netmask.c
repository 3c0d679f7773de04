/* test_netmask.c -- unit tests for IP networks: sk_net_parse,
 * sk_net_problem, sk_net_format, sk_net_from_sockaddr, sk_net_contains,
 * sk_net_is_network, sk_net_network, sk_net_broadcast and
 * sk_net_prefix_from_mask. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ip.h"
#include "sockit.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void format_is(const sk_net *n, const char *want) {
  char buf[SK_NET_STRLEN];
  int len = sk_net_format(n, buf, sizeof buf);

  if (strcmp(buf, want) != 0 || len != (int)strlen(want))
    fail_msg("formatted as \"%s\" (%d), expected \"%s\"", buf, len, want);
}

static sk_net parsed(const char *text) {
  sk_net n;
  int rc = sk_net_parse(&n, text);

  if (rc != 0)
    fail_msg("sk_net_parse(\"%s\") = %d (%s)", text, rc, sk_net_problem(text));
  return n;
}

/* -------------------------------------------------------- sk_net_parse */

typedef struct good_net {
  const char *text;
  const char *canon; /* sk_net_format of the result */
  int family;
  unsigned prefix;
  int is_network;
} good_net;

static const good_net good_nets[] = {
    {"10.0.0.0/8", "10.0.0.0/8", AF_INET, 8, 1},
    {"10.1.2.3/8", "10.1.2.3/8", AF_INET, 8, 0}, /* host bits kept */
    {"1.2.3.4", "1.2.3.4", AF_INET, 32, 1},
    {"1.2.3.4/32", "1.2.3.4", AF_INET, 32, 1},
    {"1.2.3.4/31", "1.2.3.4/31", AF_INET, 31, 1},
    {"1.2.3.5/31", "1.2.3.5/31", AF_INET, 31, 0},
    {"0.0.0.0/0", "0.0.0.0/0", AF_INET, 0, 1},
    {"1.2.3.4/0", "1.2.3.4/0", AF_INET, 0, 0},
    {"255.255.255.255", "255.255.255.255", AF_INET, 32, 1},
    /* Dotted masks. */
    {"10.0.0.0/255.0.0.0", "10.0.0.0/8", AF_INET, 8, 1},
    {"10.0.0.0/255.255.255.254", "10.0.0.0/31", AF_INET, 31, 1},
    {"10.0.0.0/255.255.255.255", "10.0.0.0", AF_INET, 32, 1},
    {"10.0.0.0/0.0.0.0", "10.0.0.0/0", AF_INET, 0, 0},
    {"192.168.0.0/255.255.240.0", "192.168.0.0/20", AF_INET, 20, 1},
    /* IPv6, in brackets or not. */
    {"::/0", "::/0", AF_INET6, 0, 1},
    {"::1", "::1", AF_INET6, 128, 1},
    {"::1/128", "::1", AF_INET6, 128, 1},
    {"[::1]", "::1", AF_INET6, 128, 1},
    {"[fe80::]/10", "fe80::/10", AF_INET6, 10, 1},
    {"fe80::1/10", "fe80::1/10", AF_INET6, 10, 0},
    {"2001:db8::/127", "2001:db8::/127", AF_INET6, 127, 1},
    {"2001:db8::1/127", "2001:db8::1/127", AF_INET6, 127, 0},
    {"2001:DB8::/32", "2001:db8::/32", AF_INET6, 32, 1},
    /* IPv4-mapped: /96 and longer become IPv4, shorter stays IPv6. */
    {"::ffff:10.1.2.3", "10.1.2.3", AF_INET, 32, 1},
    {"[::ffff:10.1.2.3]", "10.1.2.3", AF_INET, 32, 1},
    {"::ffff:10.0.0.0/104", "10.0.0.0/8", AF_INET, 8, 1},
    {"::ffff:a01:203/120", "10.1.2.3/24", AF_INET, 24, 0},
    {"::ffff:0:0/96", "0.0.0.0/0", AF_INET, 0, 1},
    {"::ffff:0:0/95", "::ffff:0.0.0.0/95", AF_INET6, 95, 0},
    {"::fffe:0:0/95", "::fffe:0:0/95", AF_INET6, 95, 1},
    /* An IPv4-compatible address is plain IPv6. */
    {"::10.1.2.3", "::10.1.2.3", AF_INET6, 128, 1},
};

static void test_parse_valid(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(good_nets); i++) {
    const good_net *g = &good_nets[i];
    sk_net n;
    memset(&n, 0xA5, sizeof n);
    int rc = sk_net_parse(&n, g->text);
    if (rc != 0)
      fail_msg("sk_net_parse(\"%s\") = %d (%s)", g->text, rc,
               sk_net_problem(g->text));
    if (n.family != g->family || n.prefix != g->prefix)
      fail_msg("\"%s\": family %d prefix %u, expected %d /%u", g->text,
               n.family, n.prefix, g->family, g->prefix);
    if (sk_net_is_network(&n) != g->is_network)
      fail_msg("\"%s\": sk_net_is_network %d", g->text, sk_net_is_network(&n));
    /* IPv4 uses the first 4 bytes; the rest is zero, so structs compare. */
    if (n.family == AF_INET)
      for (size_t b = 4; b < sizeof n.addr; b++)
        if (n.addr[b] != 0)
          fail_msg("\"%s\": IPv4 byte %zu is %u", g->text, b, n.addr[b]);
    if (sk_net_problem(g->text) != NULL)
      fail_msg("sk_net_problem(\"%s\") = \"%s\"", g->text,
               sk_net_problem(g->text));
    format_is(&n, g->canon);
  }
}

/* The address bytes themselves, not only their text. */
static void test_parse_bytes(void **state) {
  (void)state;
  static const uint8_t ten[4] = {10, 1, 2, 3};
  sk_net n = parsed("::ffff:10.1.2.3/100");

  assert_int_equal(n.family, AF_INET);
  assert_int_equal(n.prefix, 4);
  assert_memory_equal(n.addr, ten, 4);
  n = parsed("[2001:db8::ff]/64");
  assert_int_equal(n.addr[0], 0x20);
  assert_int_equal(n.addr[1], 0x01);
  assert_int_equal(n.addr[15], 0xff);
}

static void test_parse_invalid(void **state) {
  (void)state;
  static const struct {
    const char *text, *why;
  } cases[] = {
      {"", "no address"},
      {"/8", "no address"},
      {"[]", "no address"},
      {"[]/8", "no address"},
      {"10.0.0.256", "not an IP address"},
      {"10.0.0", "not an IP address"},
      {"010.0.0.1", "not an IP address"},
      {"1.2.3.4 /8", "not an IP address"},
      {" 1.2.3.4", "not an IP address"},
      {"1.2.3.4 ", "not an IP address"},
      {"example.com", "not an IP address"},
      {"fe80::1%eth0", "not an IP address"},
      {"::1::2", "not an IP address"},
      {"1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19", "not an IP address"},
      {"[::1", "no ']' after the IPv6 address"},
      {"[::1]x/8", "no ']' after the IPv6 address"},
      {"[1.2.3.4]", "brackets hold an IPv6 address only"},
      {"1.2.3.4/", "no prefix after '/'"},
      {"1.2.3.4/33", "prefix out of range (0-32)"},
      {"1.2.3.4/99999999999999999999999", "prefix out of range (0-32)"},
      {"::ffff:1.2.3.4/129", "prefix out of range (0-128)"},
      {"::/129", "prefix out of range (0-128)"},
      {"1.2.3.4/-1", "prefix is not a number"},
      {"1.2.3.4/+8", "prefix is not a number"},
      {"1.2.3.4/ 8", "prefix is not a number"},
      {"1.2.3.4/8 ", "prefix is not a number"},
      {"1.2.3.4/8/8", "prefix is not a number"},
      {"1.2.3.4/0x8", "prefix is not a number"},
      {"1.2.3.4/08", "prefix has a leading zero"},
      {"1.2.3.4/00", "prefix has a leading zero"},
      {"::/064", "prefix has a leading zero"},
      {"1.1.1.1/255.0.255.0", "mask is not contiguous"},
      {"1.1.1.1/0.255.255.255", "mask is not contiguous"},
      {"1.1.1.1/255.255.255.253", "mask is not contiguous"},
      {"1.1.1.1/255.255.0", "bad mask"},
      {"1.1.1.1/255.255.255.255.0", "bad mask"},
      {"::1/255.0.0.0", "a dotted mask is for IPv4 only (use /PREFIX)"},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_net n, before;
    memset(&n, 0xA5, sizeof n);
    before = n;
    const char *why = sk_net_problem(cases[i].text);
    if (why == NULL || strcmp(why, cases[i].why) != 0)
      fail_msg("sk_net_problem(\"%s\") = \"%s\", expected \"%s\"",
               cases[i].text, why ? why : "(null)", cases[i].why);
    if (sk_net_parse(&n, cases[i].text) != SK_EBADNET)
      fail_msg("sk_net_parse(\"%s\") did not give SK_EBADNET", cases[i].text);
    if (memcmp(&n, &before, sizeof n) != 0)
      fail_msg("sk_net_parse(\"%s\") changed *out on error", cases[i].text);
  }
  assert_int_equal(sk_net_parse(&(sk_net){0}, NULL), SK_EBADNET);
  assert_non_null(sk_net_problem(NULL));
}

/* ------------------------------------------------------- sk_net_format */

/* Every good network's canonical text parses back to the same value. */
static void test_format_round_trip(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(good_nets); i++) {
    char buf[SK_NET_STRLEN];
    sk_net a = parsed(good_nets[i].text), b;
    sk_net_format(&a, buf, sizeof buf);
    b = parsed(buf);
    if (memcmp(&a, &b, sizeof a) != 0)
      fail_msg("\"%s\" -> \"%s\" parses to another network", good_nets[i].text,
               buf);
  }
}

/* The longest text fits SK_NET_STRLEN, and a short buffer truncates like
 * snprintf. */
static void test_format_truncates(void **state) {
  (void)state;
  static const char longest[] = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127";
  sk_net n = parsed(longest);
  char buf[SK_NET_STRLEN];

  format_is(&n, longest);
  assert_true(strlen(longest) < SK_NET_STRLEN);
  memset(buf, 'X', sizeof buf);
  assert_int_equal(sk_net_format(&n, buf, 5), (int)strlen(longest));
  assert_string_equal(buf, "ffff");
  assert_int_equal(sk_net_format(&n, NULL, 0), (int)strlen(longest));
}

/* A struct no parse could give is named, not read out of bounds. */
static void test_format_invalid(void **state) {
  (void)state;
  char buf[SK_NET_STRLEN];
  sk_net n = parsed("10.0.0.0/8");

  n.prefix = 33;
  sk_net_format(&n, buf, sizeof buf);
  assert_string_equal(buf, "(not a network)");
  n.family = AF_UNIX;
  n.prefix = 8;
  sk_net_format(&n, buf, sizeof buf);
  assert_string_equal(buf, "(not a network)");
}

/* ------------------------------------------------ sk_net_from_sockaddr */

static void test_from_sockaddr(void **state) {
  (void)state;
  struct sockaddr_storage ss;
  struct sockaddr_un un;
  sk_net n;

  assert_int_equal(sk_net_from_sockaddr(&n, sa_of("192.0.2.7", &ss)), 0);
  format_is(&n, "192.0.2.7");
  assert_int_equal(n.prefix, 32);
  assert_int_equal(sk_net_from_sockaddr(&n, sa_of("2001:db8::7", &ss)), 0);
  format_is(&n, "2001:db8::7");
  assert_int_equal(n.prefix, 128);
  /* What a dual-stack socket reports for an IPv4 client. */
  assert_int_equal(sk_net_from_sockaddr(&n, sa_of("::ffff:192.0.2.7", &ss)), 0);
  assert_int_equal(n.family, AF_INET);
  format_is(&n, "192.0.2.7");

  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  memset(&n, 0xA5, sizeof n);
  assert_int_equal(sk_net_from_sockaddr(&n, (struct sockaddr *)&un),
                   SK_EBADNET);
  assert_int_equal(n.family, (int)0xA5A5A5A5);
  assert_int_equal(sk_net_from_sockaddr(&n, NULL), SK_EBADNET);
}

/* ----------------------------------------------------- sk_net_contains */

typedef struct contains_case {
  const char *net, *ip;
  int in;
} contains_case;

static const contains_case contains_cases[] = {
    {"10.0.0.0/8", "10.255.255.255", 1},
    {"10.0.0.0/8", "11.0.0.0", 0},
    {"10.0.0.0/8", "9.255.255.255", 0},
    {"10.1.2.3/8", "10.9.9.9", 1}, /* host bits of the network ignored */
    {"0.0.0.0/0", "255.255.255.255", 1},
    {"0.0.0.0/0", "::1", 0}, /* IPv4 networks hold no IPv6 */
    {"1.2.3.4/31", "1.2.3.5", 1},
    {"1.2.3.4/31", "1.2.3.6", 0},
    {"1.2.3.4/31", "1.2.3.3", 0},
    {"1.2.3.4", "1.2.3.4", 1},
    {"1.2.3.4", "1.2.3.5", 0}, /* the last bit counts */
    {"1.2.3.5", "1.2.3.4", 0},
    {"192.168.0.0/20", "192.168.15.255", 1},
    {"192.168.0.0/20", "192.168.16.0", 0},
    /* A v4-mapped client is matched as IPv4, by IPv4 or mapped rules. */
    {"10.0.0.0/8", "::ffff:10.1.2.3", 1},
    {"::ffff:10.0.0.0/104", "10.1.2.3", 1},
    {"::ffff:10.0.0.0/104", "::ffff:10.1.2.3", 1},
    {"10.0.0.0/8", "::ffff:11.1.2.3", 0},
    /* ... and not by IPv6 networks, even those that cover ::ffff:0:0/96. */
    {"::/0", "::ffff:10.1.2.3", 0},
    {"::ffff:0:0/95", "::ffff:10.1.2.3", 0},
    {"::/0", "2001:db8::1", 1},
    {"::/0", "10.1.2.3", 0},
    {"2001:db8::/127", "2001:db8::1", 1},
    {"2001:db8::/127", "2001:db8::2", 0},
    {"2001:db8::1", "2001:db8::1", 1},
    {"2001:db8::1", "2001:db8::", 0}, /* the 128th bit counts */
    {"2001:db8::/128", "2001:db8::1", 0},
    {"2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff", 1},
    {"2001:db8:0:1::/64", "2001:db8:0:2::", 0},
    {"fe80::/10", "febf::1", 1},
    {"fe80::/10", "fec0::1", 0},
};

static void test_contains(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(contains_cases); i++) {
    const contains_case *c = &contains_cases[i];
    struct sockaddr_storage ss;
    sk_net n = parsed(c->net);
    int got = sk_net_contains(&n, sa_of(c->ip, &ss));
    if ((got != 0) != c->in)
      fail_msg("sk_net_contains(%s, %s) = %d, expected %d", c->net, c->ip, got,
               c->in);
  }
}

static void test_contains_not_ip(void **state) {
  (void)state;
  struct sockaddr_un un;
  sk_net n = parsed("0.0.0.0/0");

  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  assert_false(sk_net_contains(&n, (struct sockaddr *)&un));
  n = parsed("::/0");
  assert_false(sk_net_contains(&n, (struct sockaddr *)&un));
  assert_false(sk_net_contains(&n, NULL));
}

/* ------------------------------------------- network, broadcast, masks */

static void test_network_broadcast(void **state) {
  (void)state;
  static const struct {
    const char *net, *first, *last;
  } cases[] = {
      {"10.1.2.3/8", "10.0.0.0/8", "10.255.255.255/8"},
      {"10.0.0.0/8", "10.0.0.0/8", "10.255.255.255/8"},
      {"192.168.7.9/20", "192.168.0.0/20", "192.168.15.255/20"},
      {"1.2.3.5/31", "1.2.3.4/31", "1.2.3.5/31"},
      {"1.2.3.4/32", "1.2.3.4", "1.2.3.4"},
      {"1.2.3.4/0", "0.0.0.0/0", "255.255.255.255/0"},
      {"2001:db8:1:2:3:4:5:6/64", "2001:db8:1:2::/64",
       "2001:db8:1:2:ffff:ffff:ffff:ffff/64"},
      {"2001:db8::1/127", "2001:db8::/127", "2001:db8::1/127"},
      {"2001:db8::1", "2001:db8::1", "2001:db8::1"},
      {"fe80::1/10", "fe80::/10", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff/10"},
      {"::1/0", "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0"},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_net n = parsed(cases[i].net), first, last;
    sk_net_network(&n, &first);
    sk_net_broadcast(&n, &last);
    format_is(&first, cases[i].first);
    format_is(&last, cases[i].last);
    assert_true(sk_net_is_network(&first));
    /* IPv4 bytes past the fourth stay zero. */
    if (n.family == AF_INET)
      assert_int_equal(last.addr[4], 0);
  }
}

/* network and broadcast may write over their input. */
static void test_network_in_place(void **state) {
  (void)state;
  sk_net n = parsed("10.1.2.3/16");

  sk_net_network(&n, &n);
  format_is(&n, "10.1.0.0/16");
  sk_net_broadcast(&n, &n);
  format_is(&n, "10.1.255.255/16");
}

static void test_prefix_from_mask(void **state) {
  (void)state;
  static const struct {
    const char *mask;
    int prefix;
  } v4[] = {
      {"0.0.0.0", 0},
      {"128.0.0.0", 1},
      {"255.0.0.0", 8},
      {"255.255.240.0", 20},
      {"255.255.255.254", 31},
      {"255.255.255.255", 32},
      {"255.0.255.0", SK_EBADNET},
      {"0.0.0.1", SK_EBADNET},
      {"255.255.255.253", SK_EBADNET},
      {"127.0.0.0", SK_EBADNET},
  };
  uint8_t mask[16];

  for (size_t i = 0; i < NELEMS(v4); i++) {
    assert_int_equal(inet_pton(AF_INET, v4[i].mask, mask), 1);
    if (sk_net_prefix_from_mask(AF_INET, mask) != v4[i].prefix)
      fail_msg("mask %s: %d, expected %d", v4[i].mask,
               sk_net_prefix_from_mask(AF_INET, mask), v4[i].prefix);
  }
  memset(mask, 0xff, sizeof mask);
  assert_int_equal(sk_net_prefix_from_mask(AF_INET6, mask), 128);
  mask[15] = 0xfe;
  assert_int_equal(sk_net_prefix_from_mask(AF_INET6, mask), 127);
  memset(mask + 8, 0, 8);
  assert_int_equal(sk_net_prefix_from_mask(AF_INET6, mask), 64);
  mask[15] = 1;
  assert_int_equal(sk_net_prefix_from_mask(AF_INET6, mask), SK_EBADNET);
  memset(mask, 0, sizeof mask);
  assert_int_equal(sk_net_prefix_from_mask(AF_INET6, mask), 0);
  assert_int_equal(sk_net_prefix_from_mask(AF_UNIX, mask), SK_EBADNET);
}

/* Each of sockit's refusal codes has its own text. */
static void test_strerror(void **state) {
  (void)state;
  static const int codes[] = {SK_EBADNET, SK_EDENIED, SK_EPERIP, SK_ERATE};
  char unknown[64];

  snprintf(unknown, sizeof unknown, "%s", sk_strerror(-5999));
  for (size_t i = 0; i < NELEMS(codes); i++) {
    assert_string_not_equal(sk_strerror(codes[i]), unknown);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(sk_strerror(codes[i]), sk_strerror(codes[j]));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_valid),
      cmocka_unit_test(test_parse_bytes),
      cmocka_unit_test(test_parse_invalid),
      cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_format_truncates),
      cmocka_unit_test(test_format_invalid),
      cmocka_unit_test(test_from_sockaddr),
      cmocka_unit_test(test_contains),
      cmocka_unit_test(test_contains_not_ip),
      cmocka_unit_test(test_network_broadcast),
      cmocka_unit_test(test_network_in_place),
      cmocka_unit_test(test_prefix_from_mask),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
