/* bench.c -- `sockit bench`: options to the load generator, and its
 * report as a table or as JSON. */
#include "cli.h"
#include "loadgen.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: sockit bench [OPTIONS] ADDRESS\n"
    "\n"
    "Load a server at ADDRESS and report requests/s, MB/s, errors and\n"
    "latency percentiles (p50, p90, p99, p99.9, max; within 0.4%).\n"
    "\n"
    "      --mode MODE        echo (default): request/response, every reply\n"
    "                         checked against its request; stream: one-way\n"
    "                         bulk, MB/s; udp: datagram echo, loss counted;\n"
    "                         chat: every client sends lines to a chat room\n"
    "                         and reads the others' (deliveries/s, latency\n"
    "                         from send to delivery); connect: new\n"
    "                         connections/s, each closed as soon as it is\n"
    "                         open (latency: connect, + handshake for TLS)\n"
    "      --stall N          chat: N of the clients never read nor send\n"
    "                         (the server should drop them)\n"
    "  -c, --conns N          connections (default 50; connect: attempts in\n"
    "                         flight); above 20000 to a 127.x address,\n"
    "                         sources spread over 127.0.0.x (from\n"
    "                         --source's, when it is 127.x too)\n"
    "  -p, --pipeline P       requests in flight per connection (default 1;\n"
    "                         chat: lines in flight per reader, 1000)\n"
    "  -s, --size BYTES       message size (default 64; K, M suffixes)\n"
    "  -f, --framing SPEC     line (default), len, len:N[be|le], raw\n"
    "      --payload TEXT     send TEXT as every request and expect one\n"
    "                         reply message each, unchecked (e.g. PING to\n"
    "                         redis-server with line framing)\n"
    "  -d, --duration S       measure for S seconds (default 10)\n"
    "  -n, --requests N       or stop after N replies (connect: N attempts;\n"
    "                         no warm-up)\n"
    "      --warmup S         run unmeasured first (default 1)\n"
    "      --timeout S        connect timeout, and the longest the run\n"
    "                         goes on with nothing moving (default 10)\n"
    "      --max-frame BYTES  largest reply accepted (default 1M)\n"
    "      --json             one JSON object on stdout instead of a "
    "table\n" CLI_FAMILY_HELP
    "      --source ADDR[:PORT]  every connection from this local address\n"
    "                         (a port: one connection only, -c "
    "1)\n" CLI_TLS_CLIENT_HELP
    "  -q, --quiet            no live progress line\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 when there were no errors, 1 otherwise, 2 on usage\n"
    "errors.\n";

enum {
  OPT_STALL = 299,
  OPT_MODE = 300,
  OPT_PAYLOAD,
  OPT_WARMUP,
  OPT_JSON,
};

typedef struct bench_cli {
  cli_common c;
  cli_tls tls;
  cli_net net;
  lg_opts lg;
  bool json;
  bool requests_set, duration_set, pipeline_set;
} bench_cli;

static int parse_mode(const char *s, lg_mode *out) {
  static const char *const modes[] = {"echo", "stream",  "udp",
                                      "chat", "connect", NULL};
  const char *near;

  if (strcmp(s, "echo") == 0)
    *out = LG_ECHO;
  else if (strcmp(s, "stream") == 0)
    *out = LG_STREAM;
  else if (strcmp(s, "udp") == 0)
    *out = LG_UDP;
  else if (strcmp(s, "chat") == 0)
    *out = LG_CHAT;
  else if (strcmp(s, "connect") == 0)
    *out = LG_CONNECT;
  else if ((near = cli_suggest_one(s, modes)) != NULL)
    return cli_usage_error("bench", "unknown mode '%s' (did you mean '%s'?)", s,
                           near);
  else
    return cli_usage_error(
        "bench", "unknown mode '%s' (echo, stream, udp, chat, connect)", s);
  return 0;
}

/* The long options, for getopt_long and for naming a bad one. */
static const struct option longs[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"conns", required_argument, NULL, 'c'},
    {"pipeline", required_argument, NULL, 'p'},
    {"size", required_argument, NULL, 's'},
    {"framing", required_argument, NULL, 'f'},
    {"payload", required_argument, NULL, OPT_PAYLOAD},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"stall", required_argument, NULL, OPT_STALL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"source", required_argument, NULL, OPT_SOURCE},
    CLI_FAMILY_LONGS,
    CLI_TLS_CLIENT_LONGS,
    {NULL, 0, NULL, 0},
};

