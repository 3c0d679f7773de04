/* connect.c -- `sockit connect`: a client peer driven by the stdio
 * service, or by a list of messages to send (--send). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UDP_LINGER_MS 1000  /* UDP, after stdin ended: quiet spell to exit */
#define SCAN_CONCURRENCY 64 /* -z: ports tried at once, by default */

static const char help[] =
    "usage: sockit connect [OPTIONS] ADDRESS\n"
    "       sockit connect -z [OPTIONS] HOST:PORTS...\n"
    "\n"
    "Connect to ADDRESS (tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT,\n"
    "unix:PATH, unix:@NAME (abstract), tls+unix:PATH, HOST:PORT, :PORT or\n"
    "PORT; PORT may be a service name, as in localhost:http).  Without\n"
    "--send, stdin goes to the socket and the socket to stdout; at the end\n"
    "of stdin a TCP or Unix client half-closes and prints replies until\n"
    "the server closes.  With line or len framing each stdin line is one\n"
    "message and each message received is printed as one line.  Over UDP\n"
    "each line is a datagram; after stdin ends, sockit exits once no reply\n"
    "came for 1 s.\n"
    "\n"
    "With -z, connect to each port of PORTS (22, 20-25, 20-25,80,443) and\n"
    "close at once, sending nothing; a tls:// port counts as open once the\n"
    "handshake and the certificate checks pass.  On stdout, in port\n"
    "order, a line for each open port (-v: every port; -q: none):\n"
    "HOST:PORT open, refused, timed out, unreachable (why), tls failed\n"
    "(why) or failed (why).  Exit 0 when every port is open, else 1.\n"
    "\n"
    "  -f, --framing SPEC     raw (default), line, len, len:N, len:Nbe,\n"
    "                         len:Nle (N in 1, 2, 4, 8)\n"
    "      --send MSG         send MSG as one message (repeatable), print\n"
    "                         the replies, and exit\n"
    "      --expect N         with --send: replies to wait for (default:\n"
    "                         one per --send; raw framing over a stream\n"
    "                         waits for the server to close instead)\n"
    "      --timeout S        bound the connect and the wait for replies\n"
    "                         (default 10, or -w's S; 0: no bound); with\n"
    "                         -z, each port's connect\n"
    "  -z, --scan             scan: connect to each port and close (above)\n"
    "      --scan-concurrency N  ports tried at once with -z (default 64;\n"
    "                         no more than the descriptor limit allows)\n"
    "  -w, --idle-timeout S   exit 1 once nothing was received or sent for\n"
    "                         S seconds (a line or len message counts when\n"
    "                         whole); without --timeout it bounds the\n"
    "                         connect too, as netcat's -w does (0: never;\n"
    "                         -z: each port's connect)\n"
    "  -C, --crlf             send stdin's line ends as CRLF: raw, each LF\n"
    "                         not after a CR becomes CRLF; line framing,\n"
    "                         each line ends with CRLF\n"
    "  -x, --hexdump FILE     log both directions to FILE (truncated; -:\n"
    "                         stderr) as offset, hex and text, '>' sent\n"
    "                         and '<' received\n"
    "      --max-frame BYTES  largest message (K, M, G; default 1M)\n"
    "      --max-queue BYTES  write queue cap (default "
    "1M)\n"
    "      --raw-output       print messages as they are, also to a\n"
    "                         terminal (there, by default, line and len\n"
    "                         messages show control characters and\n"
    "                         invalid UTF-8 as \\xNN)\n" CLI_FAMILY_HELP
        CLI_SOURCE_HELP CLI_TLS_CLIENT_HELP
    "  -v, --verbose          say when connected (TLS: the session and\n"
    "                         the server's certificate), and end with a\n"
    "                         summary: bytes each way, duration and rates;\n"
    "                         -z: a line for every port, not only the open\n"
    "                         ones\n"
    "  -q, --quiet            errors only (-z: no port lines)\n"
    "  -h, --help             this text\n";

