/* access.c -- the door's options: --allow, --deny, their files, and the
 * per-source limits.  Rules become one sk_acl; SIGHUP builds it again
 * from the same options and files (cli_access_build). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_access_init(cli_access *a) {
  memset(a, 0, sizeof(*a));
}

void cli_access_free(cli_access *a) {
  free(a->rules);
  a->rules = NULL;
  a->nrules = 0;
}

static int add_rule(cli_access *a, int opt, const char *arg) {
  cli_rule *r = realloc(a->rules, (a->nrules + 1) * sizeof(*r));

  if (r == NULL)
    return 1;
  a->rules = r;
  r[a->nrules].action =
      opt == OPT_ALLOW || opt == OPT_ALLOW_FILE ? SK_ACL_ALLOW : SK_ACL_DENY;
  r[a->nrules].file = opt == OPT_ALLOW_FILE || opt == OPT_DENY_FILE;
  r[a->nrules].text = arg;
  a->nrules++;
  return 0;
}

/* "N" or "N/S": N new connections per S seconds (1 by default). */
static int parse_rate(cli_access *a, const char *cmd, const char *arg) {
  const char *slash = strchr(arg, '/');
  char count[32];
  uint64_t n;
  size_t len = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

  if (len == 0 || len >= sizeof(count))
    return cli_usage_error(cmd,
                           "--rate-per-ip: '%s' is not N or N/SECONDS (new "
                           "connections per source)",
                           arg);
  memcpy(count, arg, len);
  count[len] = '\0';
  if (cli_parse_uint(cmd, "--rate-per-ip", count, 1, 1000000, &n))
    return EXIT_USAGE;
  a->rate_burst = (unsigned)n;
  a->rate_period_ms = 1000;
  if (slash == NULL)
    return 0;
  if (cli_parse_seconds(cmd, "--rate-per-ip", slash + 1, &a->rate_period_ms))
    return EXIT_USAGE;
  if (a->rate_period_ms == 0)
    return cli_usage_error(cmd,
                           "--rate-per-ip: '%s': the period must be "
                           "more than 0 seconds",
                           arg);
  return 0;
}

int cli_access_option(cli_access *a, const char *cmd, int opt,
                      const char *arg) {
  uint64_t v;

  switch (opt) {
  case OPT_ALLOW:
  case OPT_DENY:
  case OPT_ALLOW_FILE:
  case OPT_DENY_FILE:
    if (add_rule(a, opt, arg))
      return EXIT_USAGE;
    return 1;
  case OPT_MAX_CONNS_PER_IP:
    if (cli_parse_uint(cmd, "--max-conns-per-ip", arg, 0, 10000000, &v))
      return EXIT_USAGE;
    a->max_per_ip = (unsigned)v;
    return 1;
  case OPT_RATE_PER_IP:
    return parse_rate(a, cmd, arg) ? EXIT_USAGE : 1;
  default:
    return 0;
  }
}

bool cli_access_given(const cli_access *a) {
  return a->nrules > 0 || a->max_per_ip > 0 || a->rate_burst > 0;
}

/* ------------------------------------------------------------ building */

/* Where a build reports: at start a usage error, on reload a log line. */
typedef struct build_ctx {
  const char *cmd;
  bool reload;
  int verbosity;
  int failed; /* EXIT_USAGE (start) or 1 (reload) once something failed */
} build_ctx;

