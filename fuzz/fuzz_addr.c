/* fuzz_addr.c -- libFuzzer harness for the address parser and formatter.
 *
 * The input is the text of an address.  It is parsed from an exactly sized
 * heap copy (with its NUL), so that reading past the text is caught by
 * ASan.  When it parses, the result must be an address the rest of the
 * library can use (a known transport; a host of printable characters
 * without '/', brackets or spaces; a non-empty Unix path that fits
 * sun_path, "@NAME" with a name for an abstract socket), its fields must
 * be the ones written in the text (the scheme, the path, the host, the
 * port in decimal or as a service name the services database gives that
 * number for the transport), its canonical form must fit SK_ADDR_STRLEN
 * and parse back to the same address, and sk_addr_format must truncate
 * like snprintf.  The same text is also parsed with sk_addr_parse_ex
 * under IPv4 only and IPv6 only (the same address, with the family, or
 * refused for a literal of the other family) and as a source address
 * (SK_ADDR_LOCAL: a usable host, and a canonical form that parses back).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snprintf_check.h"
#include "sockit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fuzz_addr: " __VA_ARGS__);                                \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* A bounded string field: NUL-terminated inside its array. */
static size_t field_len(const char *s, size_t size, const char *what) {
  const char *nul = memchr(s, '\0', size);
  if (nul == NULL)
    FAIL("%s is not NUL-terminated", what);
  return (size_t)(nul - s);
}

static void check_host(const sk_addr *a, const char *text) {
  size_t n = field_len(a->host, sizeof a->host, "host");

  if (n == 0)
    FAIL("\"%s\" parsed to an empty host", text);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a->host[i];
    if (c <= ' ' || c >= 0x7f || c == '/' || c == '[' || c == ']')
      FAIL("\"%s\" parsed to host \"%s\" with byte 0x%02x", text, a->host, c);
  }
}

/* The parsed address is one the library can use. */
static void check_parsed(const sk_addr *a, const char *text) {
  switch (a->transport) {
  case SK_TCP:
  case SK_UDP:
    check_host(a, text);
    if (field_len(a->path, sizeof a->path, "path") != 0)
      FAIL("\"%s\" parsed to a TCP/UDP address with a path", text);
    break;
  case SK_UNIX:
    if (field_len(a->path, sizeof a->path, "path") == 0)
      FAIL("\"%s\" parsed to an empty Unix path", text);
    if (strcmp(a->path, "@") == 0)
      FAIL("\"%s\" parsed to an empty abstract name", text);
    break;
  default:
    FAIL("\"%s\" parsed to transport %d", text, (int)a->transport);
  }
}

/* The port text d is a service name (1-32 letters, digits, '-', '_', at
 * least one letter) that the services database gives as port for proto. */
static bool is_service(const char *d, const char *proto, unsigned port) {
  size_t n = strlen(d);
  bool letter = false;
  struct servent *se;

  if (n == 0 || n > 32)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!isalnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '_')
      return false;
    letter = letter || isalpha((unsigned char)d[i]);
  }
  se = getservbyname(d, proto);
  return letter && se != NULL && ntohs((uint16_t)se->s_port) == port;
}

/* The parsed fields are the ones written in the text: the scheme gives
 * the transport (and TLS: "tls://", "tls+unix:"), a Unix path follows
 * "unix:" or "unix://", and for TCP and UDP the text ends with ":PORT" (or
 * is PORT alone), PORT written in decimal, after HOST, [HOST] or nothing
 * for 127.0.0.1. */
static void check_matches_text(const sk_addr *a, const char *text) {
  const char *rest = text, *colon;
  size_t hn = strlen(a->host), before;
  unsigned long port = 0;
  sk_transport want = SK_TCP;
  int tls =
      strncmp(text, "tls://", 6) == 0 || strncmp(text, "tls+unix:", 9) == 0;

  if (a->tls != tls)
    FAIL("\"%s\" parsed with tls %d", text, a->tls);
  if (strncmp(text, "tls+", 4) == 0)
    text += 4;
  if (strncmp(text, "unix:", 5) == 0) {
    rest = text + (strncmp(text, "unix://", 7) == 0 ? 7 : 5);
    if (a->transport != SK_UNIX || strcmp(a->path, rest) != 0)
      FAIL("\"%s\" parsed to path \"%s\"", text, a->path);
    return;
  }
  if (strncmp(text, "tcp://", 6) == 0 || strncmp(text, "udp://", 6) == 0 ||
      strncmp(text, "tls://", 6) == 0) {
    want = text[0] == 'u' ? SK_UDP : SK_TCP;
    rest = text + 6;
  }
  if (a->transport != want)
    FAIL("\"%s\" parsed to transport %d", text, (int)a->transport);
  colon = strrchr(rest, ':');
  before = colon != NULL ? (size_t)(colon - rest) : 0;
  if (colon != NULL &&
      is_service(colon + 1, want == SK_UDP ? "udp" : "tcp", a->port)) {
    port = a->port;
  } else {
    for (const char *d = colon != NULL ? colon + 1 : rest; *d != '\0'; d++) {
      if (*d < '0' || *d > '9')
        FAIL("\"%s\" parsed, though it does not end with a port", text);
      port = port * 10 + (unsigned long)(*d - '0');
      if (port > 65535)
        FAIL("\"%s\" parsed, though its port is over 65535", text);
    }
  }
  if (port != a->port)
    FAIL("\"%s\" parsed to port %u", text, (unsigned)a->port);
  if (!((before == hn && memcmp(rest, a->host, hn) == 0) ||
        (before == hn + 2 && rest[0] == '[' && rest[hn + 1] == ']' &&
         memcmp(rest + 1, a->host, hn) == 0) ||
        (before == 0 && strcmp(a->host, "127.0.0.1") == 0)))
    FAIL("\"%s\" parsed to host \"%s\"", text, a->host);
}

