/* cli.h -- what the sockit command's files share. */
#ifndef SOCKIT_CLI_H
#define SOCKIT_CLI_H

#include "sockit.h"

#include <stdbool.h>
#include <stdint.h>

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

/* For -h/--help, which goes alone: 0 when argv holds nothing else, else 2
 * after a usage message naming the first other argument. */
int cli_help_alone(const char *cmd, int argc, char **argv);

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
int cli_parse_addr(const char *cmd, const char *s, sk_addr *out);

/* An address to connect to: 0, or 2 after a usage message when it is
 * nothing one can connect to (port 0). */
int cli_check_remote(const char *cmd, const sk_addr *a);

/* Handles -f, --max-frame, --max-queue, -v, -q.  Returns 1 when it took
 * the option, 0 when not its own, 2 on a bad value (already reported). */
int cli_common_option(cli_common *c, int opt, const char *arg);
void cli_common_init(cli_common *c, const char *cmd);

/* Applies the common options: framing default, max-frame fitted to the
 * length header, log level.  Returns 0, or 2 after a usage message. */
int cli_common_apply(cli_common *c, sk_frame_mode default_mode);

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
  OPT_MAX_QUEUE_HARD,
  OPT_SLOW_TIMEOUT,
};

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

int cli_listen(int argc, char **argv);
int cli_connect(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
