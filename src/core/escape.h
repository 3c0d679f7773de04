/* escape.h -- peer-controlled text made safe for a log line or a terminal. */
#ifndef SOCKIT_ESCAPE_H
#define SOCKIT_ESCAPE_H

#include "sockit.h"

#include <stddef.h>

/* sk_escape and sk_escape_span are public (sockit.h). */

/* The length of the valid UTF-8 sequence at p[0..len) (len > 0), or 0
 * when p does not start one (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF).  The one UTF-8 decoder: escaping and chat's
 * text check both use it. */
size_t sk__utf8_seq(const unsigned char *p, size_t len);

#endif
