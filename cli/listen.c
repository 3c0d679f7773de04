/* listen.c -- `sockit listen`: options to a server running a service. */
#include "cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOP_FLUSH_MS 2000 /* how long a stopping server may flush */

static const char help[] =
    "usage: sockit listen [OPTIONS] ADDRESS [ADDRESS...]\n"
    "\n"
    "Serve on each ADDRESS (tcp://HOST:PORT, tls://HOST:PORT, "
    "udp://HOST:PORT,\n"
    "unix:PATH, unix:@NAME (abstract, no file), tls+unix:PATH, HOST:PORT,\n"
    ":PORT or PORT; a missing host means 127.0.0.1, port 0 picks one, and\n"
    "PORT may be a service name from /etc/services).  Every address feeds\n"
    "one service: one chat room for plain, TLS and Unix members alike.\n"
    "When ready, prints 'listening on ADDRESS' to stderr for each.\n"
    "\n"
    "  -s, --service NAME     what to do with clients (default stdio):\n"
    "%s"
    "  -f, --framing SPEC     raw, line, len, len:N, len:Nbe, len:Nle\n"
    "                         (N in 1, 2, 4, 8; default raw, chat: line)\n"
    "      --max-frame BYTES  largest message (K, M, G; default 1M)\n"
    "      --max-queue BYTES  write queue cap per client (default 1M); above\n"
    "                         it echo and upper stop reading that client,\n"
    "                         stdio stops reading stdin; chat: the soft cap\n"
    "      --max-queue-hard BYTES  chat: drop a member whose queue would\n"
    "                         pass this (default 16 x max-queue)\n"
    "      --slow-timeout S   chat: drop a member whose queue stays above\n"
    "                         the soft cap for S seconds (default 10,\n"
    "                         0: never)\n"
    "      --max-conns N      refuse connections beyond N (0: no limit);\n"
    "                         UDP: senders remembered (default 4096),\n"
    "                         the least recently active forgotten first\n"
    "      --backlog N        listen backlog (default 511)\n"
    "      --idle-timeout S   close clients that finish no message and are\n"
    "                         sent nothing for S seconds (0: never)\n"
    "      --frame-timeout S  close clients whose message (a line, a\n"
    "                         length-prefixed frame) takes longer than S\n"
    "                         seconds from its first byte (0: never)\n"
    "TLS (tls:// and tls+unix: addresses):\n"
    "      --cert FILE        certificate chain (PEM), with --key FILE;\n"
    "      --key FILE         without them a self-signed ECDSA P-256\n"
    "                         certificate is made at start and its\n"
    "                         sha256 fingerprint printed (for --pin)\n"
    "      --client-ca FILE   require client certificates signed by these\n"
    "                         CAs (mutual TLS)\n"
    "      --alpn LIST        accept these ALPN protocols (comma-separated)\n"
    "      --handshake-timeout S  close a connection whose handshake takes\n"
    "                         longer (default 10)\n"
    "%s"
    "  -k, --keep-open        stdio: keep serving after a client left;\n"
    "                         stdin goes to every client\n"
    "      --raw-output       stdio: print messages as they are, also to a\n"
    "                         terminal (there, by default, line and len\n"
    "                         messages show control characters and\n"
    "                         invalid UTF-8 as \\xNN)\n" CLI_FAMILY_HELP
    "  -C, --crlf             stdio: send stdin's line ends as CRLF (raw:\n"
    "                         each LF not after a CR; line: every line)\n"
    "  -x, --hexdump FILE     stdio: log both directions of every client to\n"
    "                         FILE (truncated; -: stderr) as offset, hex\n"
    "                         and text, '>' sent and '<' received\n"
    "  -v, --verbose          log connects and disconnects; stdio and\n"
    "                         discard: a summary per client as it leaves\n"
    "                         (bytes each way, duration and rates)\n"
    "  -q, --quiet            errors only\n"
    "  -h, --help             this text\n";

#define HELP_WIDTH 80     /* columns of a --help line, at most */
#define SUMMARY_COLUMN 36 /* where a service's summary starts */

/* Appends a service's line to list: its name, then its summary wrapped
 * at word boundaries to HELP_WIDTH columns. */
