/* cli.h -- what the sockit command's files share. */
#ifndef SOCKIT_CLI_H
#define SOCKIT_CLI_H

#include "sockit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_USAGE 2

/* Options that every subcommand takes. */
typedef struct cli_common {
  const char *cmd; /* "listen", "connect" */
  sk_framing framing;
  const char *framing_text; /* as the user wrote it, or NULL */
  size_t max_frame;
  const char *max_frame_text; /* as given, or NULL for the default */
  size_t max_queue;
  const char *max_queue_text; /* as given, or NULL for the default */
  int verbosity;              /* -1 quiet, 0 normal, 1 -v, 2 -vv */
  bool raw_output; /* --raw-output: peer data to a terminal unescaped */
} cli_common;

/* Prints "sockit: CMD: message" and the help hint, and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct option;

/* getopt_long, remembering where it started, for cli_bad_option. */
int cli_getopt(int argc, char **argv, const char *shorts,
               const struct option *longs);

/* Reports the option cli_getopt stopped at, by the name the user wrote:
 * opt ':' is an option missing its value; '?' an unknown option, an
 * ambiguous abbreviation of several in longs, or a value given to an
 * option that takes none.  Returns 2. */
int cli_bad_option(const char *cmd, int opt, char **argv,
                   const struct option *longs);

/* Whether -h or --help is among the options of argv, anywhere (as git,
 * curl and ncat take it): the caller then prints its help, exits 0 and
 * ignores the rest.  An option's value that reads "--help" is a value.
 * Leaves getopt ready to parse argv from the start. */
bool cli_wants_help(int argc, char **argv, const char *shorts,
                    const struct option *longs);

/* "Did you mean ...?" (cli/suggest.c): case aside, the one name the
 * word begins (a word of two letters or more), else the longest name
 * (of two letters or more) that begins the word ("key" for "key-file"),
 * else the nearest name -- at most one edit away for a word of five
 * letters or fewer, two for a longer one (a transposed pair is one
 * edit).  A name that is the word with "in", "no-" or "un" in front is
 * never the answer: it means the opposite.  Feed the names with
 * cli_suggest_add; the result is one of them, or NULL. */
typedef struct cli_suggest {
  const char *word;
  size_t len;
  unsigned limit;
  const char *best; /* nearest so far, best_d edits away */
  unsigned best_d;
  const char *prefixed; /* the first name that word begins */
  unsigned nprefixed;
  const char *head; /* the longest name that begins word */
} cli_suggest;

void cli_suggest_init(cli_suggest *s, const char *word, size_t len);
void cli_suggest_add(cli_suggest *s, const char *name);
const char *cli_suggest_result(const cli_suggest *s);
/* The same over a NULL-terminated list. */
const char *cli_suggest_one(const char *word, const char *const *names);

/* netcat's habits (cli/netcat.c).  cli_netcat_hint reads a command
 * line that is not sockit's (argv[1] an option, or HOST PORT) as nc would
 * and, when nc would understand it, returns 2 after one usage line giving
 * sockit's spelling of it ("sockit: -l is netcat's; sockit spells it
 * 'sockit listen 8000'"); else 0, having printed nothing.
 * cli_netcat_note is a note for an option unknown to cmd (listen,
 * connect) that netcat users type, the n bytes of word ("-l", "--ssl"):
 * "netcat's -l: sockit listen listens already", in a static buffer
 * valid until the next call; or NULL. */
int cli_netcat_hint(int argc, char **argv);
const char *cli_netcat_note(const char *cmd, const char *word, size_t n);

/* Prints "sockit: message" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number parsers: 0 on success, else a usage message was printed and the
 * caller exits 2.  Sizes take K, M, G suffixes (powers of 1024). */
int cli_parse_size(const char *cmd, const char *opt, const char *s,
                   uint64_t min, uint64_t max, size_t *out);
