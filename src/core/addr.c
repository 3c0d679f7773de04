/* addr.c -- parse, format and resolve the addresses users write. */
#include "internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

const char sk_addr_forms[] = "tcp://HOST:PORT, udp://HOST:PORT, unix:PATH, "
                             "unix:@NAME, HOST:PORT, :PORT or PORT";

/* What one parse knows besides the text: its flags, and where to say
 * what is wrong. */
typedef struct parse_ctx {
  unsigned flags;
  const char *why;
} parse_ctx;

/* getaddrinfo's codes as libuv's, so sk_strerror names them. */
static int eai_to_uv(int eai) {
  switch (eai) {
  case EAI_ADDRFAMILY:
    return UV_EAI_ADDRFAMILY;
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

/* Each parser returns 0, or SK_EBADADDR with pc->why saying what is
 * wrong. */
static int bad(parse_ctx *pc, const char *what) {
  pc->why = what;
  return SK_EBADADDR;
}

#define NO_PORT "no port (HOST:PORT, :PORT or PORT)"
#define SERVICE_MAX 32 /* RFC 6335 allows 15; aliases run longer */

/* The phrase naming an unknown service, per thread: the one problem
 * phrase that cannot be static. */
static _Thread_local char service_why[SERVICE_MAX + 64];

/* Whether s[0..n) can be a service name: letters, digits, '-' and '_',
 * at least one letter (so that "-1" and "1e3" stay bad numbers). */
static bool service_like(const char *s, size_t n) {
  bool letter = false;

  if (n == 0 || n > SERVICE_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '-' && c != '_')
      return false;
    letter = letter || isalpha(c);
  }
  return letter;
}

/* Looks the service s[0..n) up for a's transport. */
static int lookup_service(const sk_addr *a, const char *s, size_t n,
                          uint16_t *out, parse_ctx *pc) {
  const char *proto = a->transport == SK_UDP ? "udp" : "tcp";
  char name[SERVICE_MAX + 1], buf[1024];
  struct servent se, *found = NULL;

  memcpy(name, s, n);
  name[n] = '\0';
  if (getservbyname_r(name, proto, &se, buf, sizeof(buf), &found) != 0 ||
      found == NULL) {
    snprintf(service_why, sizeof(service_why),
             "unknown %s service '%s' (see /etc/services)", proto, name);
    return bad(pc, service_why);
  }
  *out = ntohs((uint16_t)found->s_port);
  return 0;
}

/* Parses a port 0..65535 spanning all of s[0..n): decimal digits, or a
 * service name for a's transport. */
static int parse_port(sk_addr *a, const char *s, size_t n, parse_ctx *pc) {
  uint64_t v;

  if (n == 0)
    return bad(pc, NO_PORT);
  if (service_like(s, n))
    return lookup_service(a, s, n, &a->port, pc);
  if (sk_parse_u64(s, n, &v) != n) /* 000080 is 80 */
    return bad(pc, "the port is not a number");
  if (v > 65535)
    return bad(pc, "port out of range (0-65535)");
  a->port = (uint16_t)v;
  return 0;
}

/* The host a missing one stands for. */
static const char *default_host(unsigned flags) {
  if (flags & SK_ADDR_LOCAL)
    return flags & SK_ADDR_IPV6 ? "::" : "0.0.0.0";
  return flags & SK_ADDR_IPV6 ? "::1" : "127.0.0.1";
}

static int set_host(sk_addr *a, const char *s, size_t n, parse_ctx *pc) {
  if (n == 0) {
    snprintf(a->host, sizeof(a->host), "%s", default_host(pc->flags));
    return 0;
  }
  if (n >= sizeof(a->host))
    return bad(pc, "host name too long (at most 255 bytes)");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f)
      return bad(pc, "a blank, '/', a bracket or a control character in "
                     "the host name");
  }
  memcpy(a->host, s, n);
  a->host[n] = '\0';
  return 0;
}

/* An IPv6 literal (in brackets, or bare in a local address): s[0..n). */
static int set_v6_host(sk_addr *a, const char *s, size_t n, parse_ctx *pc) {
  if (n == 0)
    return bad(pc, "empty IPv6 address");
  for (size_t i = 0; i < n; i++)
    if (s[i] != ':' && s[i] != '.' && s[i] != '%' &&
        !isxdigit((unsigned char)s[i]))
      return bad(pc, "a character that cannot be in an IPv6 address");
  if (n >= sizeof(a->host))
    return bad(pc, "host name too long (at most 255 bytes)");
  memcpy(a->host, s, n);
  a->host[n] = '\0';
  return 0;
}

