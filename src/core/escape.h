/* escape.h -- peer-controlled text made safe for a log line or a terminal. */
#ifndef SOCKIT_ESCAPE_H
#define SOCKIT_ESCAPE_H

#include <stddef.h>

/* Copies in[0..len) into out as text a terminal shows as it is: valid
 * UTF-8 is copied unchanged, while C0 controls other than tab, DEL, the
 * C1 controls (U+0080 to U+009F) and every byte that is not part of valid
 * UTF-8 (overlong forms, surrogates, code points past U+10FFFF, truncated
 * sequences) are written as \xNN per byte, in lower-case hex.  An escape
 * or a character is never cut: when out is too small the text ends at the
 * last one that fits.  out is always NUL-terminated when size > 0.
 * Returns the length written, without the NUL.  A backslash in the input
 * is copied as it is, so the result is for people, not for parsing back. */
size_t sk__escape(const char *in, size_t len, char *out, size_t size);

/* The length of the longest prefix of in[0..len) that sk__escape copies
 * unchanged: len when nothing in it needs escaping.  It lets a caller
 * write text that needs no escaping from where it is, without a copy. */
size_t sk__escape_span(const char *in, size_t len);

/* The length of the valid UTF-8 sequence at p[0..len) (len > 0), or 0
 * when p does not start one (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF).  The one UTF-8 decoder: escaping and chat's
 * text check both use it. */
size_t sk__utf8_seq(const unsigned char *p, size_t len);

#endif
