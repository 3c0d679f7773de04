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
  int verbosity; /* -1 quiet, 0 normal, 1 -v, 2 -vv */
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
};

int cli_listen(int argc, char **argv);
int cli_connect(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