static size_t add_service(char *list, size_t size, size_t n,
                          const sk_service *svc) {
  const char *w = svc->summary;
  size_t col = SUMMARY_COLUMN;

  n += (size_t)snprintf(list + n, n < size ? size - n : 0, "%27s%-8s ", "",
                        svc->name);
  while (*w != '\0') {
    size_t len = strcspn(w, " ");
    bool first = col == SUMMARY_COLUMN;

    if (!first && col + 1 + len > HELP_WIDTH) {
      n += (size_t)snprintf(list + n, n < size ? size - n : 0, "\n%*s",
                            SUMMARY_COLUMN, "");
      col = SUMMARY_COLUMN;
      first = true;
    }
    n += (size_t)snprintf(list + n, n < size ? size - n : 0, "%s%.*s",
                          first ? "" : " ", (int)len, w);
    col += len + (first ? 0 : 1);
    w += len;
    w += strspn(w, " ");
  }
  n += (size_t)snprintf(list + n, n < size ? size - n : 0, "\n");
  return n;
}

static void print_help(void) {
  char list[2048];
  size_t n = 0;

  for (const sk_service *const *s = sk_service_list(); *s != NULL; s++)
    n = add_service(list, sizeof(list), n, *s);
  printf(help, list, CLI_ACCESS_HELP);
}

typedef struct listen_job listen_job;

/* One server, until it has stopped (s NULL after that). */
typedef struct server_slot {
  listen_job *j;
  sk_server *s;
} server_slot;

struct listen_job {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t stop_timer;
  const sk_service *svc;
  void *state;
  server_slot *servers; /* one per address, all feeding one service */
  unsigned nservers;
  unsigned running; /* servers not yet stopped, and the start's hold */
  int status;
  bool stopping;  /* a stop was asked for */
  bool flushing;  /* the servers were told to stop: a signal now cuts it */
  bool reloading; /* SIGHUP reloads the access files */
  const cli_access *access; /* the options the access list came from */
  int verbosity;
};

static void close_signals(listen_job *j) {
  uv_close((uv_handle_t *)&j->sigint, NULL);
  uv_close((uv_handle_t *)&j->sigterm, NULL);
  uv_close((uv_handle_t *)&j->stop_timer, NULL);
  if (j->reloading)
    uv_close((uv_handle_t *)&j->sighup, NULL);
}

/* The service outlives its listeners: destroyed after the last.  The
 * signals are caught until then, so that a second one can cut the
 * flush short. */
static void release(listen_job *j) {
  if (--j->running > 0)
    return;
  close_signals(j);
  if (j->svc->destroy != NULL)
    j->svc->destroy(j->state);
}

static void server_stopped(void *arg) {
  server_slot *slot = arg;

  slot->s = NULL; /* freed by now */
  release(slot->j);
}

static void stop_servers(listen_job *j) {
  for (unsigned i = 0; i < j->nservers; i++)
    if (j->servers[i].s != NULL)
      sk_server_stop(j->servers[i].s, STOP_FLUSH_MS, server_stopped,
                     &j->servers[i]);
}

/* With -v, what the servers let in and turned away, summed: the causes
 * that refused someone, and the members dropped as too slow, if any. */
static void log_stats(const listen_job *j) {
  sk_server_stats all = {0}, one;
  const struct {
    const char *what;
    const uint64_t *n;
  } causes[] = {{"by access rules", &all.denied},
                {"per source", &all.per_ip},
                {"by rate", &all.rate},
                {"when full", &all.full}};
  char line[256];
  size_t n = 0;
  bool refused = false;

  if (j->verbosity < 1)
    return;
  for (unsigned i = 0; i < j->nservers; i++) {
    sk_server_stats_get(j->servers[i].s, &one);
    all.accepted += one.accepted;
    all.denied += one.denied;
    all.full += one.full;
    all.per_ip += one.per_ip;
    all.rate += one.rate;
    all.slow += one.slow;
  }
  n += (size_t)snprintf(line, sizeof(line), "%ju let in",
                        (uintmax_t)all.accepted);
  for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
    if (*causes[i].n == 0 || n >= sizeof(line))
      continue;
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %ju %s",
                          refused ? "," : "; refused", (uintmax_t)*causes[i].n,
                          causes[i].what);
    refused = true;
  }
  if (!refused && n < sizeof(line))
    n += (size_t)snprintf(line + n, sizeof(line) - n, ", none refused");
  if (all.slow > 0 && n < sizeof(line))
    snprintf(line + n, sizeof(line) - n, "; %ju dropped as too slow",
             (uintmax_t)all.slow);
  fprintf(stderr, "sockit: listen: %s\n", line);
}

/* Runs from a timer, outside every library callback: the service's last
 * word, then the graceful stop. */
