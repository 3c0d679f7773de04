/* common.c -- option values shared by the subcommands, checked with
 * messages that name the bad value. */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void cli_error(const char *fmt, ...) {
  va_list ap;

  fputs("sockit: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "sockit: %s%s", cmd != NULL ? cmd : "",
          cmd != NULL ? ": " : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'sockit %s%s--help' for more information.\n",
          cmd != NULL ? cmd : "", cmd != NULL ? " " : "");
  return EXIT_USAGE;
}

/* Names the long options that start with the n bytes of name, as
 * "--a, --b", into buf; returns how many there are. */
static int long_matches(const struct option *longs, const char *name, size_t n,
                        char *buf, size_t size) {
  size_t used = 0;
  int count = 0;

  buf[0] = '\0';
  for (const struct option *o = longs; o->name != NULL; o++) {
    if (strncmp(o->name, name, n) != 0)
      continue;
    if (used < size)
      used += (size_t)snprintf(buf + used, size - used, "%s--%s",
                               count > 0 ? ", " : "", o->name);
    count++;
  }
  return count;
}

/* The long option nearest to the n bytes of name, or NULL. */
static const char *long_nearest(const struct option *longs, const char *name,
                                size_t n) {
  cli_suggest s;

  cli_suggest_init(&s, name, n);
  for (const struct option *o = longs; o->name != NULL; o++)
    cli_suggest_add(&s, o->name);
  return cli_suggest_result(&s);
}

static int optind_before; /* optind before the last cli_getopt */

int cli_getopt(int argc, char **argv, const char *shorts,
               const struct option *longs) {
  optind_before = optind;
  return getopt_long(argc, argv, shorts, longs, NULL);
}

int cli_bad_option(const char *cmd, int opt, char **argv,
                   const struct option *longs) {
  char shortopt[3] = {'-', (char)optopt, '\0'};
  /* A long option is a whole word getopt just passed.  A short one inside
   * a cluster like -xv leaves optind where it was, and the word before it
   * may be a long option that was fine: only optopt names it. */
  bool moved = optind > optind_before && optind > 0;
  const char *last = moved ? argv[optind - 1] : "";
  char matches[256];
  const char *name, *near;
  size_t n;

  if (strncmp(last, "--", 2) != 0 && optopt > 0 && optopt <= 255) {
    const char *nc = cli_netcat_note(cmd, shortopt, 2);
    if (opt == ':')
      return cli_usage_error(cmd, "option '%s' needs a value", shortopt);
    if (nc != NULL)
      return cli_usage_error(cmd, "unknown option '%s' (%s)", shortopt, nc);
    return cli_usage_error(cmd, "unknown option '%s'", shortopt);
  }
  if (strncmp(last, "--", 2) != 0)
    return cli_usage_error(cmd, "unknown option '%s'", last);
  /* "--name" or "--name=value": name the option, not the value. */
  name = last + 2;
  n = strcspn(name, "=");
  if (n == 0)
    return cli_usage_error(cmd, "unknown option '%s'", last);
  if (opt == ':')
    return cli_usage_error(cmd, "option '--%.*s' needs a value", (int)n, name);
  /* getopt_long leaves optopt 0 for an unknown or ambiguous name, and sets
   * it to the option's id when a value was given to a flag. */
  if (optopt != 0 && name[n] == '=')
    return cli_usage_error(cmd, "option '--%.*s' takes no value", (int)n, name);
  if (long_matches(longs, name, n, matches, sizeof(matches)) > 1)
    return cli_usage_error(cmd, "option '--%.*s' is ambiguous (%s)", (int)n,
                           name, matches);
  if ((near = cli_netcat_note(cmd, last, n + 2)) != NULL)
    return cli_usage_error(cmd, "unknown option '--%.*s' (%s)", (int)n, name,
                           near);
  if ((near = long_nearest(longs, name, n)) != NULL)
    return cli_usage_error(cmd,
                           "unknown option '--%.*s' (did you mean '--%s'?)",
                           (int)n, name, near);
  return cli_usage_error(cmd, "unknown option '--%.*s'", (int)n, name);
}

