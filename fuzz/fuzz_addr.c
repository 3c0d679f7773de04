/* fuzz_addr.c -- libFuzzer harness for the address parser and formatter.
 *
 * The input is the text of an address.  It is parsed from an exactly sized
 * heap copy (with its NUL), so that reading past the text is caught by
 * ASan.  When it parses, the result must be an address the rest of the
 * library can use (a known transport; a host of printable characters
 * without '/', brackets or spaces; a non-empty Unix path that fits
 * sun_path), its fields must be the ones written in the text (the scheme,
 * the path, the host, the decimal port), its canonical form must fit
 * SK_ADDR_STRLEN and parse back to the same address, and sk_addr_format
 * must truncate like snprintf.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    break;
  default:
    FAIL("\"%s\" parsed to transport %d", text, (int)a->transport);
  }
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
  for (const char *d = colon != NULL ? colon + 1 : rest; *d != '\0'; d++) {
    if (*d < '0' || *d > '9')
      FAIL("\"%s\" parsed, though it does not end with a port", text);
    port = port * 10 + (unsigned long)(*d - '0');
    if (port > 65535)
      FAIL("\"%s\" parsed, though its port is over 65535", text);
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

/* sk_addr_format into a buffer of size bytes gives the same length and a
 * NUL-terminated prefix of the full form, like snprintf. */
static void check_truncated(const sk_addr *a, const char *full, size_t n,
                            size_t size) {
  char *buf = malloc(size > 0 ? size : 1);
  int got;

  if (buf == NULL)
    abort();
  buf[0] = 'X';
  got = sk_addr_format(a, buf, size);
  if (got != (int)n)
    FAIL("sk_addr_format into %zu bytes returned %d, not %zu", size, got, n);
  if (size == 0 && buf[0] != 'X')
    FAIL("sk_addr_format into 0 bytes wrote to the buffer");
  if (size > 0) {
    size_t keep = n < size - 1 ? n : size - 1;
    if (memcmp(buf, full, keep) != 0 || buf[keep] != '\0')
      FAIL("sk_addr_format into %zu bytes is not a prefix of \"%s\"", size,
           full);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1), canon[SK_ADDR_STRLEN], again[SK_ADDR_STRLEN];
  sk_addr a, b;
  int n;

  if (text == NULL)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  if (sk_addr_parse(&a, text) != 0)
    goto done;
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

  check_truncated(&a, canon, (size_t)n, 0);
  check_truncated(&a, canon, (size_t)n, 1);
  check_truncated(&a, canon, (size_t)n, (size_t)n / 2 + 1);
  check_truncated(&a, canon, (size_t)n, (size_t)n);
  check_truncated(&a, canon, (size_t)n, (size_t)n + 1);
done:
  free(text);
  return 0;
}