static void stop_now(uv_timer_t *t) {
  listen_job *j = t->data;

  log_stats(j);
  if (j->svc->stopping != NULL)
    j->svc->stopping(j->state);
  j->flushing = true;
  stop_servers(j);
}

static void stop(listen_job *j) {
  if (j->stopping)
    return;
  j->stopping = true;
  uv_timer_start(&j->stop_timer, stop_now, 0, 0);
}

/* The first SIGINT or SIGTERM stops gracefully; one that comes while the
 * servers flush ends the flush at once (a second Ctrl-C, or timeout(1),
 * which signals its child and then its whole process group).  The exit
 * status stays what the stop gives: 0 unless the service failed.  A
 * signal before the stop began is the same request. */
static void on_signal(uv_signal_t *s, int signum) {
  listen_job *j = s->data;

  (void)signum;
  if (!j->flushing) {
    stop(j);
    return;
  }
  if (j->verbosity >= 0)
    fputs("sockit: listen: stopping at once (second signal)\n", stderr);
  stop_servers(j); /* again: the library cuts the flush */
}

/* SIGHUP: the access files again.  A file that no longer parses keeps the
 * rules in force (cli_access_build said why). */
static void on_sighup(uv_signal_t *sig, int signum) {
  listen_job *j = sig->data;
  sk_acl *acl;

  (void)signum;
  if (j->stopping ||
      cli_access_build(j->access, "listen", true, j->verbosity, &acl) != 0)
    return;
  for (unsigned i = 0; i < j->nservers; i++)
    sk_server_set_acl(j->servers[i].s, acl);
  if (j->verbosity >= 0)
    fprintf(stderr,
            "sockit: listen: reloaded access rules: %zu allow, %zu deny\n",
            acl != NULL ? sk_acl_count(acl, SK_ACL_ALLOW) : 0,
            acl != NULL ? sk_acl_count(acl, SK_ACL_DENY) : 0);
  sk_acl_unref(acl);
}

static void service_done(int status, void *arg) {
  listen_job *j = arg;

  j->status = status;
  stop(j);
}

typedef struct listen_opts {
  cli_common c;
  cli_tls tls;
  cli_access access;
  cli_net net;
  const char *service;
  sk_server_opts so;
  bool keep_open;
  bool crlf;
  const char *hexdump_path;
  bool backlog_set;
  const char *hard_text; /* --max-queue-hard as given, or NULL */
  bool slow_timeout_set;
  sk_addr *addrs;
  unsigned naddrs;
} listen_opts;