bool cli_wants_help(int argc, char **argv, const char *shorts,
                    const struct option *longs) {
  char **copy = malloc(((size_t)argc + 1) * sizeof(*copy));
  bool help = false;
  int opt;

  /* getopt_long itself decides what is an option and what is a value,
   * so "--send --help" sends "--help".  It runs over a copy: it reorders
   * the words it reads, and "listen 0 -s" must stay an -s without its
   * value, not become "-s 0".  Mistakes are left for the real pass,
   * which starts over (optind 0: glibc forgets its state). */
  if (copy == NULL)
    return false;
  memcpy(copy, argv, ((size_t)argc + 1) * sizeof(*copy));
  opterr = 0;
  while ((opt = getopt_long(argc, copy, shorts, longs, NULL)) != -1)
    help = help || opt == 'h';
  optind = 0;
  free(copy);
  return help;
}

/* Parses the decimal digits at the start of s into *out and points *end
 * past them; rejects signs and blanks (-1 when there are no digits).  A
 * number past UINT64_MAX saturates there, so that the callers, whose
 * bounds are all lower, call it out of range rather than not a number. */
static int parse_u64(const char *s, uint64_t *out, const char **end) {
  size_t n = sk_parse_u64(s, strlen(s), out);

  *end = s + n;
  return n > 0 ? 0 : -1;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *s,
                   uint64_t min, uint64_t max, uint64_t *out) {
  const char *end;

  if (parse_u64(s, out, &end) != 0 || *end != '\0')
    return cli_usage_error(cmd, "%s: '%s' is not a number", opt, s);
  if (*out < min || *out > max)
    return cli_usage_error(cmd,
                           "%s: %s is out of range (%" PRIu64 "..%" PRIu64 ")",
                           opt, s, min, max);
  return 0;
}

int cli_parse_size(const char *cmd, const char *opt, const char *s,
                   uint64_t min, uint64_t max, size_t *out) {
  const char *end;
  uint64_t v, mult = 1;

  if (parse_u64(s, &v, &end) != 0)
    return cli_usage_error(cmd,
                           "%s: '%s' is not a size (BYTES, or with K, "
                           "M or G)",
                           opt, s);
  switch (*end) {
  case '\0':
    break;
  case 'k':
  case 'K':
    mult = 1024;
    break;
  case 'm':
  case 'M':
    mult = 1024 * 1024;
    break;
  case 'g':
  case 'G':
    mult = 1024 * 1024 * 1024;
    break;
  default:
    return cli_usage_error(cmd,
                           "%s: '%s' is not a size (BYTES, or with K, "
                           "M or G)",
                           opt, s);
  }
  if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
      strcmp(end + 1, "B") != 0)
    return cli_usage_error(cmd,
                           "%s: '%s' is not a size (BYTES, or with K, "
                           "M or G)",
                           opt, s);
  if (v > max / mult || v * mult < min || v * mult > max)
    return cli_usage_error(
        cmd, "%s: %s is out of range (%" PRIu64 "..%" PRIu64 " bytes)", opt, s,
        min, max);
  *out = (size_t)(v * mult);
  return 0;
}

int cli_parse_seconds(const char *cmd, const char *opt, const char *s,
                      uint64_t *ms) {
  char *end;
  double v;

  /* Plain decimal only: digits, a point, an exponent.  strtod alone would
   * also take leading blanks, signs, hex, "inf" and "nan". */
  if (((s[0] < '0' || s[0] > '9') && s[0] != '.') ||
      s[strspn(s, "0123456789.eE+-")] != '\0')
    return cli_usage_error(cmd, "%s: '%s' is not a number of seconds", opt, s);
  errno = 0;
  v = strtod(s, &end);
  if (end == s || *end != '\0')
    return cli_usage_error(cmd, "%s: '%s' is not a number of seconds", opt, s);
  if (v > 31536000.0) /* HUGE_VAL, on overflow, included */
    return cli_usage_error(cmd, "%s: %s is out of range (0..31536000 s)", opt,
                           s);
  *ms = (uint64_t)(v * 1000.0 + 0.5);
  /* A tiny timeout, even one below the smallest double (ERANGE on
   * underflow), is still a timeout, never "none". */
  if (*ms == 0 && (v > 0 || errno == ERANGE))
    *ms = 1;
  return 0;
}