typedef struct connect_job {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t timer, teardown;
  cli_common c;
  char where[SK_ADDR_STRLEN];
  char why[512]; /* why the peer closed, when more than its code says */
  bool heard;    /* a message came from the server */
  bool escape;   /* show replies escaped (cli_escape_output) */
  cli_tls tls;
  sk_tls *tls_ctx;
  cli_net net;
  sk_addr addr; /* the address connected to */
  sk_transport transport;
  /* stdio mode */
  const sk_service *svc;
  void *state;
  /* --send mode */
  char **sends;
  unsigned nsend;
  uint64_t expect;
  bool expect_set;
  uint64_t got;
  uint64_t timeout_ms;
  char joined[SK_ADDR_STRLEN]; /* HOST PORT as HOST:PORT, or "" */
  /* -z mode (cli/scan.c) */
  bool scan;
  uint64_t scan_concurrency;
  bool scan_concurrency_set;
  bool timeout_set;
  uint64_t idle_ms; /* -w */
  bool crlf;        /* -C */
  const char *hexdump_path;
  cli_hexdump hexdump;
  sk_peer_stats stats; /* kept as the peer closed, for -v's summary */
  bool have_stats;
  bool idled; /* the peer closed for -w */
  sk_peer *peer;
  bool opened, closed, reported, tearing_down, interrupted;
  int status;
} connect_job;

/* ------------------------------------------------------------- teardown */

/* -v: the last line, after any reason the run ended, like ncat's. */
static void print_summary(const connect_job *j) {
  char line[160];

  if (j->c.verbosity < 1 || !j->have_stats)
    return;
  sk_peer_stats_format(&j->stats, line, sizeof(line));
  fprintf(stderr, "sockit: %s: %s\n", j->where, line);
}

static void teardown_cb(uv_timer_t *t) {
  connect_job *j = t->data;

  uv_close((uv_handle_t *)&j->sigint, NULL);
  uv_close((uv_handle_t *)&j->sigterm, NULL);
  uv_close((uv_handle_t *)&j->timer, NULL);
  uv_close((uv_handle_t *)&j->teardown, NULL);
  if (j->svc != NULL && j->svc->destroy != NULL)
    j->svc->destroy(j->state);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    cli_error("stdout: %s", strerror(errno));
    j->status = 1;
  }
  if (cli_hexdump_close(&j->hexdump, "connect"))
    j->status = 1;
  print_summary(j);
}

/* A UDP socket hears "connection refused" from an ICMP port unreachable,
 * on a later send or receive: say what it is, there was no connection. */
static const char *error_text(const connect_job *j, int err) {
  if (j->transport == SK_UDP && err == UV_ECONNREFUSED)
    return "port unreachable (ICMP): nothing listens there";
  return sk_strerror(err);
}

/* Ends the run with status; reports err unless it is 0 or already said. */
static void end_run(connect_job *j, int status, int err) {
  if (j->tearing_down)
    return;
  j->tearing_down = true;
  j->status = status;
  uv_timer_stop(&j->timer);
  if (err != 0 && err != SK_ECLOSED && !j->reported) {
    /* A UDP "connection refused" is an ICMP port unreachable, which
     * error_text names; any other failure's words come from the peer. */
    bool icmp = j->transport == SK_UDP && err == UV_ECONNREFUSED;
    const char *why = j->why[0] != '\0' && !icmp ? j->why : error_text(j, err);
    char family[SK_ADDR_STRLEN + 64];
    if (!j->opened && cli_net_family_problem(&j->net, &j->addr, err, family,
                                             sizeof(family)) != NULL)
      why = family;
    if (!j->opened && cli_net_source_failed(&j->net, err))
      cli_error("connect %s: --source %s: %s%s", j->where, j->net.source_text,
                why, cli_net_source_hint(err));
    else if (!j->opened)
      cli_error("connect %s: %s", j->where, why);
    else
      cli_error("%s: %s", j->where, why);
  }
  uv_timer_start(&j->teardown, teardown_cb, 0, 0);
}