/* "HOST:PORT", ":PORT" or "[V6]:PORT". */
static int parse_hostport(sk_addr *a, const char *s, parse_ctx *pc) {
  const char *colon;
  size_t word;
  int err;

  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL)
      return bad(pc, "no ']' after the IPv6 address");
    err = set_v6_host(a, s + 1, (size_t)(close - s - 1), pc);
    if (err)
      return err;
    if (close[1] != ':')
      return bad(pc, "no port after the IPv6 address ([V6]:PORT)");
    return parse_port(a, close + 2, strlen(close + 2), pc);
  }
  colon = strrchr(s, ':');
  if (colon == NULL)
    return bad(pc, NO_PORT);
  if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
    /* "tcp:HOST:PORT" looks like a scheme; "::1:80" and "beef::1:80" like
     * bare IPv6: a scheme has a letter that is not a hex digit. */
    bool scheme = false;
    for (word = 0; isalpha((unsigned char)s[word]); word++)
      scheme = scheme || !isxdigit((unsigned char)s[word]);
    if (scheme && s[word] == ':')
      return bad(pc,
                 "unknown scheme (tcp://, tls://, udp://, unix:, tls+unix:)");
    return bad(pc, "an IPv6 address goes in brackets: [::1]:PORT");
  }
  err = set_host(a, s, (size_t)(colon - s), pc);
  if (err)
    return err;
  return parse_port(a, colon + 1, strlen(colon + 1), pc);
}

/* A local address: "HOST", "HOST:PORT", ":PORT", "[V6]", "[V6]:PORT" or
 * a bare IPv6 literal; the port is 0 when missing. */
static int parse_local(sk_addr *a, const char *s, parse_ctx *pc) {
  const char *colon = strchr(s, ':');
  int err;

  a->transport = SK_TCP;
  if (strstr(s, "://") != NULL || strncmp(s, "unix:", 5) == 0)
    return bad(pc, "a source address is HOST or HOST:PORT, with no scheme");
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL)
      return bad(pc, "no ']' after the IPv6 address");
    err = set_v6_host(a, s + 1, (size_t)(close - s - 1), pc);
    if (err || close[1] == '\0')
      return err;
    if (close[1] != ':')
      return bad(pc, "no ':' after the IPv6 address ([V6] or [V6]:PORT)");
    return parse_port(a, close + 2, strlen(close + 2), pc);
  }
  if (colon != NULL && strchr(colon + 1, ':') != NULL) /* bare IPv6 */
    return set_v6_host(a, s, strlen(s), pc);
  if (s[strspn(s, "0123456789")] == '\0')
    return bad(pc, "a source address needs a host (HOST, HOST:PORT or "
                   ":PORT)");
  err = set_host(a, s, colon != NULL ? (size_t)(colon - s) : strlen(s), pc);
  if (err || colon == NULL)
    return err;
  return parse_port(a, colon + 1, strlen(colon + 1), pc);
}

static int parse_unix(sk_addr *a, const char *path, parse_ctx *pc) {
  size_t n = strlen(path);

  if (path[0] == '@') {
#ifdef __linux__
    /* sun_path holds a NUL and up to 107 bytes of name; path holds '@',
     * the name and a NUL. */
    if (n == 1)
      return bad(pc, "empty abstract socket name (unix:@NAME)");
    if (n >= sizeof(a->path))
      return bad(pc, "abstract socket name too long (at most 106 bytes)");
#else
    return bad(pc, "abstract sockets (unix:@NAME) are Linux only");
#endif
  }
  if (n == 0)
    return bad(pc, "empty Unix socket path");
  if (n >= sizeof(a->path))
    return bad(pc, "Unix socket path too long (at most 107 bytes)");
  memcpy(a->path, path, n + 1);
  return 0;
}

/* The forms with a scheme, and the TCP shorthands. */
static int parse_forms(sk_addr *out, const char *text, parse_ctx *pc) {
  size_t n = strspn(text, "0123456789");

  if (text[n] == '\0') { /* PORT */
    out->transport = SK_TCP;
    set_host(out, "", 0, pc);
    return parse_port(out, text, n, pc);
  }
  if (strncmp(text, "unix://", 7) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 7, pc);
  }
  if (strncmp(text, "unix:", 5) == 0) {
    out->transport = SK_UNIX;
    return parse_unix(out, text + 5, pc);
  }
  if (strncmp(text, "tcp://", 6) == 0) {
    out->transport = SK_TCP;
    return parse_hostport(out, text + 6, pc);
  }
  if (strncmp(text, "udp://", 6) == 0) {
    out->transport = SK_UDP;
    return parse_hostport(out, text + 6, pc);
  }
  if (strncmp(text, "tls://", 6) == 0) {
    out->transport = SK_TCP;
    out->tls = 1;
    return parse_hostport(out, text + 6, pc);
  }
  if (strncmp(text, "tls+unix:", 9) == 0) {
    out->transport = SK_UNIX;
    out->tls = 1;
    text += strncmp(text + 9, "//", 2) == 0 ? 11 : 9;
    return parse_unix(out, text, pc);
  }
  if (strncmp(text, "tls+udp://", 10) == 0 || strncmp(text, "dtls://", 7) == 0)
    return bad(pc, "TLS needs a stream: there is no TLS over UDP "
                   "(use tls://HOST:PORT or tls+unix:PATH)");
  if (strstr(text, "://") != NULL)
    return bad(pc, "unknown scheme (tcp://, tls://, udp://, unix:, tls+unix:)");
  out->transport = SK_TCP;
  return parse_hostport(out, text, pc);
}