void cli_net_init(cli_net *n) {
  memset(n, 0, sizeof(*n));
}

int cli_net_option(cli_net *n, const char *cmd, int opt, const char *arg) {
  unsigned want;

  switch (opt) {
  case '4':
  case '6':
    want = opt == '4' ? SK_ADDR_IPV4 : SK_ADDR_IPV6;
    if (n->family != 0 && n->family != want)
      return cli_usage_error(cmd, "-4 and -6 exclude each other");
    n->family = want;
    return 1;
  case OPT_SOURCE:
    n->source_text = arg;
    return 1;
  default:
    return 0;
  }
}

static const char *family_flag(unsigned family) {
  return family == SK_ADDR_IPV4 ? "-4" : "-6";
}

/* "an IPv6 address" for a text that parses without the family flag but
 * not with it, else NULL. */
static const char *other_family(const char *s, unsigned flags,
                                unsigned family) {
  sk_addr a;

  if (family == 0 || sk_addr_parse_ex(&a, s, flags, NULL) != 0)
    return NULL;
  return family == SK_ADDR_IPV4 ? "an IPv6 address" : "an IPv4 address";
}

int cli_parse_addr_as(const char *cmd, const char *s, const char *shown,
                      const cli_net *n, sk_addr *out) {
  const char *why = NULL, *other;

  if (sk_addr_parse_ex(out, s, n->family, &why) == 0)
    return 0;
  if ((other = other_family(s, 0, n->family)) != NULL)
    return cli_usage_error(cmd, "%s: '%s' is %s", family_flag(n->family), shown,
                           other);
  return cli_usage_error(cmd, "bad address '%s': %s", shown, why);
}

int cli_parse_addr(const char *cmd, const char *s, const cli_net *n,
                   sk_addr *out) {
  return cli_parse_addr_as(cmd, s, s, n, out);
}

static bool is_ip(const sk_addr *a) {
  return a->transport != SK_UNIX;
}

/* The family an empty --source host (":PORT", any address) stands for:
 * -4/-6's, else an IPv6 target literal's, else IPv4 (0.0.0.0). */
static unsigned any_family(const cli_net *n, const sk_addr *target) {
  struct in6_addr v6;

  if (n->family != 0 || n->source_text[0] != ':')
    return n->family;
  return inet_pton(AF_INET6, target->host, &v6) == 1 ? SK_ADDR_IPV6 : 0;
}

/* Parses and resolves --source, for connecting to target. */
static int parse_source(cli_net *n, const char *cmd, const sk_addr *target) {
  const char *why = NULL, *other;
  int err;

  if (sk_addr_parse_ex(&n->source, n->source_text,
                       any_family(n, target) | SK_ADDR_LOCAL, &why) != 0) {
    other = other_family(n->source_text, SK_ADDR_LOCAL, n->family);
    if (other != NULL)
      return cli_usage_error(cmd, "%s: --source '%s' is %s",
                             family_flag(n->family), n->source_text, other);
    return cli_usage_error(cmd, "bad --source '%s': %s", n->source_text, why);
  }
  err = sk_addr_resolve(&n->source, &n->source_sa);
  if (err) {
    cli_error("%s: --source %s: %s", cmd, n->source_text, sk_strerror(err));
    return 1;
  }
  return 0;
}

int cli_net_apply(cli_net *n, const char *cmd, char *const *texts,
                  char *const *shown, sk_addr *addrs, unsigned naddrs) {
  unsigned i, flags;
  int err;

  if (shown == NULL)
    shown = texts;
  for (i = 0; i < naddrs && !is_ip(&addrs[i]); i++)
    ;
  if (n->family != 0 && i == naddrs)
    return cli_usage_error(cmd,
                           "%s applies to host names and IP addresses: "
                           "'%s' has none",
                           family_flag(n->family), shown[0]);
  if (n->source_text == NULL)
    return 0;
  for (i = 0; i < naddrs; i++)
    if (!is_ip(&addrs[i]))
      return cli_usage_error(cmd,
                             "--source applies to TCP, TLS and UDP: a Unix "
                             "socket ('%s') has no source address",
                             shown[i]);
  err = parse_source(n, cmd, &addrs[0]);
  if (err)
    return err;
  /* A name the source's family cannot reach would only fail later, with
   * less to say: resolve the addresses in that family only. */
  flags = n->source_sa.ss_family == AF_INET ? SK_ADDR_IPV4 : SK_ADDR_IPV6;
  for (i = 0; i < naddrs; i++)
    if (sk_addr_parse_ex(&addrs[i], texts[i], flags, NULL) != 0)
      return cli_usage_error(cmd, "--source %s is %s, but '%s' is %s",
                             n->source_text,
                             flags == SK_ADDR_IPV4 ? "IPv4" : "IPv6", shown[i],
                             flags == SK_ADDR_IPV4 ? "IPv6" : "IPv4");
  return 0;
}

