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
    "  -h, --help     this text; 'sockit COMMAND --help' for a command\n"
    "  -V, --version  the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

/* --help and --version stand alone: a word after them is a mistake.
 * hint, if not empty, says what was perhaps meant. */
static int check_alone(int argc, char **argv, const char *hint) {
  if (argc <= 2)
    return 0;
  return cli_usage_error(NULL, "unexpected argument '%s' after %s%s", argv[2],
                         argv[1], hint);
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;

  if (cmd == NULL) {
    fputs("sockit: missing COMMAND (listen, connect, bench)\n", stderr);
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    if (check_alone(argc, argv, " (a command's help: sockit COMMAND --help)"))
      return EXIT_USAGE;
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
    if (check_alone(argc, argv, ""))
      return EXIT_USAGE;
    printf("sockit %s\n", SK_VERSION);
    return 0;
  }
  if (strcmp(cmd, "listen") == 0)
    return cli_listen(argc - 1, argv + 1);
  if (strcmp(cmd, "connect") == 0)
    return cli_connect(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0)
    return cli_bench(argc - 1, argv + 1);
  return cli_usage_error(NULL, "unknown command '%s' (listen, connect, bench)",
                         cmd);
}
