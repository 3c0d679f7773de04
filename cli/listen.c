/* listen.c -- `sockit listen`: options to a server running a service. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STOP_FLUSH_MS 2000 /* how long a stopping server may flush */

static const char help[] =
    "usage: sockit listen [OPTIONS] ADDRESS [ADDRESS...]\n"
    "\n"
    "Serve on each ADDRESS (tcp://HOST:PORT, tls://HOST:PORT, "
    "udp://HOST:PORT,\n"
    "unix:PATH, tls+unix:PATH, HOST:PORT, :PORT or PORT; a missing host "
    "means\n"
    "127.0.0.1, port 0 picks one).  Every address feeds one service: one\n"
    "chat room for plain, TLS and Unix members alike.  When ready, prints\n"
    "'listening on ADDRESS' to stderr for each.\n"
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
    "  -k, --keep-open        stdio: keep serving after a client left;\n"
    "                         stdin goes to every client\n"
    "  -v, --verbose          log connects and disconnects\n"
    "  -q, --quiet            errors only\n"
    "  -h, --help             this text\n";

static void print_help(void) {
  char list[1024];
  size_t n = 0;

  for (const sk_service *const *s = sk_service_list(); *s != NULL; s++)
    n += (size_t)snprintf(list + n, sizeof(list) - n,
                          "                           %-8s %s\n", (*s)->name,
                          (*s)->summary);
  printf(help, list);
}

typedef struct listen_job {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t stop_timer;
  const sk_service *svc;
  void *state;
  sk_server **servers; /* one per address, all feeding one service */
  unsigned nservers;
  unsigned running; /* servers not yet stopped */
  int status;
  bool stopping;
} listen_job;

/* The service outlives its listeners: destroyed after the last. */
static void server_stopped(void *arg) {
  listen_job *j = arg;

  if (--j->running == 0 && j->svc->destroy != NULL)
    j->svc->destroy(j->state);
}

static void stop_servers(listen_job *j) {
  for (unsigned i = 0; i < j->nservers; i++)
    sk_server_stop(j->servers[i], STOP_FLUSH_MS, server_stopped, j);
}

/* Runs from a timer, outside every library callback. */
static void stop_now(uv_timer_t *t) {
  listen_job *j = t->data;

  uv_close((uv_handle_t *)&j->sigint, NULL);
  uv_close((uv_handle_t *)&j->sigterm, NULL);
  uv_close((uv_handle_t *)&j->stop_timer, NULL);
  stop_servers(j);
}

static void stop(listen_job *j) {
  if (j->stopping)
    return;
  j->stopping = true;
  uv_timer_start(&j->stop_timer, stop_now, 0, 0);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  stop(s->data);
}

static void service_done(int status, void *arg) {
  listen_job *j = arg;

  j->status = status;
  stop(j);
}