int cli_parse_uint(const char *cmd, const char *opt, const char *s,
                   uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_seconds(const char *cmd, const char *opt, const char *s,
                      uint64_t *ms);

/* -4/-6 (every command) and --source (connect, bench): how addresses
 * resolve, and where a client connects from. */
typedef struct cli_net {
  unsigned family;         /* SK_ADDR_IPV4, SK_ADDR_IPV6 or 0 (-4, -6) */
  const char *source_text; /* --source as given, or NULL */
  sk_addr source;          /* parsed, by cli_net_apply */
  struct sockaddr_storage source_sa; /* resolved, by cli_net_apply */
} cli_net;

#define CLI_FAMILY_LONGS                                                       \
  {"ipv4", no_argument, NULL, '4'}, {                                          \
    "ipv6", no_argument, NULL, '6'                                             \
  }

#define CLI_FAMILY_HELP                                                        \
  "  -4, --ipv4             resolve host names to IPv4 addresses only\n"       \
  "  -6, --ipv6             resolve host names to IPv6 addresses only (a\n"    \
  "                         missing host is then ::1)\n"

#define CLI_SOURCE_HELP                                                        \
  "      --source ADDR[:PORT]  connect from this local address (IPv6 as\n"     \
  "                         [::1]:PORT; port 0 or none: any); host names\n"    \
  "                         then resolve in its family\n"

void cli_net_init(cli_net *n);
/* 1 when opt was -4, -6 or --source (taken), 0 when not, 2 on a
 * conflict (already reported). */
int cli_net_option(cli_net *n, const char *cmd, int opt, const char *arg);
/* Parses the address text s under -4/-6.  0, or 2 after a usage
 * message naming the problem. */
int cli_parse_addr(const char *cmd, const char *s, const cli_net *n,
                   sk_addr *out);
/* The same, naming shown instead of s in its messages (a scan target,
 * whose port list is parsed as one stand-in port). */
int cli_parse_addr_as(const char *cmd, const char *s, const char *shown,
                      const cli_net *n, sk_addr *out);
/* Checks -4/-6 and --source against the addresses (texts as parsed,
 * shown as messages name them -- NULL: the texts -- and addrs as
 * parsed): -4/-6 need an IP address among them, --source TCP, TLS or UDP
 * addresses only.  The source is parsed and resolved, and the addresses
 * are parsed again restricted to the source's family.  Returns 0; 2 after
 * a usage message; 1 after a runtime one (a source name that does not
 * resolve). */
int cli_net_apply(cli_net *n, const char *cmd, char *const *texts,
                  char *const *shown, sk_addr *addrs, unsigned naddrs);
/* Why a look-up of a failed with err, when -4/-6 or --source restricted
 * it to a family the name has no address in: "localhost has no IPv6
 * address (-6)", written into buf.  NULL when that is not why (the
 * resolver's own words then say it). */
const char *cli_net_family_problem(const cli_net *n, const sk_addr *a, int err,
                                   char *buf, size_t size);
/* The source to bind to, or NULL. */
const struct sockaddr *cli_net_source(const cli_net *n);
/* Whether err, from a connect, is the source address's fault (in use,
 * not an address of this host, a port one may not bind): the message
 * then names --source. */
bool cli_net_source_failed(const cli_net *n, int err);
/* What to add after such an error's text: "" or a hint in brackets. */
const char *cli_net_source_hint(int err);

/* HOST:PORT into buf (of size), the host in brackets when it is a bare
 * IPv6 address ("::1", not "[::1]" nor "tcp://..."), as netcat's HOST
 * PORT is written in sockit.  Returns whether it fit. */
bool cli_join_host_port(char *buf, size_t size, const char *host,
                        const char *port);

/* An address to connect to: 0, or 2 after a usage message when it is
 * nothing one can connect to (port 0). */
int cli_check_remote(const char *cmd, const sk_addr *a);

/* Handles -f, --max-frame, --max-queue, --raw-output, -v, -q.  Returns 1
 * when it took the option, 0 when not its own, 2 on a bad value (already
 * reported). */
int cli_common_option(cli_common *c, int opt, const char *arg);
void cli_common_init(cli_common *c, const char *cmd);

/* Applies the common options: framing default, max-frame fitted to the
 * length header, log level.  Returns 0, or 2 after a usage message. */
int cli_common_apply(cli_common *c, sk_frame_mode default_mode);

/* The framing against an address: 0, or 2 after a usage message when it
 * is len framing over UDP (datagrams keep their own boundaries). */
int cli_check_udp_framing(const cli_common *c, const sk_addr *a);
/* -C/--crlf (crlf) against the framing: 0, or 2 after a usage message
 * when the framing is len (its messages have no line ends). */
int cli_check_crlf(const cli_common *c, bool crlf);

/* Whether messages from peers printed to stdout are shown escaped:
 * stdout is a terminal, the framing is line or len, and --raw-output was
 * not given.  Raw framing, a pipe or a file get the bytes as they are. */
bool cli_escape_output(const cli_common *c);

/* -x/--hexdump FILE (cli/hexdump.c; the format is described there and
 * in the man page).  cli_hexdump_tap is an sk_tap_fn whose arg is the
 * cli_hexdump. */
typedef struct cli_hexdump {
  FILE *f;  /* NULL: no dump */
  bool own; /* f was opened here (not stderr) */
  const char *path;
  const sk_peer *last; /* whose chunk came last */
  char last_name[64];  /* and its name: a new peer may reuse the memory */
} cli_hexdump;

/* Opens path for the dump ("-": stderr; else created or truncated);
 * path NULL means no dump.  Returns 0; 2 after a usage message (an empty
 * name); or 1 after a message naming the file. */
int cli_hexdump_open(cli_hexdump *h, const char *cmd, const char *path);
void cli_hexdump_tap(sk_peer *p, sk_tap_dir dir, uint64_t offset,
                     const char *data, size_t len, void *arg);
/* Flushes and closes; returns 1 after a message when a write failed. */
int cli_hexdump_close(cli_hexdump *h, const char *cmd);

/* Raises the soft descriptor limit to the hard one and ignores SIGPIPE. */
void cli_setup_process(void);

/* getopt_long ids for long-only options. */
enum {
  OPT_MAX_FRAME = 256,
  OPT_MAX_QUEUE,
  OPT_MAX_CONNS,
  OPT_BACKLOG,
  OPT_IDLE_TIMEOUT,
  OPT_FRAME_TIMEOUT,
  OPT_SEND,
  OPT_EXPECT,
  OPT_TIMEOUT,
  OPT_CERT,
  OPT_KEY,
  OPT_CA,
  OPT_CLIENT_CA,
  OPT_PIN,
  OPT_INSECURE,
  OPT_ALPN,
  OPT_HANDSHAKE_TIMEOUT,
  OPT_ALLOW,
  OPT_DENY,
  OPT_ALLOW_FILE,
  OPT_DENY_FILE,
  OPT_MAX_CONNS_PER_IP,
  OPT_RATE_PER_IP,
  OPT_RAW_OUTPUT,
  OPT_SCAN_CONCURRENCY,
  OPT_SOURCE,
  OPT_MAX_QUEUE_HARD,
  OPT_SLOW_TIMEOUT,
};

/* The door's options (cli/access.c): access rules by network, in the
 * order given, and the per-source limits.  CLI_ACCESS_LONGS goes into a
 * subcommand's long options; cli_access_option takes what they return. */
typedef struct cli_rule {
  sk_acl_action action;
  bool file;        /* text is a file of entries, else one entry */
  const char *text; /* from argv */
} cli_rule;

typedef struct cli_access {
  cli_rule *rules;
  unsigned nrules;
  unsigned max_per_ip;     /* --max-conns-per-ip */
  unsigned rate_burst;     /* --rate-per-ip N */
  uint64_t rate_period_ms; /* --rate-per-ip N/S */
} cli_access;

#define CLI_ACCESS_LONGS                                                       \
  {"allow", required_argument, NULL, OPT_ALLOW},                               \
      {"deny", required_argument, NULL, OPT_DENY},                             \
      {"allow-file", required_argument, NULL, OPT_ALLOW_FILE},                 \
      {"deny-file", required_argument, NULL, OPT_DENY_FILE},                   \
      {"max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP}, {   \
    "rate-per-ip", required_argument, NULL, OPT_RATE_PER_IP                    \
  }

#define CLI_ACCESS_HELP                                                        \
  "Access (TCP, TLS, UDP; Unix sockets are guarded by their file's\n"          \
  "permissions):\n"                                                            \
  "      --allow NET        let in only NET (10.0.0.0/8, 192.168.1.7,\n"       \
  "                         fd00::/8, 10.0.0.0/255.0.0.0); repeatable\n"       \
  "      --deny NET         refuse NET; deny wins over allow\n"                \
  "      --allow-file FILE  one NET a line, # comments; SIGHUP reloads\n"      \
  "      --deny-file FILE   the files (a broken one keeps the old rules)\n"    \
  "      --max-conns-per-ip N  open connections per source address,\n"         \
  "                         an IPv6 source being its /64 (0: no limit)\n"      \
  "      --rate-per-ip N[/S]  new connections per source: N at once, N\n"      \
  "                         more every S seconds (S: 1 if left out;\n"         \
  "                         default none)\n"

void cli_access_init(cli_access *a);
void cli_access_free(cli_access *a);
/* 1 when opt was an access option (taken), 0 when not, 2 on a bad value
 * (already reported). */
int cli_access_option(cli_access *a, const char *cmd, int opt, const char *arg);
/* Any access option given. */
bool cli_access_given(const cli_access *a);
/* Builds the access list from the rules and files: *out is NULL when
 * there are no rules.  At start (reload false) a bad entry or file is a
 * usage error: returns 2 after a message naming the file, line and
 * problem.  On reload it returns 1 after a line saying the old rules are
 * kept.  Host bits set in an entry are warned of (unless verbosity < 0)
 * and cleared. */
int cli_access_build(const cli_access *a, const char *cmd, bool reload,
                     int verbosity, sk_acl **out);
/* Copies the per-source limits into so. */
void cli_access_apply(const cli_access *a, sk_server_opts *so);

/* TLS options (cli/tls.c).  CLI_TLS_SERVER_LONGS and CLI_TLS_CLIENT_LONGS
 * go into a subcommand's table of long options; cli_tls_option takes
 * what they return. */
typedef struct cli_tls {
  sk_tls_opts o;
  uint64_t handshake_timeout_ms; /* server: --handshake-timeout (10 s) */
  bool given;                    /* any TLS option was given */
} cli_tls;

#define CLI_TLS_SERVER_LONGS                                                   \
  {"cert", required_argument, NULL, OPT_CERT},                                 \
      {"key", required_argument, NULL, OPT_KEY},                               \
      {"client-ca", required_argument, NULL, OPT_CLIENT_CA},                   \
      {"alpn", required_argument, NULL, OPT_ALPN}, {                           \
    "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT        \
  }
#define CLI_TLS_CLIENT_LONGS                                                   \
  {"cert", required_argument, NULL, OPT_CERT},                                 \
      {"key", required_argument, NULL, OPT_KEY},                               \
      {"ca", required_argument, NULL, OPT_CA},                                 \
      {"pin", required_argument, NULL, OPT_PIN},                               \
      {"insecure", no_argument, NULL, OPT_INSECURE}, {                         \
    "alpn", required_argument, NULL, OPT_ALPN                                  \
  }

/* The help lines of the client TLS options, for connect and bench. */
#define CLI_TLS_CLIENT_HELP                                                    \
  "TLS (tls:// addresses; the server's certificate is verified by "            \
  "default):\n"                                                                \
  "      --ca FILE          trust the CAs in FILE (PEM) instead of the\n"      \
  "                         system's\n"                                        \
  "      --pin sha256:HEX   accept exactly the certificate with this\n"        \
  "                         fingerprint (a self-signed server's)\n"            \
  "      --insecure         verify nothing (says so on stderr)\n"              \
  "      --cert FILE        client certificate (PEM), with --key FILE\n"       \
  "      --key FILE\n"                                                         \
  "      --alpn LIST        offer these ALPN protocols (comma-separated)\n"

void cli_tls_init(cli_tls *t);
/* 1 when opt was a TLS option (taken), 0 when not, 2 on a bad value
 * (already reported). */
int cli_tls_option(cli_tls *t, const char *cmd, int opt, const char *arg);
/* Checks the TLS options against the addresses' use of TLS (any_tls) and
 * makes the context when needed: *out stays NULL when no address uses
 * TLS.  Returns 0; 2 after a usage message (TLS options without a TLS
 * address, --cert without --key, ...); 1 after a runtime message (a file
 * that does not load). */
int cli_tls_make(cli_tls *t, const char *cmd, bool server, bool any_tls,
                 sk_tls **out);

/* `sockit connect -z` (cli/scan.c). */
typedef struct cli_scan_opts {
  const cli_common *c;  /* -v, -q */
  cli_tls *tls;         /* the TLS options, for tls:// addresses */
  cli_net *net;         /* -4, -6 and --source */
  uint64_t timeout_ms;  /* --timeout: each port's connect (0: none) */
  uint64_t concurrency; /* --scan-concurrency: attempts at once */
} cli_scan_opts;

/* Scans the n addresses in args (HOST:PORTS each): checks them all first
 * (2 after a usage message), then tries every port and prints the
 * results.  Returns 0 when every port is open, else 1. */
int cli_scan(const cli_scan_opts *o, int n, char **args);

int cli_listen(int argc, char **argv);
int cli_connect(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