static int parse(listen_opts *o, int argc, char **argv) {
  static const struct option longs[] = {
      {"service", required_argument, NULL, 's'},
      {"framing", required_argument, NULL, 'f'},
      {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
      {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
      {"max-queue-hard", required_argument, NULL, OPT_MAX_QUEUE_HARD},
      {"slow-timeout", required_argument, NULL, OPT_SLOW_TIMEOUT},
      {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
      {"backlog", required_argument, NULL, OPT_BACKLOG},
      {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
      {"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
      CLI_TLS_SERVER_LONGS,
      CLI_ACCESS_LONGS,
      {"keep-open", no_argument, NULL, 'k'},
      {"raw-output", no_argument, NULL, OPT_RAW_OUTPUT},
      {"crlf", no_argument, NULL, 'C'},
      {"hexdump", required_argument, NULL, 'x'},
      CLI_FAMILY_LONGS,
      {"verbose", no_argument, NULL, 'v'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  uint64_t v;
  int opt, r;

  memset(o, 0, sizeof(*o));
  cli_common_init(&o->c, "listen");
  cli_tls_init(&o->tls);
  cli_access_init(&o->access);
  cli_net_init(&o->net);
  sk_server_opts_init(&o->so);
  o->service = "stdio";
  if (cli_wants_help(argc, argv, ":s:f:kCx:vqh46", longs)) {
    print_help();
    return -1;
  }
  while ((opt = cli_getopt(argc, argv, ":s:f:kCx:vqh46", longs)) != -1) {
    if ((r = cli_common_option(&o->c, opt, optarg)) != 0 ||
        (r = cli_net_option(&o->net, "listen", opt, optarg)) != 0 ||
        (r = cli_tls_option(&o->tls, "listen", opt, optarg)) != 0 ||
        (r = cli_access_option(&o->access, "listen", opt, optarg)) != 0) {
      if (r == 2)
        return EXIT_USAGE;
      continue;
    }
    switch (opt) {
    case 's':
      o->service = optarg;
      break;
    case 'k':
      o->keep_open = true;
      break;
    case 'C':
      o->crlf = true;
      break;
    case 'x':
      o->hexdump_path = optarg;
      break;
    case OPT_MAX_CONNS:
      if (cli_parse_uint("listen", "--max-conns", optarg, 0, 10000000, &v))
        return EXIT_USAGE;
      o->so.max_conns = (unsigned)v;
      break;
    case OPT_BACKLOG:
      if (cli_parse_uint("listen", "--backlog", optarg, 1, 65535, &v))
        return EXIT_USAGE;
      o->so.backlog = (int)v;
      o->backlog_set = true;
      break;
    case OPT_MAX_QUEUE_HARD:
      if (cli_parse_size("listen", "--max-queue-hard", optarg, 1024,
                         (uint64_t)1 << 40, &o->so.max_queue_hard))
        return EXIT_USAGE;
      o->hard_text = optarg;
      break;
    case OPT_SLOW_TIMEOUT:
      if (cli_parse_seconds("listen", "--slow-timeout", optarg,
                            &o->so.slow_timeout_ms))
        return EXIT_USAGE;
      o->slow_timeout_set = true;
      break;
    case OPT_IDLE_TIMEOUT:
      if (cli_parse_seconds("listen", "--idle-timeout", optarg,
                            &o->so.idle_timeout_ms))
        return EXIT_USAGE;
      break;
    case OPT_FRAME_TIMEOUT:
      if (cli_parse_seconds("listen", "--frame-timeout", optarg,
                            &o->so.frame_timeout_ms))
        return EXIT_USAGE;
      break;
    case 'h': /* cli_wants_help saw it first */
      print_help();
      return -1;
    default: /* ':' a missing value, '?' an unknown option */
      return cli_bad_option("listen", opt, argv, longs);
    }
  }
  if (optind >= argc)
    return cli_usage_error("listen", "missing ADDRESS");
  o->addrs = calloc((size_t)(argc - optind), sizeof(*o->addrs));
  if (o->addrs == NULL)
    return 1;
  for (int i = optind; i < argc; i++)
    if (cli_parse_addr("listen", argv[i], &o->net, &o->addrs[o->naddrs++]))
      return EXIT_USAGE;
  return cli_net_apply(&o->net, "listen", &argv[optind], NULL, o->addrs,
                       o->naddrs);
}

/* Checks that the options fit one address. */
static int check_addr(listen_opts *o, const sk_addr *addr) {
  if (strcmp(o->service, "chat") == 0 && o->c.framing.mode == SK_FRAME_RAW &&
      addr->transport != SK_UDP)
    return cli_usage_error("listen", "-s chat needs -f line or len: raw "
                                     "data has no lines to relay");
  if (cli_check_udp_framing(&o->c, addr))
    return EXIT_USAGE;
  if (o->backlog_set && addr->transport == SK_UDP)
    return cli_usage_error("listen", "--backlog applies to TCP and Unix "
                                     "sockets: UDP has no queue of "
                                     "connections to accept");
  if (o->so.frame_timeout_ms > 0 && addr->transport == SK_UDP)
    return cli_usage_error("listen", "--frame-timeout applies to streams: "
                                     "a datagram arrives whole");
  return 0;
}

static bool any_ip(const listen_opts *o) {
  for (unsigned i = 0; i < o->naddrs; i++)
    if (o->addrs[i].transport != SK_UNIX)
      return true;
  return false;
}

/* Names the services, or the one name was perhaps meant to be. */
static int unknown_service(const char *name) {
  char list[256];
  size_t n = 0;
  cli_suggest s;

  cli_suggest_init(&s, name, strlen(name));
  list[0] = '\0';
  for (const sk_service *const *v = sk_service_list(); *v != NULL; v++) {
    cli_suggest_add(&s, (*v)->name);
    if (n < sizeof(list))
      n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
                            n > 0 ? ", " : "", (*v)->name);
  }
  if (cli_suggest_result(&s) != NULL)
    return cli_usage_error("listen",
                           "unknown service '%s' (did you mean '%s'?)", name,
                           cli_suggest_result(&s));
  return cli_usage_error("listen", "unknown service '%s' (%s)", name, list);
}

/* The slow-consumer options apply to services whose clients are fed by
 * other clients (chat); the others pause the client whose queue is full,
 * which drops nobody. */
static int check_fed(listen_opts *o, const sk_service *svc) {
  const char *opt = o->hard_text != NULL  ? "--max-queue-hard"
                    : o->slow_timeout_set ? "--slow-timeout"
                                          : NULL;

  if (opt != NULL && strcmp(svc->name, "chat") != 0)
    return cli_usage_error("listen",
                           "%s applies to -s chat: %s stops reading a client "
                           "whose queue is full instead of dropping it",
                           opt, svc->name);
  if (o->hard_text != NULL && o->so.max_queue_hard < o->c.max_queue)
    return cli_usage_error(
        "listen", "--max-queue-hard %s is below --max-queue %s", o->hard_text,
        o->c.max_queue_text != NULL ? o->c.max_queue_text : "1M (the default)");
  return 0;
}

/* Checks that the options fit together. */
static int check(listen_opts *o, const sk_service **svc) {
  *svc = sk_service_find(o->service);
  if (*svc == NULL)
    return unknown_service(o->service);
  if (o->keep_open && strcmp((*svc)->name, "stdio") != 0)
    return cli_usage_error("listen", "-k/--keep-open applies to -s stdio "
                                     "only");
  if (o->c.raw_output && strcmp((*svc)->name, "stdio") != 0)
    return cli_usage_error("listen", "--raw-output applies to -s stdio only: "
                                     "other services print nothing peers "
                                     "send");
  if (o->crlf && strcmp((*svc)->name, "stdio") != 0)
    return cli_usage_error("listen", "-C/--crlf applies to -s stdio only: "
                                     "other services send no stdin");
  if (o->hexdump_path != NULL && strcmp((*svc)->name, "stdio") != 0)
    return cli_usage_error("listen", "-x/--hexdump applies to -s stdio only");
  if (cli_common_apply(&o->c, (*svc)->default_mode))
    return EXIT_USAGE;
  if (cli_check_crlf(&o->c, o->crlf))
    return EXIT_USAGE;
  for (unsigned i = 0; i < o->naddrs; i++)
    if (check_addr(o, &o->addrs[i]))
      return EXIT_USAGE;
  if (cli_access_given(&o->access) && !any_ip(o))
    return cli_usage_error("listen", "--allow, --deny and the per-source "
                                     "limits apply to IP addresses: a Unix "
                                     "socket's peers have none (use its "
                                     "file's permissions)");
  cli_access_apply(&o->access, &o->so);
  if (o->so.frame_timeout_ms > 0 && o->c.framing.mode == SK_FRAME_RAW)
    return cli_usage_error("listen", "--frame-timeout needs -f line or len: "
                                     "raw data has no frames to time");
  if (check_fed(o, *svc))
    return EXIT_USAGE;
  o->so.framing = o->c.framing;
  o->so.max_queue = o->c.max_queue;
  o->so.nodelay = (*svc)->nodelay;
  o->so.handshake_timeout_ms = o->tls.handshake_timeout_ms;
  return 0;
}

/* Makes the TLS context when an address needs it, and prints the
 * fingerprint of a certificate made at start, for clients' --pin. */
static int make_tls(listen_opts *o) {
  bool any = false;
  char fp[128];
  int err;

  for (unsigned i = 0; i < o->naddrs; i++)
    any = any || o->addrs[i].tls;
  err = cli_tls_make(&o->tls, "listen", true, any, &o->so.tls);
  if (err || o->so.tls == NULL || o->tls.o.cert_file != NULL)
    return err;
  if (sk_tls_fingerprint(o->so.tls, fp, sizeof(fp)) > 0 && o->c.verbosity >= 0)
    fprintf(stderr,
            "tls: self-signed certificate made at start, fingerprint %s "
            "(clients: --pin %s)\n",
            fp, fp);
  return 0;
}

/* Starts one server per address.  Returns 0, or 1 after a message. */
static int start_servers(listen_job *j, listen_opts *o) {
  char where[SK_ADDR_STRLEN], why[SK_PATH_MAX + 64];
  int err;

  j->servers = calloc(o->naddrs, sizeof(*j->servers));
  if (j->servers == NULL)
    return 1;
  for (unsigned i = 0; i < o->naddrs; i++) {
    sk_addr_format(&o->addrs[i], where, sizeof(where));
    j->servers[i].j = j;
    err = sk_server_start(&j->loop, &o->addrs[i], &o->so, j->svc->handler,
                          j->state, &j->servers[i].s);
    if (err) {
      if (cli_net_family_problem(&o->net, &o->addrs[i], err, why,
                                 sizeof(why)) == NULL)
        sk_addr_strerror(&o->addrs[i], err, why, sizeof(why));
      cli_error("listen %s: %s", where, why);
      return 1;
    }
    j->nservers++;
    j->running++;
  }
  for (unsigned i = 0; i < j->nservers && o->c.verbosity >= 0; i++) {
    sk_addr_format(sk_server_addr(j->servers[i].s), where, sizeof(where));
    fprintf(stderr, "listening on %s\n", where);
  }
  return 0;
}

/* What the options made before the loop: the TLS context and the access
 * list (the servers hold their own references), and the addresses. */
static void opts_free(listen_opts *o) {
  if (o->so.tls != NULL)
    sk_tls_unref(o->so.tls);
  sk_acl_unref(o->so.acl);
  o->so.tls = NULL;
  o->so.acl = NULL;
  free(o->addrs);
  o->addrs = NULL;
}

/* Signals are caught before the first "listening on" line: a script may
 * send one as soon as it reads it.  SIGHUP is caught only when there are
 * access rules to reload (from files, and those of the command line with
 * them); otherwise a hang-up ends sockit as usual. */
static void catch_signals(listen_job *j, const listen_opts *o) {
  uv_signal_init(&j->loop, &j->sigint);
  uv_signal_init(&j->loop, &j->sigterm);
  uv_timer_init(&j->loop, &j->stop_timer);
  j->sigint.data = j->sigterm.data = j->stop_timer.data = j;
  uv_signal_start(&j->sigint, on_signal, SIGINT);
  uv_signal_start(&j->sigterm, on_signal, SIGTERM);
  j->verbosity = o->c.verbosity;
  if (o->access.nrules > 0) {
    j->reloading = true;
    j->access = &o->access;
    uv_signal_init(&j->loop, &j->sighup);
    j->sighup.data = j;
    uv_signal_start(&j->sighup, on_sighup, SIGHUP);
  }
}

int cli_listen(int argc, char **argv) {
  listen_opts o;
  listen_job j;
  cli_hexdump dump = {0};
  sk_service_opts svo;
  char where[SK_ADDR_STRLEN];
  int err;

  memset(&j, 0, sizeof(j));
  err = parse(&o, argc, argv);
  if (err == 0)
    err = check(&o, &j.svc);
  if (err == 0)
    err =
        cli_access_build(&o.access, "listen", false, o.c.verbosity, &o.so.acl);
  /* Before the TLS context: a self-signed certificate's line would come
   * before an empty -x name's usage message. */
  if (err == 0)
    err = cli_hexdump_open(&dump, "listen", o.hexdump_path);
  if (err == 0)
    err = make_tls(&o);
  if (err) {
    cli_hexdump_close(&dump, "listen");
    opts_free(&o);
    cli_access_free(&o.access);
    return err < 0 ? 0 : err;
  }
  cli_setup_process();
  uv_loop_init(&j.loop);
  memset(&svo, 0, sizeof(svo));
  svo.framing = o.c.framing;
  svo.max_queue = o.c.max_queue;
  svo.keep_open = o.keep_open;
  svo.escape_output = cli_escape_output(&o.c);
  svo.crlf = o.crlf;
  if (dump.f != NULL) {
    svo.tap = cli_hexdump_tap;
    svo.tap_arg = &dump;
  }
  svo.on_done = service_done;
  svo.arg = &j;
  sk_addr_format(&o.addrs[0], where, sizeof(where));
  if (j.svc->create != NULL && (err = j.svc->create(&j.loop, &svo, &j.state))) {
    cli_error("listen %s: %s", where, sk_strerror(err));
    opts_free(&o);
    cli_access_free(&o.access);
    uv_run(&j.loop, UV_RUN_DEFAULT); /* whatever create began to close */
    uv_loop_close(&j.loop);
    cli_hexdump_close(&dump, "listen");
    return 1;
  }
  catch_signals(&j, &o);
  j.running = 1; /* held until every server started */
  err = start_servers(&j, &o);
  if (err) {
    j.status = 1;
    j.stopping = j.flushing = true;
    stop_servers(&j);
  }
  release(&j); /* the hold above */
  uv_run(&j.loop, UV_RUN_DEFAULT);
  uv_loop_close(&j.loop);
  free(j.servers);
  opts_free(&o);
  cli_access_free(&o.access);
  if (cli_hexdump_close(&dump, "listen"))
    j.status = 1;
  return j.status == 0 ? 0 : 1;
}