/* The first SIGINT or SIGTERM closes the connection, and sockit ends once
 * what came is written out; a second one, while stdout still drains (a
 * pipe nobody reads), ends it at once.  Either way the status is 0. */
static void on_signal(uv_signal_t *s, int signum) {
  connect_job *j = s->data;

  (void)signum;
  if (j->interrupted) {
    end_run(j, 0, 0);
    return;
  }
  j->interrupted = true;
  if (j->peer != NULL && !j->closed)
    sk_peer_close(j->peer, SK_ECLOSED);
}

/* ----------------------------------------------------- stdio mode glue */

static void st_open(sk_peer *p, void *ctx) {
  connect_job *j = ctx;

  j->opened = true;
  if (j->c.verbosity > 0)
    fprintf(stderr, "sockit: connected to %s\n", j->where);
  j->svc->handler->on_open(p, j->state);
}

static void st_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  connect_job *j = ctx;

  j->heard = true;
  j->svc->handler->on_message(p, msg, len, j->state);
}

static void st_eof(sk_peer *p, void *ctx) {
  connect_job *j = ctx;

  j->svc->handler->on_eof(p, j->state);
}

static void st_drain(sk_peer *p, void *ctx) {
  connect_job *j = ctx;

  j->svc->handler->on_drain(p, j->state);
}

/* Keeps what -v sums up and the words of why p closed: they are gone
 * after on_close; says at once when -w ended it.  A TLS
 * failure before the server said anything is a failed connect: in TLS 1.3
 * a server refuses a client certificate only after the client's side of
 * the handshake is done. */
static void keep_why(connect_job *j, sk_peer *p, int reason) {
  if (j->opened) {
    sk_peer_stats_get(p, &j->stats);
    j->have_stats = true;
  }
  j->idled = reason == SK_EIDLE;
  if (j->idled && !j->reported) {
    cli_error("connect: idle for %g s (-w): closing",
              (double)j->idle_ms / 1000.0);
    j->reported = true;
  }
  if (reason == 0)
    return;
  snprintf(j->why, sizeof(j->why), "%s", sk_peer_error(p));
  if (reason == SK_ETLS && !j->heard)
    j->opened = false;
}

static void st_close(sk_peer *p, int reason, void *ctx) {
  connect_job *j = ctx;

  j->closed = true;
  keep_why(j, p, reason);
  j->svc->handler->on_close(p, reason, j->state);
}

static const sk_handler stdio_glue = {
    .on_open = st_open,
    .on_message = st_message,
    .on_eof = st_eof,
    .on_drain = st_drain,
    .on_close = st_close,
};

static void stdio_done(int status, void *arg) {
  connect_job *j = arg;

  /* -w fails the run even when the service was finishing anyway (a UDP
   * linger that ran out at the same time). */
  end_run(j, (status == 0 || status == SK_ECLOSED) && !j->idled ? 0 : 1,
          status);
}

/* --------------------------------------------------------- --send mode */

/* Raw bytes over a stream have no message boundaries to count. */
static bool counts_replies(const connect_job *j) {
  return j->c.framing.mode != SK_FRAME_RAW || j->transport == SK_UDP;
}

static void timeout_cb(uv_timer_t *t) {
  connect_job *j = t->data;
  double s = (double)j->timeout_ms / 1000.0;

  if (j->closed || j->tearing_down)
    return; /* the peer is gone (and freed) already */
  if (!j->opened)
    cli_error("connect %s: timed out after %g s", j->where, s);
  else if (counts_replies(j))
    cli_error("timed out after %g s waiting for replies (got %llu of %llu)", s,
              (unsigned long long)j->got, (unsigned long long)j->expect);
  else
    cli_error("timed out after %g s waiting for %s to close", s, j->where);
  j->reported = true;
  sk_peer_close(j->peer, UV_ETIMEDOUT);
}

