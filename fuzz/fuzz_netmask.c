/* fuzz_netmask.c -- libFuzzer harness for networks and access lists.
 *
 * The input is the text of a network.  It is parsed from an exactly sized
 * heap copy (with its NUL), so that reading past the text is caught by
 * ASan.  sk_net_problem must name a problem exactly when sk_net_parse
 * refuses the text.  When it parses, the network must be a valid value
 * (family, prefix in range, IPv4 in the first 4 bytes, IPv4-mapped
 * networks folded into IPv4), its canonical form must fit SK_NET_STRLEN,
 * parse back to the same value and format the same way again, and
 * sk_net_format must truncate like snprintf.  Its first and last address
 * must lie in it, as IPv4 and as IPv4-mapped IPv6 alike, and the address
 * with the last prefix bit flipped must not; an access list holding the
 * network as its only rule must deny those addresses with its label and
 * allow the flipped one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "snprintf_check.h"
#include "sockit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fuzz_netmask: " __VA_ARGS__);                             \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The address of n (its prefix ignored) as a socket address; an IPv4
 * address as an IPv4-mapped IPv6 one when as_mapped. */
static const struct sockaddr *sa_of(const sk_net *n, int as_mapped,
                                    struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (n->family == AF_INET && !as_mapped) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, n->addr, 4);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    if (n->family == AF_INET) {
      memcpy(in6->sin6_addr.s6_addr, mapped, 12);
      memcpy(in6->sin6_addr.s6_addr + 12, n->addr, 4);
    } else {
      memcpy(&in6->sin6_addr, n->addr, 16);
    }
  }
  return (const struct sockaddr *)ss;
}

/* The parsed value is one the library could give. */
static void check_value(const sk_net *n, const char *text) {
  unsigned bits = n->family == AF_INET ? 32 : 128;

  if (n->family != AF_INET && n->family != AF_INET6)
    FAIL("\"%s\" parsed to family %d", text, n->family);
  if (n->prefix > bits)
    FAIL("\"%s\" parsed to prefix %u", text, n->prefix);
  if (n->family == AF_INET)
    for (size_t i = 4; i < sizeof n->addr; i++)
      if (n->addr[i] != 0)
        FAIL("\"%s\": IPv4 byte %zu is %u", text, i, n->addr[i]);
  if (n->family == AF_INET6 && n->prefix >= 96 &&
      memcmp(n->addr, mapped, sizeof mapped) == 0)
    FAIL("\"%s\": an IPv4-mapped /%u stayed IPv6", text, n->prefix);
}

static int format_sk_net(const void *obj, char *buf, size_t size) {
  return sk_net_format(obj, buf, size);
}

static void check_round_trip(const sk_net *n, const char *text) {
  char canon[SK_NET_STRLEN], again[SK_NET_STRLEN];
  sk_net back;
  int len = sk_net_format(n, canon, sizeof canon);

  if (len < 0 || (size_t)len >= sizeof canon || strlen(canon) != (size_t)len)
    FAIL("\"%s\": sk_net_format returned %d for \"%s\"", text, len, canon);
  if (sk_net_parse(&back, canon) != 0)
    FAIL("\"%s\" formats as \"%s\", which does not parse (%s)", text, canon,
         sk_net_problem(canon));
  if (memcmp(&back, n, sizeof back) != 0)
    FAIL("\"%s\" formats as \"%s\", which parses to another network", text,
         canon);
  sk_net_format(&back, again, sizeof again);
  if (strcmp(canon, again) != 0)
    FAIL("\"%s\": \"%s\" formats again as \"%s\"", text, canon, again);
  check_snprintf_sizes("sk_net_format", format_sk_net, n, canon, (size_t)len);
}

/* addr lies in n (in) or not, as a plain and as a mapped address, for
 * sk_net_contains and for an access list denying n alone.  An IPv6
 * address inside ::ffff:0:0/96 is an IPv4 client, which no IPv6 network
 * holds (::ffff:0:0/95 stays IPv6). */
static void check_inside(const sk_net *n, const sk_acl *acl, const sk_net *addr,
                         int in, const char *what, const char *text) {
  if (addr->family == AF_INET6 && memcmp(addr->addr, mapped, 12) == 0)
    in = 0;
  for (int as_mapped = 0; as_mapped <= (n->family == AF_INET); as_mapped++) {
    struct sockaddr_storage ss;
    const struct sockaddr *sa = sa_of(addr, as_mapped, &ss);
    const char *why = NULL;
    sk_acl_action got = sk_acl_check(acl, sa, &why);
    if ((sk_net_contains(n, sa) != 0) != in)
      FAIL("\"%s\": sk_net_contains of its %s%s is %d", text, what,
           as_mapped ? " (mapped)" : "", !in);
    if (got != (in ? SK_ACL_DENY : SK_ACL_ALLOW) || why == NULL ||
        strcmp(why, in ? "fuzz rule" : "no deny rule matches") != 0)
      FAIL("\"%s\": the access list gives %d \"%s\" for its %s%s", text, got,
           why ? why : "(null)", what, as_mapped ? " (mapped)" : "");
  }
}

static void check_bounds(const sk_net *n, const char *text) {
  sk_net first, last, outside;
  sk_acl *acl = sk_acl_new();

  if (acl == NULL || sk_acl_add(acl, n, SK_ACL_DENY, "fuzz rule") != 0)
    abort();
  sk_net_network(n, &first);
  sk_net_broadcast(n, &last);
  if (!sk_net_is_network(&first))
    FAIL("\"%s\": its network has host bits", text);
  if (sk_net_is_network(n) != (memcmp(&first, n, sizeof first) == 0))
    FAIL("\"%s\": sk_net_is_network disagrees with sk_net_network", text);
  check_inside(n, acl, n, 1, "address", text);
  check_inside(n, acl, &first, 1, "network address", text);
  check_inside(n, acl, &last, 1, "last address", text);
  if (n->prefix > 0) {
    unsigned b = n->prefix - 1;
    outside = *n;
    outside.addr[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
    check_inside(n, acl, &outside, 0, "address with a prefix bit flipped",
                 text);
  }
  sk_acl_unref(acl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  const char *why;
  sk_net n;
  int rc;

  if (text == NULL)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  why = sk_net_problem(text);
  rc = sk_net_parse(&n, text);
  if ((why == NULL) != (rc == 0) || (rc != 0 && rc != SK_EBADNET))
    FAIL("\"%s\": sk_net_parse %d but sk_net_problem \"%s\"", text, rc,
         why ? why : "(null)");
  if (rc == 0) {
    check_value(&n, text);
    check_round_trip(&n, text);
    check_bounds(&n, text);
  }
  free(text);
  return 0;
}