static int parse_one(bench_cli *b, int opt, char **argv) {
  uint64_t v;

  switch (opt) {
  case OPT_MODE:
    return parse_mode(optarg, &b->lg.mode);
  case 'c':
    if (cli_parse_uint("bench", "--conns", optarg, 1, 1000000, &v))
      return EXIT_USAGE;
    b->lg.conns = (unsigned)v;
    return 0;
  case 'p':
    if (cli_parse_uint("bench", "--pipeline", optarg, 1, 65536, &v))
      return EXIT_USAGE;
    b->lg.pipeline = (unsigned)v;
    b->pipeline_set = true;
    return 0;
  case OPT_STALL:
    if (cli_parse_uint("bench", "--stall", optarg, 0, 1000000, &v))
      return EXIT_USAGE;
    b->lg.stall = (unsigned)v;
    return 0;
  case 's':
    return cli_parse_size("bench", "--size", optarg, 0, (uint64_t)1 << 30,
                          &b->lg.size);
  case OPT_PAYLOAD:
    b->lg.payload = optarg;
    return 0;
  case 'd':
    b->duration_set = true;
    return cli_parse_seconds("bench", "--duration", optarg, &b->lg.duration_ms);
  case 'n':
    b->requests_set = true;
    return cli_parse_uint("bench", "--requests", optarg, 1, (uint64_t)1 << 48,
                          &b->lg.requests);
  case OPT_WARMUP:
    return cli_parse_seconds("bench", "--warmup", optarg, &b->lg.warmup_ms);
  case OPT_TIMEOUT:
    return cli_parse_seconds("bench", "--timeout", optarg,
                             &b->lg.connect_timeout_ms);
  case OPT_JSON:
    b->json = true;
    return 0;
  case 'h': /* cli_wants_help saw it first */
    fputs(help, stdout);
    return -1;
  default: /* ':' a missing value, '?' an unknown option */
    return cli_bad_option("bench", opt, argv, longs);
  }
}

static int parse(bench_cli *b, int argc, char **argv) {
  int opt, r;

  memset(b, 0, sizeof(*b));
  cli_common_init(&b->c, "bench");
  cli_tls_init(&b->tls);
  cli_net_init(&b->net);
  b->lg.net = &b->net;
  b->lg.conns = 50;
  b->lg.pipeline = 1;
  b->lg.size = 64;
  b->lg.duration_ms = 10000;
  b->lg.warmup_ms = 1000;
  b->lg.connect_timeout_ms = 10000;
  if (cli_wants_help(argc, argv, ":c:p:s:f:d:n:qh46", longs)) {
    fputs(help, stdout);
    return -1;
  }
  while ((opt = cli_getopt(argc, argv, ":c:p:s:f:d:n:qh46", longs)) != -1) {
    if ((r = cli_common_option(&b->c, opt, optarg)) != 0 ||
        (r = cli_tls_option(&b->tls, "bench", opt, optarg)) != 0 ||
        (r = cli_net_option(&b->net, "bench", opt, optarg)) != 0) {
      if (r == 2)
        return EXIT_USAGE;
      continue;
    }
    if ((r = parse_one(b, opt, argv)) != 0)
      return r;
  }
  if (optind >= argc)
    return cli_usage_error("bench", "missing ADDRESS");
  if (optind + 1 < argc)
    return cli_usage_error("bench", "unexpected argument '%s'",
                           argv[optind + 1]);
  if (cli_parse_addr("bench", argv[optind], &b->net, &b->lg.addr) ||
      cli_check_remote("bench", &b->lg.addr))
    return EXIT_USAGE;
  return cli_net_apply(&b->net, "bench", &argv[optind], NULL, &b->lg.addr, 1);
}

