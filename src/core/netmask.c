/* netmask.c -- IP networks (10.0.0.0/8, fe80::/10): parse, format, match.
 *
 * Pure code: no I/O, no allocation.  Addresses are read with inet_pton,
 * the prefix with sk_parse_u64.  IPv4 is always held as AF_INET, also when
 * it was written or seen as an IPv4-mapped IPv6 address, so that a rule
 * for 10.0.0.0/8 matches a client a dual-stack socket reports as
 * ::ffff:10.1.2.3. */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The longest IPv6 text inet_pton reads:
 * "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is 45 bytes. */
#define ADDR_TEXT_MAX 45

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};

static unsigned family_bits(int family) {
  return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/* An IPv6 network inside ::ffff:0:0/96 becomes the IPv4 network it
 * covers; one that is wider (::ffff:0:0/95) stays IPv6. */
static void unmap(sk_net *n) {
  if (n->family != AF_INET6 || n->prefix < 96 ||
      memcmp(n->addr, v4_mapped_prefix, sizeof v4_mapped_prefix) != 0)
    return;
  n->family = AF_INET;
  memmove(n->addr, n->addr + 12, 4);
  memset(n->addr + 4, 0, 12);
  n->prefix -= 96;
}

/* Reads the address s[0..len), IPv6 optionally in brackets.  Sets the
 * family and address and the full prefix. */
static const char *parse_addr(sk_net *out, const char *s, size_t len) {
  char text[ADDR_TEXT_MAX + 1];
  int bracketed = len > 0 && s[0] == '[';

  if (len == 0)
    return "no address";
  if (bracketed) {
    if (len < 2 || s[len - 1] != ']')
      return "no ']' after the IPv6 address";
    s++;
    len -= 2;
    if (len == 0)
      return "no address";
  }
  if (len > ADDR_TEXT_MAX)
    return "not an IP address";
  memcpy(text, s, len);
  text[len] = '\0';
  memset(out, 0, sizeof *out);
  if (!bracketed && inet_pton(AF_INET, text, out->addr) == 1) {
    out->family = AF_INET;
    out->prefix = 32;
    return NULL;
  }
  if (inet_pton(AF_INET6, text, out->addr) == 1) {
    out->family = AF_INET6;
    out->prefix = 128;
    return NULL;
  }
  if (bracketed && inet_pton(AF_INET, text, out->addr) == 1)
    return "brackets hold an IPv6 address only";
  return "not an IP address";
}

/* Reads the dotted IPv4 mask s[0..len) into out->prefix. */
static const char *parse_mask(sk_net *out, const char *s, size_t len) {
  char text[16];
  uint8_t mask[4];
  int prefix;

  if (out->family != AF_INET)
    return "a dotted mask is for IPv4 only (use /PREFIX)";
  if (len >= sizeof text)
    return "bad mask";
  memcpy(text, s, len);
  text[len] = '\0';
  if (inet_pton(AF_INET, text, mask) != 1)
    return "bad mask";
  prefix = sk_net_prefix_from_mask(AF_INET, mask);
  if (prefix < 0)
    return "mask is not contiguous";
  out->prefix = (unsigned)prefix;
  return NULL;
}

/* Reads the decimal prefix s[0..len) into out->prefix.  A leading zero
 * ("/08") is refused, as inet_pton refuses "010.0.0.1": in an access rule
 * a form some tools read another way is a hazard, and every network then
 * has one spelling. */
static const char *parse_prefix(sk_net *out, const char *s, size_t len) {
  uint64_t v;

  if (len == 0)
    return "no prefix after '/'";
  if (memchr(s, '.', len) != NULL)
    return parse_mask(out, s, len);
  if (sk_parse_u64(s, len, &v) != len)
    return "prefix is not a number";
  if (len > 1 && s[0] == '0')
    return "prefix has a leading zero";
  if (v > family_bits(out->family))
    return out->family == AF_INET ? "prefix out of range (0-32)"
                                  : "prefix out of range (0-128)";
  out->prefix = (unsigned)v;
  return NULL;
}

/* The one parser behind sk_net_parse and sk_net_problem. */
static const char *parse(sk_net *out, const char *text) {
  const char *slash, *why;
  size_t alen;

  if (text == NULL)
    return "no address";
  slash = strchr(text, '/');
  alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
  why = parse_addr(out, text, alen);
  if (why == NULL && slash != NULL)
    why = parse_prefix(out, slash + 1, strlen(slash + 1));
  if (why == NULL)
    unmap(out);
  return why;
}

int sk_net_parse(sk_net *out, const char *text) {
  sk_net n;

  if (parse(&n, text) != NULL)
    return SK_EBADNET;
  *out = n;
  return 0;
}

const char *sk_net_problem(const char *text) {
  sk_net n;

  return parse(&n, text);
}

int sk_net_format(const sk_net *n, char *buf, size_t size) {
  char text[INET6_ADDRSTRLEN];
  unsigned bits = family_bits(n->family);

  if (bits == 0 || n->prefix > bits ||
      inet_ntop(n->family, n->addr, text, sizeof text) == NULL)
    return snprintf(buf, size, "(not a network)");
  if (n->prefix == bits)
    return snprintf(buf, size, "%s", text);
  return snprintf(buf, size, "%s/%u", text, n->prefix);
}

int sk_net_from_sockaddr(sk_net *out, const struct sockaddr *sa) {
  sk_net n;

  memset(&n, 0, sizeof n);
  if (sa == NULL)
    return SK_EBADNET;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    n.family = AF_INET;
    n.prefix = 32;
    memcpy(n.addr, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    n.family = AF_INET6;
    n.prefix = 128;
    memcpy(n.addr, &in6->sin6_addr, 16);
    unmap(&n);
  } else {
    return SK_EBADNET;
  }
  *out = n;
  return 0;
}

/* Non-zero when a and b agree on their first bits bits. */
static int same_prefix(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;

  if (memcmp(a, b, whole) != 0)
    return 0;
  if (rest == 0)
    return 1;
  return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int sk_net_contains(const sk_net *n, const struct sockaddr *sa) {
  sk_net ip;

  if (sk_net_from_sockaddr(&ip, sa) != 0 || ip.family != n->family ||
      n->prefix > family_bits(n->family))
    return 0;
  return same_prefix(n->addr, ip.addr, n->prefix);
}

/* Clears (set == 0) or sets the host bits of n, those after its prefix
 * and within its family's width.  Byte by byte: an access list check does
 * this once per prefix length it probes. */
static void host_bits(const sk_net *n, sk_net *out, int set) {
  unsigned bits = family_bits(n->family), i = n->prefix / 8;

  *out = *n;
  if (n->prefix >= bits)
    return;
  if (n->prefix % 8 != 0) {
    uint8_t host = (uint8_t)(0xff >> (n->prefix % 8));
    out->addr[i] = set ? out->addr[i] | host : out->addr[i] & (uint8_t)~host;
    i++;
  }
  memset(out->addr + i, set ? 0xff : 0, bits / 8 - i);
}

int sk_net_is_network(const sk_net *n) {
  sk_net net;

  sk_net_network(n, &net);
  return memcmp(net.addr, n->addr, sizeof n->addr) == 0;
}

void sk_net_network(const sk_net *n, sk_net *out) {
  host_bits(n, out, 0);
}

void sk_net_broadcast(const sk_net *n, sk_net *out) {
  host_bits(n, out, 1);
}

int sk_net_prefix_from_mask(int family, const uint8_t *mask) {
  unsigned bits = family_bits(family), ones = 0;

  if (bits == 0)
    return SK_EBADNET;
  while (ones < bits && (mask[ones / 8] & (0x80 >> (ones % 8))) != 0)
    ones++;
  for (unsigned i = ones; i < bits; i++)
    if ((mask[i / 8] & (0x80 >> (i % 8))) != 0)
      return SK_EBADNET;
  return (int)ones;
}