bool cli_join_host_port(char *buf, size_t size, const char *host,
                        const char *port) {
  bool v6 = strchr(host, ':') != NULL && strchr(host, '[') == NULL &&
            strstr(host, "://") == NULL && strncmp(host, "unix:", 5) != 0;
  int n = snprintf(buf, size, v6 ? "[%s]:%s" : "%s:%s", host, port);

  return n > 0 && (size_t)n < size;
}

const char *cli_net_family_problem(const cli_net *n, const sk_addr *a, int err,
                                   char *buf, size_t size) {
  struct sockaddr_storage sa;
  sk_addr any = *a;
  const char *v = a->family == AF_INET ? "IPv4" : "IPv6";

  if (a->transport == SK_UNIX || a->family == AF_UNSPEC ||
      (err != UV_EAI_NONAME && err != UV_EAI_ADDRFAMILY &&
       err != UV_EAI_NODATA))
    return NULL;
  any.family = AF_UNSPEC;
  if (sk_addr_resolve(&any, &sa) != 0)
    return NULL; /* no address at all: the resolver's words say it */
  if (n->family != 0)
    snprintf(buf, size, "%s has no %s address (%s)", a->host, v,
             family_flag(n->family));
  else
    snprintf(buf, size, "%s has no %s address (--source %s is %s)", a->host, v,
             n->source_text != NULL ? n->source_text : "", v);
  return buf;
}

const struct sockaddr *cli_net_source(const cli_net *n) {
  return n->source_text != NULL ? (const struct sockaddr *)&n->source_sa : NULL;
}

const char *cli_net_source_hint(int err) {
  return err == UV_EADDRNOTAVAIL ? " (not an address of this host, or no "
                                   "free port on it)"
                                 : "";
}

bool cli_net_source_failed(const cli_net *n, int err) {
  return n->source_text != NULL &&
         (err == UV_EADDRINUSE || err == UV_EADDRNOTAVAIL || err == UV_EACCES);
}

int cli_check_remote(const char *cmd, const sk_addr *a) {
  char where[SK_ADDR_STRLEN];

  if (a->transport == SK_UNIX || a->port != 0)
    return 0;
  sk_addr_format(a, where, sizeof(where));
  return cli_usage_error(cmd,
                         "cannot connect to port 0 of '%s' (port 0 asks "
                         "listen for any free port)",
                         where);
}

void cli_common_init(cli_common *c, const char *cmd) {
  memset(c, 0, sizeof(*c));
  c->cmd = cmd;
  c->max_frame = SK_MAX_FRAME_DEFAULT;
  c->max_frame_text = NULL;
  c->max_queue = (size_t)1 << 20;
}

/* Says what framings there are, and which one spec perhaps meant (the
 * message already says what N may be in len:N). */
static void bad_framing(const char *cmd, const char *spec) {
  static const char *const specs[] = {"raw", "line", "len", NULL};
  const char *near = strchr(spec, ':') ? NULL : cli_suggest_one(spec, specs);

  cli_usage_error(cmd,
                  "bad framing '%s': expected raw, line, len or "
                  "len:N[be|le] with N in 1, 2, 4, 8%s%s%s",
                  spec, near != NULL ? " (did you mean '" : "",
                  near != NULL ? near : "", near != NULL ? "'?)" : "");
}