static void send_open(sk_peer *p, void *ctx) {
  connect_job *j = ctx;

  j->opened = true;
  if (j->hexdump.f != NULL)
    sk_peer_set_tap(p, cli_hexdump_tap, &j->hexdump);
  if (j->c.verbosity > 0)
    fprintf(stderr, "sockit: connected to %s\n", j->where);
  for (unsigned i = 0; i < j->nsend; i++) {
    int err = sk_peer_send(p, j->sends[i], strlen(j->sends[i]));
    if (err) {
      if (err != UV_ECONNREFUSED) { /* else said as the peer closes */
        cli_error("send to %s: %s", j->where, sk_strerror(err));
        j->reported = true;
      }
      sk_peer_close(p, err);
      return;
    }
  }
  if (!counts_replies(j) || j->expect == 0)
    sk_peer_end(p);
}

/* Prints a reply, escaped when j->escape.  A reply that needs no escaping
 * (the usual case) is written from where it is; another is escaped whole,
 * into at most 4 bytes per byte (\xNN), bounded by --max-frame. */
static void print_reply(const connect_job *j, const char *msg, size_t len) {
  size_t clean = j->escape ? sk_escape_span(msg, len) : len;
  char *shown;

  if (clean == len) {
    fwrite(msg, 1, len, stdout);
    return;
  }
  shown = malloc(4 * len + 1);
  if (shown == NULL) {
    cli_error("connect: %s", sk_strerror(UV_ENOMEM));
    return;
  }
  fwrite(shown, 1, sk_escape(msg, len, shown, 4 * len + 1), stdout);
  free(shown);
}

static void send_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  connect_job *j = ctx;

  j->heard = true;
  print_reply(j, msg, len);
  if (j->c.framing.mode != SK_FRAME_RAW)
    fputc('\n', stdout);
  j->got++;
  if (counts_replies(j) && j->got >= j->expect)
    sk_peer_close(p, SK_ECLOSED);
}

static void send_close(sk_peer *p, int reason, void *ctx) {
  connect_job *j = ctx;

  j->closed = true;
  keep_why(j, p, reason);
  if (j->interrupted) {
    end_run(j, 0, 0);
  } else if (!j->opened) {
    end_run(j, 1, reason);
  } else if (!counts_replies(j) || j->got >= j->expect) {
    end_run(j, reason == 0 || reason == SK_ECLOSED ? 0 : 1, reason);
  } else if (reason != 0 && reason != SK_ECLOSED && reason != UV_EOF) {
    end_run(j, 1, reason); /* says why: reset, port unreachable, ... */
  } else {
    if (!j->reported)
      cli_error("%s closed the connection after %llu of %llu replies", j->where,
                (unsigned long long)j->got, (unsigned long long)j->expect);
    j->reported = true;
    end_run(j, 1, reason);
  }
}

static const sk_handler send_handler = {
    .on_open = send_open,
    .on_message = send_message,
    .on_close = send_close,
};

/* ------------------------------------------------------------- options */

/* Each --send must go out as the one message it is meant to be: within
 * --max-frame, and without a newline when a newline ends a message. */
static int check_sends(const connect_job *j) {
  for (unsigned i = 0; i < j->nsend; i++) {
    size_t len = strlen(j->sends[i]);

    if (len > j->c.framing.max_frame)
      return cli_usage_error("connect",
                             "--send: a %zu-byte message is over "
                             "--max-frame %zu",
                             len, j->c.framing.max_frame);
    if (j->c.framing.mode == SK_FRAME_LINE && memchr(j->sends[i], '\n', len))
      return cli_usage_error("connect",
                             "--send number %u holds a newline, which line "
                             "framing cannot carry (one --send per line)",
                             i + 1);
  }
  return 0;
}