typedef struct listen_opts {
  cli_common c;
  cli_tls tls;
  const char *service;
  sk_server_opts so;
  bool keep_open;
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
      {"keep-open", no_argument, NULL, 'k'},
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
  sk_server_opts_init(&o->so);
  o->service = "stdio";
  opterr = 0;
  while ((opt = cli_getopt(argc, argv, ":s:f:kvqh", longs)) != -1) {
    if ((r = cli_common_option(&o->c, opt, optarg)) != 0 ||
        (r = cli_tls_option(&o->tls, "listen", opt, optarg)) != 0) {
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
    case 'h':
      if (cli_help_alone("listen", argc, argv))
        return EXIT_USAGE;
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
    if (cli_parse_addr("listen", argv[i], &o->addrs[o->naddrs++]))
      return EXIT_USAGE;
  return 0;
}

/* Checks that the options fit one address. */
static int check_addr(listen_opts *o, const sk_addr *addr) {
  if (strcmp(o->service, "chat") == 0 && o->c.framing.mode == SK_FRAME_RAW &&
      addr->transport != SK_UDP)
    return cli_usage_error("listen", "-s chat needs -f line or len: raw "
                                     "data has no lines to relay");
  if (addr->transport == SK_UDP && o->c.framing.mode == SK_FRAME_LEN)
    return cli_usage_error("listen",
                           "-f %s cannot be used over UDP: datagrams keep "
                           "their own boundaries (use raw or line)",
                           o->c.framing_text);
  if (o->backlog_set && addr->transport == SK_UDP)
    return cli_usage_error("listen", "--backlog applies to TCP and Unix "
                                     "sockets: UDP has no queue of "
                                     "connections to accept");
  if (o->so.frame_timeout_ms > 0 && addr->transport == SK_UDP)
    return cli_usage_error("listen", "--frame-timeout applies to streams: "
                                     "a datagram arrives whole");
  return 0;
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
    return cli_usage_error("listen",
                           "unknown service '%s' (stdio, echo, upper, "
                           "discard, chat)",
                           o->service);
  if (o->keep_open && strcmp((*svc)->name, "stdio") != 0)
    return cli_usage_error("listen", "-k/--keep-open applies to -s stdio "
                                     "only");
  if (cli_common_apply(&o->c, (*svc)->default_mode))
    return EXIT_USAGE;
  for (unsigned i = 0; i < o->naddrs; i++)
    if (check_addr(o, &o->addrs[i]))
      return EXIT_USAGE;
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
  char where[SK_ADDR_STRLEN];
  int err;

  j->servers = calloc(o->naddrs, sizeof(*j->servers));
  if (j->servers == NULL)
    return 1;
  for (unsigned i = 0; i < o->naddrs; i++) {
    sk_addr_format(&o->addrs[i], where, sizeof(where));
    err = sk_server_start(&j->loop, &o->addrs[i], &o->so, j->svc->handler,
                          j->state, &j->servers[i]);
    if (err) {
      cli_error("listen %s: %s", where, sk_strerror(err));
      return 1;
    }
    j->nservers++;
    j->running++;
  }
  for (unsigned i = 0; i < j->nservers && o->c.verbosity >= 0; i++) {
    sk_addr_format(sk_server_addr(j->servers[i]), where, sizeof(where));
    fprintf(stderr, "listening on %s\n", where);
  }
  return 0;
}

int cli_listen(int argc, char **argv) {
  listen_opts o;
  listen_job j;
  sk_service_opts svo;
  char where[SK_ADDR_STRLEN];
  int err;

  memset(&j, 0, sizeof(j));
  err = parse(&o, argc, argv);
  if (err == 0)
    err = check(&o, &j.svc);
  if (err == 0)
    err = make_tls(&o);
  if (err) {
    free(o.addrs);
    return err < 0 ? 0 : err;
  }
  cli_setup_process();
  uv_loop_init(&j.loop);
  memset(&svo, 0, sizeof(svo));
  svo.framing = o.c.framing;
  svo.max_queue = o.c.max_queue;
  svo.keep_open = o.keep_open;
  svo.on_done = service_done;
  svo.arg = &j;
  sk_addr_format(&o.addrs[0], where, sizeof(where));
  if (j.svc->create != NULL && (err = j.svc->create(&j.loop, &svo, &j.state))) {
    cli_error("listen %s: %s", where, sk_strerror(err));
    if (o.so.tls != NULL)
      sk_tls_unref(o.so.tls);
    uv_run(&j.loop, UV_RUN_DEFAULT); /* whatever create began to close */
    uv_loop_close(&j.loop);
    free(o.addrs);
    return 1;
  }
  /* Signals are caught before the first "listening on" line: a script
   * may send one as soon as it reads it. */
  uv_signal_init(&j.loop, &j.sigint);
  uv_signal_init(&j.loop, &j.sigterm);
  uv_timer_init(&j.loop, &j.stop_timer);
  j.sigint.data = j.sigterm.data = j.stop_timer.data = &j;
  uv_signal_start(&j.sigint, on_signal, SIGINT);
  uv_signal_start(&j.sigterm, on_signal, SIGTERM);
  j.running = 1; /* held until every server started */
  err = start_servers(&j, &o);
  if (o.so.tls != NULL)
    sk_tls_unref(o.so.tls); /* the servers hold their own references */
  if (err) {
    j.status = 1;
    j.stopping = true;
    uv_close((uv_handle_t *)&j.sigint, NULL);
    uv_close((uv_handle_t *)&j.sigterm, NULL);
    uv_close((uv_handle_t *)&j.stop_timer, NULL);
    stop_servers(&j);
    server_stopped(&j);
    uv_run(&j.loop, UV_RUN_DEFAULT);
    uv_loop_close(&j.loop);
    free(j.servers);
    free(o.addrs);
    return 1;
  }
  server_stopped(&j); /* the hold above */
  uv_run(&j.loop, UV_RUN_DEFAULT);
  uv_loop_close(&j.loop);
  free(j.servers);
  free(o.addrs);
  return j.status == 0 ? 0 : 1;
}