/* Checks that the options fit together. */
static int check(bench_cli *b) {
  lg_opts *o = &b->lg;
  bool udp = o->addr.transport == SK_UDP;

  if (b->requests_set && b->duration_set)
    return cli_usage_error("bench", "--duration and --requests exclude "
                                    "each other");
  if (b->duration_set && o->duration_ms == 0)
    return cli_usage_error("bench", "--duration: 0 is out of range (more "
                                    "than 0 s)");
  if (o->mode == LG_UDP && !udp)
    return cli_usage_error("bench", "--mode udp needs a udp:// address");
  if (udp && o->mode != LG_UDP)
    return cli_usage_error("bench", "a udp:// address needs --mode udp");
  if (cli_common_apply(&b->c, udp ? SK_FRAME_RAW : SK_FRAME_LINE))
    return EXIT_USAGE;
  o->framing = b->c.framing;
  if (udp && o->framing.mode == SK_FRAME_LEN)
    return cli_usage_error("bench", "-f %s cannot be used over UDP",
                           b->c.framing_text);
  if (o->payload != NULL && (o->mode == LG_UDP || o->mode == LG_CONNECT))
    return cli_usage_error("bench", "--payload needs --mode echo or stream");
  if (o->mode == LG_CONNECT && b->pipeline_set)
    return cli_usage_error("bench", "--pipeline does not go with --mode "
                                    "connect (nothing is sent)");
  if (o->mode == LG_CHAT && o->payload != NULL)
    return cli_usage_error("bench", "--payload does not go with --mode chat "
                                    "(lines carry their send time)");
  if (b->net.source_text != NULL && b->net.source.port != 0 &&
      (o->conns > 1 || o->mode == LG_CONNECT))
    return cli_usage_error("bench",
                           "--source %s: a fixed port serves one connection "
                           "at a time (-c 1, and not --mode connect)",
                           b->net.source_text);
  if (o->stall > 0 && (o->mode != LG_CHAT || o->stall >= o->conns))
    return cli_usage_error("bench", "--stall needs --mode chat and fewer "
                                    "stalled clients than --conns");
  if (o->mode == LG_CHAT && !b->pipeline_set)
    o->pipeline = 1000; /* lines in flight per reader */
  if ((o->mode == LG_UDP || o->mode == LG_CHAT) && o->size < 16)
    return cli_usage_error("bench",
                           "--mode %s needs --size 16 or more "
                           "(each message carries a sequence "
                           "number or time stamp)",
                           o->mode == LG_UDP ? "udp" : "chat");
  if ((o->mode == LG_ECHO || o->mode == LG_CHAT) &&
      o->framing.mode == SK_FRAME_RAW)
    return cli_usage_error("bench",
                           "--mode %s needs message framing "
                           "(line or len): raw bytes have no "
                           "messages to count",
                           o->mode == LG_ECHO ? "echo" : "chat");
  if (o->payload == NULL && o->size > o->framing.max_frame)
    return cli_usage_error("bench", "--size %zu is over --max-frame %zu",
                           o->size, o->framing.max_frame);
  if (o->payload != NULL && strlen(o->payload) > o->framing.max_frame)
    return cli_usage_error("bench",
                           "--payload: a %zu-byte message is over "
                           "--max-frame %zu",
                           strlen(o->payload), o->framing.max_frame);
  if (o->framing.mode == SK_FRAME_LINE && o->payload != NULL &&
      strchr(o->payload, '\n') != NULL)
    return cli_usage_error("bench", "--payload holds a newline, which line "
                                    "framing cannot carry");
  o->progress = b->c.verbosity >= 0 && !b->json && isatty(STDERR_FILENO);
  return 0;
}

/* ---------------------------------------------------------------- report */

/* What both reports start from. */
typedef struct report_head {
  const char *mode;
  char where[SK_ADDR_STRLEN];
  char framing[32];
  size_t size;
  double seconds; /* never 0, to divide by */
} report_head;

static void report_head_init(report_head *m, const bench_cli *b,
                             const lg_result *r) {
  static const char *const modes[] = {"echo", "stream", "udp", "chat",
                                      "connect"};
  const lg_opts *o = &b->lg;

  m->mode = modes[o->mode];
  sk_addr_format(&o->addr, m->where, sizeof(m->where));
  sk_framing_format(&o->framing, m->framing, sizeof(m->framing));
  m->size = o->payload != NULL ? strlen(o->payload) : o->size;
  m->seconds = r->seconds > 0 ? r->seconds : 1e-9;
}

static double us(const sk_hist *h, double p) {
  return (double)sk_hist_percentile(h, p) / 1e3;
}