/* The first option given that shapes a conversation, or NULL. */
static const char *conversation_option(const connect_job *j) {
  if (j->nsend > 0)
    return "--send";
  if (j->expect_set)
    return "--expect";
  if (j->hexdump_path != NULL)
    return "-x/--hexdump";
  if (j->crlf)
    return "-C/--crlf";
  if (j->c.framing_text != NULL)
    return "-f/--framing";
  if (j->c.raw_output)
    return "--raw-output";
  if (j->c.max_frame_text != NULL)
    return "--max-frame";
  if (j->c.max_queue_text != NULL)
    return "--max-queue";
  return NULL;
}

/* -z connects and closes: the options of a conversation have no place,
 * and saying so beats a scan that ignores them. */
static int check_scan(connect_job *j) {
  const char *opt = conversation_option(j);

  if (opt != NULL)
    return cli_usage_error("connect",
                           "%s cannot be used with -z (a scan connects and "
                           "closes: it sends and reads nothing)",
                           opt);
  return cli_common_apply(&j->c, SK_FRAME_RAW);
}

/* Whether word can be the PORT of netcat's HOST PORT: a number (the
 * address parser says when it is out of range), a service name, or with
 * -z a port list. */
static bool port_word(const char *word, bool scan) {
  const char *chars = scan ? "0123456789,-" : "0123456789";
  size_t n = strspn(word, chars);

  if (n > 0 && word[n] == '\0')
    return true;
  n = strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789-_");
  return n > 0 && word[n] == '\0' && strspn(word, "0123456789-_") < n;
}

/* netcat's `connect HOST PORT`: HOST:PORT into buf, when host is no
 * address by itself (it has no port) and port can be one.  connect takes
 * one address, so two such words can mean nothing else; when host has its
 * port already, the second word is an extra argument. */
static bool host_port(const char *host, const char *port, bool scan, char *buf,
                      size_t size) {
  sk_addr a;

  if (!port_word(port, scan) || sk_addr_parse(&a, host) == 0)
    return false;
  return cli_join_host_port(buf, size, host, port);
}

