/* ip.h -- a socket address from an IP literal, for the unit tests of
 * networks and access lists, through the library's one address parser. */
#ifndef SOCKIT_TEST_IP_H
#define SOCKIT_TEST_IP_H

#include <stdio.h>
#include <string.h>

#include "sockit.h"

/* The socket address of the IPv4 or IPv6 literal ip, port 80, in *ss.
 * A literal resolves without any name service. */
static inline const struct sockaddr *sa_of(const char *ip,
                                           struct sockaddr_storage *ss) {
  char text[SK_ADDR_STRLEN];
  sk_addr a;

  snprintf(text, sizeof(text), strchr(ip, ':') != NULL ? "[%s]:80" : "%s:80",
           ip);
  if (sk_addr_parse(&a, text) != 0 || sk_addr_resolve(&a, ss) != 0)
    fail_msg("test bug: \"%s\" is not an IP literal", ip);
  return (const struct sockaddr *)ss;
}

#endif