static bool same_addr(const sk_addr *a, const sk_addr *b) {
  if (a->transport != b->transport || a->tls != b->tls)
    return false;
  if (a->transport == SK_UNIX)
    return strcmp(a->path, b->path) == 0;
  return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int format_sk_addr(const void *obj, char *buf, size_t size) {
  return sk_addr_format(obj, buf, size);
}

/* Under IPv4 only or IPv6 only (flag), text gives the address it gives
 * without (a, or nothing when ok is false) with the family set, or is
 * refused because its host is a literal of the other family.  A missing
 * host is 127.0.0.1, or ::1 under IPv6 only. */
static void check_family(const char *text, bool ok, const sk_addr *a,
                         unsigned flag) {
  bool v6 = flag == SK_ADDR_IPV6;
  int family = v6 ? AF_INET6 : AF_INET;
  const char *why = NULL;
  struct in_addr v4;
  sk_addr f;
  int rc = sk_addr_parse_ex(&f, text, flag, &why);

  if (!ok) {
    if (rc == 0)
      FAIL("\"%s\" parsed with flag %u only", text, flag);
    return;
  }
  if (a->transport == SK_UNIX) {
    if (rc != 0 || !same_addr(a, &f) || f.family != 0)
      FAIL("\"%s\": a Unix address changed with flag %u", text, flag);
    return;
  }
  bool other = v6 ? inet_aton(a->host, &v4) != 0 : strchr(a->host, ':') != NULL;
  if (rc != 0) {
    /* Refused: the host was a literal of the other family, or the
     * default 127.0.0.1, which becomes ::1. */
    if (!other || why == NULL)
      FAIL("\"%s\" refused with flag %u: %s", text, flag, why);
    return;
  }
  if (other && !(v6 && strcmp(f.host, "::1") == 0))
    FAIL("\"%s\" parsed with flag %u to host \"%s\"", text, flag, f.host);
  if (f.family != family || f.port != a->port || f.transport != a->transport ||
      f.tls != a->tls)
    FAIL("\"%s\" parsed with flag %u to another address", text, flag);
}

/* As a source address, text gives a usable TCP host (the port 0 when
 * missing), whose canonical form parses back to the same host and port. */
static void check_local(const char *text) {
  char canon[SK_ADDR_STRLEN];
  sk_addr l, back;

  if (sk_addr_parse_ex(&l, text, SK_ADDR_LOCAL, NULL) != 0)
    return;
  if (l.transport != SK_TCP || l.tls || l.family != 0)
    FAIL("\"%s\" as a source: transport %d, tls %d, family %d", text,
         (int)l.transport, l.tls, l.family);
  check_host(&l, text);
  if (strstr(text, "://") != NULL || strncmp(text, "unix:", 5) == 0)
    FAIL("\"%s\" parsed as a source with a scheme", text);
  sk_addr_format(&l, canon, sizeof canon);
  if (sk_addr_parse(&back, canon) != 0 || !same_addr(&l, &back))
    FAIL("\"%s\" as a source formats as \"%s\", which parses to another "
         "address",
         text, canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1), canon[SK_ADDR_STRLEN], again[SK_ADDR_STRLEN];
  sk_addr a, b;
  int n;

  if (text == NULL)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  check_local(text);
  if (sk_addr_parse(&a, text) != 0) {
    check_family(text, false, &a, SK_ADDR_IPV4);
    check_family(text, false, &a, SK_ADDR_IPV6);
    goto done;
  }
  check_family(text, true, &a, SK_ADDR_IPV4);
  check_family(text, true, &a, SK_ADDR_IPV6);
  check_parsed(&a, text);
  check_matches_text(&a, text);

  n = sk_addr_format(&a, canon, sizeof canon);
  if (n < 0 || (size_t)n >= sizeof canon || strlen(canon) != (size_t)n)
    FAIL("\"%s\": sk_addr_format returned %d for \"%s\"", text, n, canon);
  if (sk_addr_parse(&b, canon) != 0)
    FAIL("\"%s\" formats as \"%s\", which does not parse", text, canon);
  if (!same_addr(&a, &b))
    FAIL("\"%s\" formats as \"%s\", which parses to another address", text,
         canon);
  sk_addr_format(&b, again, sizeof again);
  if (strcmp(canon, again) != 0)
    FAIL("\"%s\": canonical form \"%s\" formats again as \"%s\"", text, canon,
         again);

  check_snprintf_sizes("sk_addr_format", format_sk_addr, &a, canon, (size_t)n);
done:
  free(text);
  return 0;
}
