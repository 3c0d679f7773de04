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

/* Parses a decimal port 0..65535 spanning all of s[0..n). */
static int parse_port(const char *s, size_t n, uint16_t *out) {
  unsigned long v = 0;

  if (n == 0 || n > 5)
    return SK_EBADADDR;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return SK_EBADADDR;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > 65535)
    return SK_EBADADDR;
  *out = (uint16_t)v;
  return 0;
}

static int set_host(sk_addr *a, const char *s, size_t n) {
  if (n == 0) {
    memcpy(a->host, default_host, sizeof(default_host));
    return 0;
  }
  if (n >= sizeof(a->host))
    return SK_EBADADDR;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f)
      return SK_EBADADDR;
  }
  memcpy(a->host, s, n);
  a->host[n] = '\0';
  return 0;
}

/* "HOST:PORT", ":PORT" or "[V6]:PORT". */
static int parse_hostport(sk_addr *a, const char *s) {
  const char *colon;
  int err;

  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':' || close == s + 1)
      return SK_EBADADDR;
    for (const char *c = s + 1; c < close; c++)
      if (*c != ':' && *c != '.' && *c != '%' && !isxdigit((unsigned char)*c))
        return SK_EBADADDR;
    if ((size_t)(close - s - 1) >= sizeof(a->host))
      return SK_EBADADDR;
    memcpy(a->host, s + 1, (size_t)(close - s - 1));
    a->host[close - s - 1] = '\0';
    return parse_port(close + 2, strlen(close + 2), &a->port);
  }
  colon = strrchr(s, ':');
  if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
    return SK_EBADADDR; /* no port, or an IPv6 literal without brackets */
  err = set_host(a, s, (size_t)(colon - s));
  if (err)
    return err;
  return parse_port(colon + 1, strlen(colon + 1), &a->port);
}

static int parse_unix(sk_addr *a, const char *path) {
  size_t n = strlen(path);

  if (n == 0 || n >= sizeof(a->path))
    return SK_EBADADDR;
  memcpy(a->path, path, n + 1);
  return 0;
}

int sk_addr_parse(sk_addr *out, const char *text) {
  size_t n;

  memset(out, 0, sizeof(*out));
  if (text == NULL || text[0] == '\0')
    return SK_EBADADDR;
  n = strspn(text, "0123456789");
  if (text[n] == '\0') { /* PORT */
    out->transport = SK_TCP;
    set_host(out, "", 0);
    return parse_port(text, n, &out->port);
  }
  if (strncmp(text, "unix://", 7) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 7);
  }
  if (strncmp(text, "unix:", 5) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 5);
  }
  if (strncmp(text, "tcp://", 6) == 0) {
    out->transport = SK_TCP;
    return parse_hostport(out, text + 6);
  }
  if (strncmp(text, "udp://", 6) == 0) {
    out->transport = SK_UDP;
    return parse_hostport(out, text + 6);
  }
  if (strstr(text, "://") != NULL)
    return SK_EBADADDR; /* an unknown scheme */
  out->transport = SK_TCP;
  return parse_hostport(out, text);
}

int sk_addr_format(const sk_addr *a, char *buf, size_t size) {
  const char *scheme = a->transport == SK_UDP ? "udp" : "tcp";

  if (a->transport == SK_UNIX) {
    /* "unix:" before a path that starts with "//" would read back as the
     * unix:// form, two slashes shorter: that path takes the long form. */
    const char *prefix = strncmp(a->path, "//", 2) == 0 ? "unix://" : "unix:";
    return snprintf(buf, size, "%s%s", prefix, a->path);
  }
  if (strchr(a->host, ':') != NULL)
    return snprintf(buf, size, "%s://[%s]:%u", scheme, a->host,
                    (unsigned)a->port);
  return snprintf(buf, size, "%s://%s:%u", scheme, a->host, (unsigned)a->port);
}

int sk__addr_resolve_all(const sk_addr *a, struct sockaddr_storage **out) {
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
  int n = sk__addr_resolve_all(a, &all);

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