/* The family restriction: a literal of the other family is refused.  A
 * host with ':' is an IPv6 literal (the forms allow ':' only there); one
 * inet_aton reads is an IPv4 literal, as getaddrinfo would read it. */
static int restrict_family(sk_addr *a, parse_ctx *pc) {
  struct in_addr v4;

  if (a->transport == SK_UNIX)
    return 0;
  if (pc->flags & SK_ADDR_IPV4) {
    a->family = AF_INET;
    if (strchr(a->host, ':') != NULL)
      return bad(pc, "an IPv6 address where only IPv4 is allowed");
  } else if (pc->flags & SK_ADDR_IPV6) {
    a->family = AF_INET6;
    if (inet_aton(a->host, &v4) != 0)
      return bad(pc, "an IPv4 address where only IPv6 is allowed");
  }
  return 0;
}

int sk_addr_parse_ex(sk_addr *out, const char *text, unsigned flags,
                     const char **why) {
  parse_ctx pc = {flags, NULL};
  int err;

  memset(out, 0, sizeof(*out));
  if ((flags & SK_ADDR_IPV4) && (flags & SK_ADDR_IPV6))
    err = bad(&pc, "IPv4 only and IPv6 only at once");
  else if (text == NULL || text[0] == '\0')
    err = bad(&pc, "empty address");
  else if (flags & SK_ADDR_LOCAL)
    err = parse_local(out, text, &pc);
  else
    err = parse_forms(out, text, &pc);
  if (err == 0)
    err = restrict_family(out, &pc);
  if (err && why != NULL)
    *why = pc.why;
  return err;
}

int sk_addr_parse(sk_addr *out, const char *text) {
  return sk_addr_parse_ex(out, text, 0, NULL);
}

const char *sk_addr_problem(const char *text) {
  const char *why = NULL;
  sk_addr a;

  return sk_addr_parse_ex(&a, text, 0, &why) == 0 ? NULL : why;
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

  if (a->transport == SK_UNIX ||
      (a->family != AF_UNSPEC && a->family != AF_INET && a->family != AF_INET6))
    return UV_EINVAL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = a->family;
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

/* ------------------------------------------------------- Unix sockets */

socklen_t sk__addr_unix(const char *path, struct sockaddr_un *sun) {
  size_t n = strlen(path);

  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  if (path[0] == '@') {
    /* An abstract name is its bytes after a NUL, exactly as long as the
     * length says: no terminator, no padding. */
    memcpy(sun->sun_path + 1, path + 1, n - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  }
  memcpy(sun->sun_path, path, n + 1);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* What a missing or unreachable socket file means: its directory is not
 * there, or the file is not. */
static int explain_missing(const char *path, char *buf, size_t size) {
  const char *slash = strrchr(path, '/');
  char dir[SK_PATH_MAX];
  struct stat st;

  if (slash == NULL)
    snprintf(dir, sizeof(dir), ".");
  else if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  else
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
  if (stat(dir, &st) != 0)
    return snprintf(buf, size, "directory %s does not exist", dir);
  if (!S_ISDIR(st.st_mode))
    return snprintf(buf, size, "%s is not a directory", dir);
  return snprintf(buf, size, "no such socket file");
}

int sk_addr_strerror(const sk_addr *a, int err, char *buf, size_t size) {
  struct stat st;

  if (a->transport == SK_UNIX && a->path[0] != '@') {
    if (err == UV_ENOENT || err == UV_ENOTDIR)
      return explain_missing(a->path, buf, size);
    if (err == UV_ECONNREFUSED && lstat(a->path, &st) == 0 &&
        S_ISSOCK(st.st_mode))
      return snprintf(buf, size,
                      "connection refused (a stale socket file: nothing "
                      "listens on it)");
  }
  return snprintf(buf, size, "%s", sk_strerror(err));
}