static void report_table(const bench_cli *b, const lg_result *r) {
  const lg_opts *o = &b->lg;
  const sk_hist *h = r->latency_ns;
  report_head m;
  double s;

  report_head_init(&m, b, r);
  s = m.seconds;
  if (o->mode == LG_CONNECT)
    printf("sockit bench: connect %s, %u in flight, %.2f s measured\n", m.where,
           o->conns, r->seconds);
  else
    printf("sockit bench: %s %s, %u connection%s, pipeline %u, %zu-byte "
           "messages, %s framing, %.2f s measured\n",
           m.mode, m.where, o->conns, o->conns == 1 ? "" : "s", o->pipeline,
           m.size, m.framing, r->seconds);
  printf("  %-12s %14llu  (%.1f/s)\n",
         o->mode == LG_STREAM    ? "messages"
         : o->mode == LG_CHAT    ? "deliveries"
         : o->mode == LG_CONNECT ? "connects"
                                 : "requests",
         (unsigned long long)r->requests, (double)r->requests / s);
  if (o->mode != LG_CONNECT)
    printf("  %-12s %14.2f MB/s sent, %.2f MB/s received\n", "throughput",
           (double)r->bytes_sent / s / 1e6,
           (double)r->bytes_received / s / 1e6);
  printf("  %-12s %14llu", "errors", (unsigned long long)r->errors);
  if (r->mismatches || r->lost)
    printf("  (%llu mismatched, %llu lost)", (unsigned long long)r->mismatches,
           (unsigned long long)r->lost);
  printf("\n");
  if (o->mode != LG_STREAM && sk_hist_count(h) > 0)
    printf("  %-12s p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  "
           "max %.1f us  (mean %.1f us)\n",
           "latency", us(h, 50), us(h, 90), us(h, 99), us(h, 99.9),
           (double)sk_hist_max(h) / 1e3, sk_hist_mean(h) / 1e3);
  if (r->first_error[0] != '\0')
    printf("  %-12s %s\n", "first error", r->first_error);
}

/* JSON strings here are addresses and framing names: escape the few
 * characters that need it all the same. */
static void json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", (unsigned char)*s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void report_json(const bench_cli *b, const lg_result *r) {
  const lg_opts *o = &b->lg;
  const sk_hist *h = r->latency_ns;
  report_head m;
  double s;

  report_head_init(&m, b, r);
  s = m.seconds;
  printf("{\"mode\":\"%s\",\"address\":", m.mode);
  json_string(m.where);
  printf(",\"conns\":%u,\"pipeline\":%u,\"size\":%zu,\"framing\":\"%s\"",
         o->conns, o->pipeline, m.size, m.framing);
  printf(",\"duration_s\":%.6f,\"requests\":%llu,\"requests_per_s\":%.3f",
         r->seconds, (unsigned long long)r->requests, (double)r->requests / s);
  printf(",\"bytes_sent\":%llu,\"bytes_received\":%llu,\"mb_per_s\":%.3f",
         (unsigned long long)r->bytes_sent,
         (unsigned long long)r->bytes_received,
         (double)(o->mode == LG_STREAM ? r->bytes_sent : r->bytes_received) /
             s / 1e6);
  printf(",\"errors\":%llu,\"mismatches\":%llu,\"lost\":%llu",
         (unsigned long long)r->errors, (unsigned long long)r->mismatches,
         (unsigned long long)r->lost);
  if (o->mode == LG_STREAM || sk_hist_count(h) == 0)
    printf(",\"latency_us\":null");
  else
    printf(",\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
           "\"p99_9\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
           us(h, 50), us(h, 90), us(h, 99), us(h, 99.9),
           (double)sk_hist_max(h) / 1e3, sk_hist_mean(h) / 1e3);
  if (r->first_error[0] != '\0') {
    printf(",\"first_error\":");
    json_string(r->first_error);
  }
  printf("}\n");
}

int cli_bench(int argc, char **argv) {
  bench_cli b;
  lg_result r;
  int err;

  err = parse(&b, argc, argv);
  if (err)
    return err < 0 ? 0 : err;
  err = check(&b);
  if (err)
    return err;
  err = cli_tls_make(&b.tls, "bench", false, b.lg.addr.tls, &b.lg.tls);
  if (err)
    return err;
  cli_setup_process();
  err = lg_run(&b.lg, &r);
  if (b.lg.tls != NULL)
    sk_tls_unref(b.lg.tls);
  if (err) {
    cli_error("bench: %s", sk_strerror(err));
    return 1;
  }
  if (b.json)
    report_json(&b, &r);
  else
    report_table(&b, &r);
  if (r.first_error[0] != '\0')
    cli_error("bench: %s", r.first_error);
  else if (r.requests == 0)
    cli_error("bench: nothing completed in the measured window (a server "
              "too slow to answer, or a listen queue full?)");
  sk_hist_free(r.latency_ns);
  return r.errors == 0 && r.requests > 0 ? 0 : 1;
}