static int parse(connect_job *j, int argc, char **argv, sk_addr *addr) {
  static const struct option longs[] = {
      {"framing", required_argument, NULL, 'f'},
      {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
      {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
      {"send", required_argument, NULL, OPT_SEND},
      {"expect", required_argument, NULL, OPT_EXPECT},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"idle-timeout", required_argument, NULL, 'w'},
      {"crlf", no_argument, NULL, 'C'},
      {"hexdump", required_argument, NULL, 'x'},
      {"raw-output", no_argument, NULL, OPT_RAW_OUTPUT},
      {"scan", no_argument, NULL, 'z'},
      {"scan-concurrency", required_argument, NULL, OPT_SCAN_CONCURRENCY},
      {"source", required_argument, NULL, OPT_SOURCE},
      CLI_FAMILY_LONGS,
      CLI_TLS_CLIENT_LONGS,
      {"verbose", no_argument, NULL, 'v'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  char *joined = j->joined;
  char *text;
  int opt, r;

  cli_common_init(&j->c, "connect");
  cli_tls_init(&j->tls);
  cli_net_init(&j->net);
  j->timeout_ms = 10000;
  j->scan_concurrency = SCAN_CONCURRENCY;
  j->sends = calloc((size_t)argc, sizeof(*j->sends));
  if (j->sends == NULL)
    return 1;
  if (cli_wants_help(argc, argv, ":f:w:Cx:vqhz46", longs)) {
    fputs(help, stdout);
    return -1;
  }
  while ((opt = cli_getopt(argc, argv, ":f:w:Cx:vqhz46", longs)) != -1) {
    if ((r = cli_common_option(&j->c, opt, optarg)) != 0 ||
        (r = cli_tls_option(&j->tls, "connect", opt, optarg)) != 0 ||
        (r = cli_net_option(&j->net, "connect", opt, optarg)) != 0) {
      if (r == 2)
        return EXIT_USAGE;
      continue;
    }
    switch (opt) {
    case OPT_SEND:
      j->sends[j->nsend++] = optarg;
      break;
    case OPT_EXPECT:
      if (cli_parse_uint("connect", "--expect", optarg, 0, 1000000000,
                         &j->expect))
        return EXIT_USAGE;
      j->expect_set = true;
      break;
    case OPT_TIMEOUT:
      if (cli_parse_seconds("connect", "--timeout", optarg, &j->timeout_ms))
        return EXIT_USAGE;
      j->timeout_set = true;
      break;
    case 'w':
      if (cli_parse_seconds("connect", "--idle-timeout", optarg, &j->idle_ms))
        return EXIT_USAGE;
      break;
    case 'C':
      j->crlf = true;
      break;
    case 'x':
      j->hexdump_path = optarg;
      break;
    case 'z':
      j->scan = true;
      break;
    case OPT_SCAN_CONCURRENCY:
      if (cli_parse_uint("connect", "--scan-concurrency", optarg, 1, 65535,
                         &j->scan_concurrency))
        return EXIT_USAGE;
      j->scan_concurrency_set = true;
      break;
    case 'h': /* cli_wants_help saw it first */
      fputs(help, stdout);
      return -1;
    default: /* ':' a missing value, '?' an unknown option */
      return cli_bad_option("connect", opt, argv, longs);
    }
  }
  if (j->scan && optind + 2 == argc &&
      host_port(argv[optind], argv[optind + 1], true, j->joined,
                sizeof(j->joined)))
    optind++; /* HOST PORTS, read as HOST:PORTS */
  if (j->scan)
    return check_scan(j);
  if (j->scan_concurrency_set)
    return cli_usage_error("connect", "--scan-concurrency needs -z");
  if (optind >= argc)
    return cli_usage_error("connect", "missing ADDRESS");
  if (optind + 2 == argc &&
      host_port(argv[optind], argv[optind + 1], false, joined, SK_ADDR_STRLEN))
    optind++; /* netcat's HOST PORT, read as HOST:PORT */
  else if (optind + 1 < argc)
    return cli_usage_error("connect", "unexpected argument '%s'",
                           argv[optind + 1]);
  text = joined[0] != '\0' ? joined : argv[optind];
  if (cli_parse_addr("connect", text, &j->net, addr) ||
      cli_check_remote("connect", addr))
    return EXIT_USAGE;
  if ((r = cli_net_apply(&j->net, "connect", &text, NULL, addr, 1)) != 0)
    return r;
  if (j->expect_set && j->nsend == 0)
    return cli_usage_error("connect", "--expect needs --send");
  if (!j->expect_set)
    j->expect = j->nsend;
  if (cli_common_apply(&j->c, SK_FRAME_RAW))
    return EXIT_USAGE;
  j->escape = cli_escape_output(&j->c);
  if (cli_check_udp_framing(&j->c, addr))
    return EXIT_USAGE;
  if (j->crlf && j->nsend > 0)
    return cli_usage_error("connect", "-C/--crlf converts stdin's line ends: "
                                      "it does not apply to --send");
  if (cli_check_crlf(&j->c, j->crlf))
    return EXIT_USAGE;
  return check_sends(j);
}

static int start(connect_job *j, const sk_addr *addr) {
  sk_client_opts co;
  sk_service_opts svo;
  const sk_handler *h = &send_handler;
  int err;

  sk_client_opts_init(&co);
  co.framing = j->c.framing;
  co.max_queue = j->c.max_queue;
  co.connect_timeout_ms = j->timeout_ms;
  /* netcat's -w bounds the connect too; an explicit --timeout wins.  The
   * wait for --send's replies keeps its own bound. */
  if (j->idle_ms > 0 && !j->timeout_set)
    co.connect_timeout_ms = j->idle_ms;
  co.idle_timeout_ms = j->idle_ms;
  co.tls = j->tls_ctx;
  co.local_addr = cli_net_source(&j->net);
  if (j->nsend == 0) {
    memset(&svo, 0, sizeof(svo));
    svo.framing = j->c.framing;
    svo.max_queue = j->c.max_queue;
    svo.connect_mode = 1;
    svo.escape_output = j->escape;
    svo.crlf = j->crlf;
    if (j->hexdump.f != NULL) {
      svo.tap = cli_hexdump_tap;
      svo.tap_arg = &j->hexdump;
    }
    svo.linger_ms = addr->transport == SK_UDP ? UDP_LINGER_MS : 0;
    svo.on_done = stdio_done;
    svo.arg = j;
    const sk_service *svc = sk_service_find("stdio");
    err = svc->create(&j->loop, &svo, &j->state);
    if (err)
      return err;
    j->svc = svc;
    h = &stdio_glue;
  }
  err = sk_client_connect(&j->loop, addr, &co, h, j, &j->peer);
  if (err)
    return err;
  if (j->nsend > 0 && j->timeout_ms > 0)
    uv_timer_start(&j->timer, timeout_cb, j->timeout_ms, 0);
  return 0;
}

int cli_connect(int argc, char **argv) {
  connect_job *j = calloc(1, sizeof(*j));
  sk_addr addr;
  int err, status;

  if (j == NULL)
    return 1;
  err = parse(j, argc, argv, &addr);
  if (err == 0 && j->scan) {
    /* netcat's -zw: -w bounds each port's connect, unless --timeout. */
    cli_scan_opts so = {.c = &j->c,
                        .tls = &j->tls,
                        .net = &j->net,
                        .timeout_ms = j->idle_ms > 0 && !j->timeout_set
                                          ? j->idle_ms
                                          : j->timeout_ms,
                        .concurrency = j->scan_concurrency};
    char *one = j->joined;
    err = j->joined[0] != '\0' ? cli_scan(&so, 1, &one)
                               : cli_scan(&so, argc - optind, argv + optind);
    free(j->sends);
    free(j);
    return err;
  }
  if (err) {
    free(j->sends);
    free(j);
    return err < 0 ? 0 : err;
  }
  /* The dump first: an empty -x name is a usage error, said before
   * --insecure's warning. */
  err = cli_hexdump_open(&j->hexdump, "connect", j->hexdump_path);
  if (err == 0)
    err = cli_tls_make(&j->tls, "connect", false, addr.tls, &j->tls_ctx);
  if (err) {
    cli_hexdump_close(&j->hexdump, "connect");
    if (j->tls_ctx != NULL)
      sk_tls_unref(j->tls_ctx);
    free(j->sends);
    free(j);
    return err;
  }
  cli_setup_process();
  sk_addr_format(&addr, j->where, sizeof(j->where));
  j->addr = addr;
  j->transport = addr.transport;
  uv_loop_init(&j->loop);
  uv_signal_init(&j->loop, &j->sigint);
  uv_signal_init(&j->loop, &j->sigterm);
  uv_timer_init(&j->loop, &j->timer);
  uv_timer_init(&j->loop, &j->teardown);
  j->sigint.data = j->sigterm.data = j->timer.data = j->teardown.data = j;
  uv_signal_start(&j->sigint, on_signal, SIGINT);
  uv_signal_start(&j->sigterm, on_signal, SIGTERM);
  err = start(j, &addr);
  if (err)
    end_run(j, 1, err);
  uv_run(&j->loop, UV_RUN_DEFAULT);
  uv_loop_close(&j->loop);
  if (j->tls_ctx != NULL)
    sk_tls_unref(j->tls_ctx);
  status = j->status;
  free(j->sends);
  free(j);
  return status;
}
