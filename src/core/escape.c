/* escape.c -- peer-controlled text made safe for a log line or a terminal.
 *
 * A certificate subject, an ALPN name or the first bytes a plain-text peer
 * sent all end up in messages.  Written raw, a control sequence in them
 * could move the cursor, clear the screen or forge a log line, so every
 * byte that is not printable text is shown as \xNN instead.
 */
#include "core/escape.h"

#include <stdbool.h>
#include <stdint.h>

/* The length of the valid UTF-8 sequence at p[0..len), or 0 when p does
 * not start one.  The ranges are those of RFC 3629's table, which rules
 * out overlong forms, surrogates and code points past U+10FFFF. */
size_t sk__utf8_seq(const unsigned char *p, size_t len) {
  unsigned char c = p[0], lo = 0x80, hi = 0xbf;
  size_t n;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (len < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

/* Whether the valid sequence p[0..n) is a control other than tab: C0,
 * DEL, or C1 (U+0080..U+009F, encoded as C2 80..C2 9F). */
static bool is_control(const unsigned char *p, size_t n) {
  if (n == 1)
    return (p[0] < 0x20 && p[0] != '\t') || p[0] == 0x7f;
  return n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

size_t sk_escape_span(const char *in, size_t len) {
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0;

  while (i < len) {
    size_t n;

    if (p[i] >= 0x20 && p[i] < 0x7f) { /* printable ASCII: most text */
      i++;
      continue;
    }
    n = sk__utf8_seq(p + i, len - i);
    if (n == 0 || is_control(p + i, n))
      break;
    i += n;
  }
  return i;
}

static void put_hex(char *out, unsigned char c) {
  static const char hex[] = "0123456789abcdef";

  out[0] = '\\';
  out[1] = 'x';
  out[2] = hex[c >> 4];
  out[3] = hex[c & 15];
}

size_t sk_escape(const char *in, size_t len, char *out, size_t size) {
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, o = 0;

  if (size == 0)
    return 0;
  while (i < len) {
    size_t n = sk__utf8_seq(p + i, len - i);
    bool escape = n == 0 || is_control(p + i, n);

    if (n == 0) /* one stray byte */
      n = 1;
    if (o + (escape ? 4 * n : n) >= size)
      break;
    for (size_t k = 0; k < n; k++, i++) {
      if (escape) {
        put_hex(out + o, p[i]);
        o += 4;
      } else {
        out[o++] = (char)p[i];
      }
    }
  }
  out[o] = '\0';
  return o;
}