static void report(build_ctx *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(build_ctx *b, const char *fmt, ...) {
  char line[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (b->reload) {
    cli_error("%s: reload: %s; keeping the old access rules", b->cmd, line);
    b->failed = 1;
  } else {
    b->failed = cli_usage_error(b->cmd, "%s", line);
  }
}

/* Adds one entry, written at `where` ("--allow", "allow.txt:3"). */
static int add_entry(build_ctx *b, sk_acl *acl, sk_acl_action action,
                     const char *where, const char *text) {
  char label[SK_NET_STRLEN + 600], net[SK_NET_STRLEN];
  const char *problem = sk_net_problem(text);
  sk_net n, first;

  if (problem != NULL) {
    report(b, "%s '%s': %s", where, text, problem);
    return -1;
  }
  sk_net_parse(&n, text);
  if (!sk_net_is_network(&n)) {
    sk_net_network(&n, &first);
    sk_net_format(&first, net, sizeof(net));
    if (b->verbosity >= 0)
      fprintf(stderr,
              "sockit: %s: warning: %s %s has host bits set: using %s\n",
              b->cmd, where, text, net);
  }
  if (where[0] == '-')
    snprintf(label, sizeof(label), "rule %s %s", where, text);
  else
    snprintf(label, sizeof(label), "rule %s (%s)", where, text);
  if (sk_acl_add(acl, &n, action, label) != 0) {
    report(b, "%s: %s", where, sk_strerror(UV_ENOMEM));
    return -1;
  }
  return 0;
}

/* Cuts a file's line to its entry: no comment, no blanks around. */
static char *entry_of(char *line) {
  char *end;

  line[strcspn(line, "#\r\n")] = '\0';
  line += strspn(line, " \t");
  end = line + strlen(line);
  while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
    *--end = '\0';
  return line;
}

static int add_file(build_ctx *b, sk_acl *acl, const cli_rule *r) {
  const char *opt = r->action == SK_ACL_ALLOW ? "--allow-file" : "--deny-file";
  char where[512], *line = NULL, *entry;
  size_t cap = 0;
  unsigned lineno = 0;
  int rc = 0;
  FILE *f = fopen(r->text, "r");

  if (f == NULL) {
    report(b, "%s %s: %s", opt, r->text, strerror(errno));
    return -1;
  }
  while (rc == 0 && getline(&line, &cap, f) != -1) {
    lineno++;
    entry = entry_of(line);
    if (entry[0] == '\0')
      continue;
    snprintf(where, sizeof(where), "%s:%u", r->text, lineno);
    if (strcspn(entry, " \t") != strlen(entry)) {
      report(b, "%s '%s': one network a line", where, entry);
      rc = -1;
      break;
    }
    rc = add_entry(b, acl, r->action, where, entry);
  }
  if (rc == 0 && ferror(f)) {
    report(b, "%s %s: %s", opt, r->text, strerror(errno));
    rc = -1;
  }
  free(line);
  fclose(f);
  return rc;
}

/* An allow file that holds no network, when no other allow rule is
 * given, would leave an access list with no allow rule, which lets
 * everyone in: the opposite of what --allow-file asks.  That is refused
 * (at start; on reload the old rules stay). */
static void check_allow_left(build_ctx *b, const cli_access *a,
                             const sk_acl *acl) {
  const cli_rule *file = NULL;

  if (sk_acl_count(acl, SK_ACL_ALLOW) > 0)
    return;
  for (unsigned i = 0; i < a->nrules; i++)
    if (a->rules[i].action == SK_ACL_ALLOW && a->rules[i].file)
      file = &a->rules[i];
  if (file != NULL)
    report(b,
           "--allow-file %s: no network in it (an empty allow list would let "
           "everyone in)",
           file->text);
}

int cli_access_build(const cli_access *a, const char *cmd, bool reload,
                     int verbosity, sk_acl **out) {
  build_ctx b = {.cmd = cmd, .reload = reload, .verbosity = verbosity};
  sk_acl *acl;

  *out = NULL;
  if (a->nrules == 0)
    return 0;
  acl = sk_acl_new();
  if (acl == NULL) {
    cli_error("%s: %s", cmd, sk_strerror(UV_ENOMEM));
    return 1;
  }
  for (unsigned i = 0; i < a->nrules && b.failed == 0; i++) {
    const cli_rule *r = &a->rules[i];
    if (r->file)
      add_file(&b, acl, r);
    else
      add_entry(&b, acl, r->action,
                r->action == SK_ACL_ALLOW ? "--allow" : "--deny", r->text);
  }
  if (b.failed == 0)
    check_allow_left(&b, a, acl);
  if (b.failed) {
    sk_acl_unref(acl);
    return b.failed;
  }
  *out = acl;
  return 0;
}

void cli_access_apply(const cli_access *a, sk_server_opts *so) {
  so->max_conns_per_ip = a->max_per_ip;
  so->rate_burst = a->rate_burst;
  if (a->rate_burst > 0)
    so->rate_period_ms = a->rate_period_ms;
}
