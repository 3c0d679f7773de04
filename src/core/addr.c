/* addr.c -- parse, format and resolve the addresses users write. */
#include "internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char sk_addr_forms[] = "tcp://HOST:PORT, udp://HOST:PORT, unix:PATH, "
                             "HOST:PORT, :PORT or PORT";

static const char default_host[] = "127.0.0.1";

/* getaddrinfo's codes as libuv's, so sk_strerror names them. */
static int eai_to_uv(int eai) {
  switch (eai) {
  case EAI_AGAIN:
    return UV_EAI_AGAIN;
  case EAI_FAIL:
    return UV_EAI_FAIL;
  case EAI_FAMILY:
    return UV_EAI_FAMILY;
  case EAI_MEMORY:
    return UV_EAI_MEMORY;
  case EAI_NODATA:
    return UV_EAI_NODATA;
  case EAI_SERVICE:
    return UV_EAI_SERVICE;
  case EAI_SOCKTYPE:
    return UV_EAI_SOCKTYPE;
  case EAI_SYSTEM:
    return -errno;
  default:
    return UV_EAI_NONAME;
  }
}

/* Each parser returns 0, or SK_EBADADDR with *why saying what is wrong. */
static int bad(const char **why, const char *what) {
  *why = what;
  return SK_EBADADDR;
}

#define NO_PORT "no port (HOST:PORT, :PORT or PORT)"

/* Parses a decimal port 0..65535 spanning all of s[0..n). */
static int parse_port(const char *s, size_t n, uint16_t *out,
                      const char **why) {
  uint64_t v;

  if (n == 0)
    return bad(why, NO_PORT);
  if (sk_parse_u64(s, n, &v) != n) /* 000080 is 80 */
    return bad(why, "the port is not a number");
  if (v > 65535)
    return bad(why, "port out of range (0-65535)");
  *out = (uint16_t)v;
  return 0;
}

static int set_host(sk_addr *a, const char *s, size_t n, const char **why) {
  if (n == 0) {
    memcpy(a->host, default_host, sizeof(default_host));
    return 0;
  }
  if (n >= sizeof(a->host))
    return bad(why, "host name too long (at most 255 bytes)");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f)
      return bad(why, "a blank, '/', a bracket or a control character in "
                      "the host name");
  }
  memcpy(a->host, s, n);
  a->host[n] = '\0';
  return 0;
}

/* "HOST:PORT", ":PORT" or "[V6]:PORT". */
static int parse_hostport(sk_addr *a, const char *s, const char **why) {
  const char *colon;
  size_t word;
  int err;

  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL)
      return bad(why, "no ']' after the IPv6 address");
    if (close == s + 1)
      return bad(why, "empty IPv6 address");
    for (const char *c = s + 1; c < close; c++)
      if (*c != ':' && *c != '.' && *c != '%' && !isxdigit((unsigned char)*c))
        return bad(why, "a character that cannot be in an IPv6 address");
    if ((size_t)(close - s - 1) >= sizeof(a->host))
      return bad(why, "host name too long (at most 255 bytes)");
    if (close[1] != ':')
      return bad(why, "no port after the IPv6 address ([V6]:PORT)");
    memcpy(a->host, s + 1, (size_t)(close - s - 1));
    a->host[close - s - 1] = '\0';
    return parse_port(close + 2, strlen(close + 2), &a->port, why);
  }
  colon = strrchr(s, ':');
  if (colon == NULL)
    return bad(why, NO_PORT);
  if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
    /* "tcp:HOST:PORT" looks like a scheme; "::1:80" and "beef::1:80" like
     * bare IPv6: a scheme has a letter that is not a hex digit. */
    bool scheme = false;
    for (word = 0; isalpha((unsigned char)s[word]); word++)
      scheme = scheme || !isxdigit((unsigned char)s[word]);
    if (scheme && s[word] == ':')
      return bad(why,
                 "unknown scheme (tcp://, tls://, udp://, unix:, tls+unix:)");
    return bad(why, "an IPv6 address goes in brackets: [::1]:PORT");
  }
  err = set_host(a, s, (size_t)(colon - s), why);
  if (err)
    return err;
  return parse_port(colon + 1, strlen(colon + 1), &a->port, why);
}

static int parse_unix(sk_addr *a, const char *path, const char **why) {
  size_t n = strlen(path);

  if (n == 0)
    return bad(why, "empty Unix socket path");
  if (n >= sizeof(a->path))
    return bad(why, "Unix socket path too long (at most 107 bytes)");
  memcpy(a->path, path, n + 1);
  return 0;
}