int cli_common_option(cli_common *c, int opt, const char *arg) {
  switch (opt) {
  case 'f':
    if (sk_framing_parse(&c->framing, arg) != 0) {
      bad_framing(c->cmd, arg);
      return 2;
    }
    c->framing_text = arg;
    return 1;
  case OPT_MAX_FRAME:
    c->max_frame_text = arg;
    return cli_parse_size(c->cmd, "--max-frame", arg, 1, (uint64_t)1 << 30,
                          &c->max_frame) == 0
               ? 1
               : 2;
  case OPT_MAX_QUEUE:
    c->max_queue_text = arg;
    return cli_parse_size(c->cmd, "--max-queue", arg, 1024, (uint64_t)1 << 36,
                          &c->max_queue) == 0
               ? 1
               : 2;
  case OPT_RAW_OUTPUT:
    c->raw_output = true;
    return 1;
  case 'v':
    c->verbosity = c->verbosity < 0 ? 1 : c->verbosity + 1;
    return 1;
  case 'q':
    c->verbosity = -1;
    return 1;
  default:
    return 0;
  }
}

static void log_line(sk_log_level level, const char *line, void *arg) {
  (void)level;
  (void)arg;
  fprintf(stderr, "sockit: %s\n", line);
}

int cli_common_apply(cli_common *c, sk_frame_mode default_mode) {
  sk_log_level level = SK_LOG_WARN;

  if (c->framing_text == NULL) {
    sk_framing_parse(&c->framing, default_mode == SK_FRAME_LINE  ? "line"
                                  : default_mode == SK_FRAME_LEN ? "len"
                                                                 : "raw");
  }
  if (c->framing.mode == SK_FRAME_LEN && c->framing.width < 8) {
    /* The largest length the header can carry. */
    uint64_t widest = ((uint64_t)1 << (8 * c->framing.width)) - 1;
    if (c->max_frame > widest && c->max_frame_text != NULL)
      return cli_usage_error(c->cmd,
                             "--max-frame %s does not fit a %u-byte length "
                             "header (at most %" PRIu64 ")",
                             c->max_frame_text, c->framing.width, widest);
    if (c->max_frame > widest)
      c->max_frame = (size_t)widest;
  }
  c->framing.max_frame = c->max_frame;
  if (c->verbosity < 0)
    level = SK_LOG_ERROR;
  else if (c->verbosity == 1)
    level = SK_LOG_INFO;
  else if (c->verbosity > 1)
    level = SK_LOG_DEBUG;
  sk_log_set(log_line, level, NULL);
  return 0;
}

int cli_check_udp_framing(const cli_common *c, const sk_addr *a) {
  if (a->transport == SK_UDP && c->framing.mode == SK_FRAME_LEN)
    return cli_usage_error(c->cmd,
                           "-f %s cannot be used over UDP: datagrams keep "
                           "their own boundaries (use raw or line)",
                           c->framing_text);
  return 0;
}

int cli_check_crlf(const cli_common *c, bool crlf) {
  if (crlf && c->framing.mode == SK_FRAME_LEN)
    return cli_usage_error(c->cmd,
                           "-C/--crlf needs raw or line framing: -f %s "
                           "messages have no line ends",
                           c->framing_text);
  return 0;
}

bool cli_escape_output(const cli_common *c) {
  return !c->raw_output && c->framing.mode != SK_FRAME_RAW &&
         isatty(STDOUT_FILENO);
}

/* glibc hands blocks of 128 KiB and more back to the kernel when they are
 * freed (munmap, or trimming the heap's top), and every byte of the next
 * one faults in again.  A bulk transfer frees and takes such blocks at
 * every write (queue chunks, TLS records): measured over TLS, 2 GiB cost
 * 520,000 page faults and ran at 216 MiB/s; keeping blocks up to 1 MiB in
 * the heap, and up to 8 MiB of free heap untrimmed, took it to 1,550
 * faults and 1,300 MiB/s.  The memory kept is bounded by those figures. */
static void setup_malloc(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

void cli_setup_process(void) {
  struct rlimit rl;

  signal(SIGPIPE, SIG_IGN);
  setup_malloc();
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  /* Up to the hard limit, never past it: that one is the deployer's
   * (ulimit -Hn), even when running as root. */
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}
