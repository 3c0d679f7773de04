/* main.c -- the sockit command: parse the subcommand and dispatch. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sockit COMMAND [OPTIONS] ADDRESS\n"
    "\n"
    "Message-oriented sockets over TCP, UDP and Unix-domain sockets.\n"
    "\n"
    "Commands:\n"
    "  listen    serve on ADDRESS (stdio like netcat, or echo, upper,\n"
    "            discard, chat)\n"
    "  connect   connect to ADDRESS: stdin to the socket, the socket to\n"
    "            stdout, or --send messages and print the replies\n"
    "  bench     load a server: requests/s, MB/s, latency percentiles\n"
    "\n"
    "Addresses: tcp://HOST:PORT, udp://HOST:PORT, unix:PATH, unix:@NAME,\n"
    "           HOST:PORT, :PORT or PORT (TCP); IPv6 as [::1]:PORT; PORT\n"
    "           may be a service name (localhost:http).\n"
    "\n"
    "  -h, --help     this text; 'sockit help COMMAND' or 'sockit COMMAND\n"
    "                 --help' for a command (--help goes anywhere)\n"
    "  -V, --version  the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

typedef int (*command_fn)(int argc, char **argv);

static const struct command {
  const char *name;
  command_fn run;
} commands[] = {
    {"listen", cli_listen},
    {"connect", cli_connect},
    {"bench", cli_bench},
    {NULL, NULL},
};

static const struct command *command_find(const char *name) {
  for (const struct command *c = commands; c->name != NULL; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

static bool is_help(const char *word) {
  return strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0;
}

static const char *const command_names[] = {"listen", "connect", "bench",
                                            "help", NULL};

/* An unknown command, with the one perhaps meant. */
static int unknown_command(const char *word) {
  const char *near = cli_suggest_one(word, command_names);

  if (near != NULL)
    return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)",
                           word, near);
  return cli_usage_error(NULL, "unknown command '%s' (listen, connect, bench)",
                         word);
}

/* `sockit help [COMMAND]`, `sockit --help [COMMAND]`: the summary, or
 * the command's own help; words after it are ignored, as they are after
 * a command's --help. */
static int help(int argc, char **argv) {
  const struct command *c;
  char *args[3];

  if (argc < 3 || argv[2][0] == '-') {
    fputs(usage, stdout);
    return 0;
  }
  if ((c = command_find(argv[2])) == NULL)
    return unknown_command(argv[2]);
  args[0] = argv[2];
  args[1] = "--help";
  args[2] = NULL;
  return c->run(2, args);
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  const struct command *c;

  if (cmd == NULL) {
    fputs("sockit: missing COMMAND (listen, connect, bench)\n", stderr);
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  if ((c = command_find(cmd)) != NULL)
    return c->run(argc - 1, argv + 1);
  if (is_help(cmd) || strcmp(cmd, "help") == 0)
    return help(argc, argv);
  if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
    if (argc > 2)
      return cli_usage_error(NULL, "unexpected argument '%s' after %s", argv[2],
                             cmd);
    printf("sockit %s\n", SK_VERSION);
    return 0;
  }
  /* --help anywhere, as a command's own does. */
  for (int i = 2; i < argc; i++)
    if (is_help(argv[i])) {
      fputs(usage, stdout);
      return 0;
    }
  /* A near miss of a command is a typo ("lisen 8000"), not netcat's
   * HOST PORT. */
  if (cli_suggest_one(cmd, command_names) == NULL &&
      cli_netcat_hint(argc, argv))
    return EXIT_USAGE;
  return unknown_command(cmd);
}