static int parse(sk_addr *out, const char *text, const char **why) {
  size_t n;

  memset(out, 0, sizeof(*out));
  if (text == NULL || text[0] == '\0')
    return bad(why, "empty address");
  n = strspn(text, "0123456789");
  if (text[n] == '\0') { /* PORT */
    out->transport = SK_TCP;
    set_host(out, "", 0, why);
    return parse_port(text, n, &out->port, why);
  }
  if (strncmp(text, "unix://", 7) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 7, why);
  }
  if (strncmp(text, "unix:", 5) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 5, why);
  }
  if (strncmp(text, "tcp://", 6) == 0) {
    out->transport = SK_TCP;
    return parse_hostport(out, text + 6, why);
  }
  if (strncmp(text, "udp://", 6) == 0) {
    out->transport = SK_UDP;
    return parse_hostport(out, text + 6, why);
  }
  if (strncmp(text, "tls://", 6) == 0) {
    out->transport = SK_TCP;
    out->tls = 1;
    return parse_hostport(out, text + 6, why);
  }
  if (strncmp(text, "tls+unix:", 9) == 0) {
    out->transport = SK_UNIX;
    out->tls = 1;
    text += strncmp(text + 9, "//", 2) == 0 ? 11 : 9;
    return parse_unix(out, text, why);
  }
  if (strncmp(text, "tls+udp://", 10) == 0 || strncmp(text, "dtls://", 7) == 0)
    return bad(why, "TLS needs a stream: there is no TLS over UDP "
                    "(use tls://HOST:PORT or tls+unix:PATH)");
  if (strstr(text, "://") != NULL)
    return bad(why,
               "unknown scheme (tcp://, tls://, udp://, unix:, tls+unix:)");
  out->transport = SK_TCP;
  return parse_hostport(out, text, why);
}

int sk_addr_parse(sk_addr *out, const char *text) {
  const char *why;

  return parse(out, text, &why);
}

const char *sk_addr_problem(const char *text) {
  const char *why = NULL;
  sk_addr a;

  return parse(&a, text, &why) == 0 ? NULL : why;
}

int sk_addr_format(const sk_addr *a, char *buf, size_t size) {
  const char *scheme = a->transport == SK_UDP ? "udp" : a->tls ? "tls" : "tcp";

  if (a->transport == SK_UNIX) {
    /* "unix:" before a path that starts with "//" would read back as the
     * unix:// form, two slashes shorter: that path takes the long form. */
    bool slashes = strncmp(a->path, "//", 2) == 0;
    const char *prefix = a->tls ? (slashes ? "tls+unix://" : "tls+unix:")
                                : (slashes ? "unix://" : "unix:");
    return snprintf(buf, size, "%s%s", prefix, a->path);
  }
  if (strchr(a->host, ':') != NULL)
    return snprintf(buf, size, "%s://[%s]:%u", scheme, a->host,
                    (unsigned)a->port);
  return snprintf(buf, size, "%s://%s:%u", scheme, a->host, (unsigned)a->port);
}

int sk_addr_resolve_all(const sk_addr *a, struct sockaddr_storage **out) {
  struct addrinfo hints, *res = NULL, *ai;
  char port[8];
  int err, n = 0;

  if (a->transport == SK_UNIX)
    return UV_EINVAL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = a->transport == SK_UDP ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(port, sizeof(port), "%u", (unsigned)a->port);
  err = getaddrinfo(a->host, port, &hints, &res);
  if (err != 0)
    return eai_to_uv(err);
  for (ai = res; ai != NULL; ai = ai->ai_next)
    n++;
  *out = calloc((size_t)n, sizeof(**out));
  if (*out == NULL) {
    freeaddrinfo(res);
    return UV_ENOMEM;
  }
  n = 0;
  for (ai = res; ai != NULL; ai = ai->ai_next)
    memcpy(&(*out)[n++], ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(res);
  return n;
}

int sk_addr_resolve(const sk_addr *a, struct sockaddr_storage *out) {
  struct sockaddr_storage *all;
  int n = sk_addr_resolve_all(a, &all);

  if (n < 0)
    return n;
  *out = all[0];
  free(all);
  return 0;
}

int sk_sockaddr_format(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
    return snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
  }
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
    return snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
  }
  return snprintf(buf, size, "unix");
}

void sk__addr_set_bound(sk_addr *a, const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, a->host, sizeof(a->host));
    a->port = ntohs(s6->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, a->host, sizeof(a->host));
    a->port = ntohs(s4->sin_port);
  }
}
