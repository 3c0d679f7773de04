/* netcat.c -- netcat's habits answered with sockit's spelling.
 *
 * A netcat user types `sockit -l 8000`, `sockit -u host 53` or `sockit
 * host 80`.  None of these is a sockit command line, and "unknown command"
 * teaches nothing; instead the words are read as nc (OpenBSD's, and the
 * ncat options people carry over) would read them, and the same request
 * is written back as one sockit command line, in one line.  Nothing is
 * run: a guess about someone else's syntax should be shown, not acted on.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#define NPOS 8 /* positionals kept: host and ports */

typedef struct nc_line {
  bool listen, keep, udp, unix_sock, tls, scan, chat, crlf, verbose;
  const char *family; /* "-4", "-6" or NULL */
  const char *exec;   /* -e, -c, --exec, --sh-exec as written */
  const char *port;   /* -p */
  const char *source; /* -s */
  const char *wait;   /* -w */
  const char *access[8];
  unsigned naccess;    /* --allow V, --deny V, --max-conns V, as pairs */
  const char *unknown; /* the first option sockit has no spelling for */
  const char *pos[NPOS];
  unsigned npos;
} nc_line;

/* Short options of nc and ncat that take a value. */
static const char with_value[] = "pswecqixXTIOVMm";

/* One short letter; *val is its value when it takes one. */
static void take_short(nc_line *l, char c, const char *val, const char *word) {
  switch (c) {
  case 'l':
    l->listen = true;
    break;
  case 'k':
    l->keep = true;
    break;
  case 'u':
    l->udp = true;
    break;
  case 'U':
    l->unix_sock = true;
    break;
  case 'z':
    l->scan = true;
    break;
  case 'v':
    l->verbose = true;
    break;
  case 'C':
    l->crlf = true;
    break;
  case '4':
    l->family = "-4";
    break;
  case '6':
    l->family = "-6";
    break;
  case 'p':
    l->port = val;
    break;
  case 's':
    l->source = val;
    break;
  case 'w':
    l->wait = val;
    break;
  case 'e':
  case 'c':
    l->exec = l->exec != NULL ? l->exec : word;
    break;
  case 'n': /* numeric only: sockit takes numbers as they are */
  case 'N': /* shutdown after EOF: sockit does by default */
  case 'd': /* no stdin: `< /dev/null` */
  case 'q': /* quit after EOF: sockit does by default */
    break;
  default:
    l->unknown = l->unknown != NULL ? l->unknown : word;
  }
}

/* ncat's long options, "--name" or "--name=value": most are a short
 * letter's long name; '*' marks those that have none. */
static int take_long(nc_line *l, const char *word, const char *next) {
  static const struct {
    const char *name;
    char letter;
    bool value;
  } longs[] = {
      {"listen", 'l', false}, {"keep-open", 'k', false},
      {"udp", 'u', false},    {"unixsock", 'U', false},
      {"crlf", 'C', false},   {"verbose", 'v', false},
      {"nodns", 'n', false},  {"exec", 'e', true},
      {"sh-exec", 'c', true}, {"lua-exec", 'e', true},
      {"source", 's', true},  {"source-port", 'p', true},
      {"wait", 'w', true},    {"ssl", '*', false},
      {"chat", '*', false},   {"allow", '*', true},
      {"deny", '*', true},    {"max-conns", '*', true},
  };
  const char *name = word + 2, *eq = strchr(name, '=');
  size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);

  for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
    const char *val = eq != NULL ? eq + 1 : next;
    int used = longs[i].value && eq == NULL && next != NULL ? 2 : 1;

    if (strlen(longs[i].name) != n || strncmp(name, longs[i].name, n) != 0)
      continue;
    if (longs[i].letter != '*')
      take_short(l, longs[i].letter, val, word);
    else if (strcmp(longs[i].name, "ssl") == 0)
      l->tls = true;
    else if (strcmp(longs[i].name, "chat") == 0)
      l->chat = l->listen = true; /* a room is a server */
    else if (l->naccess + 2 <= 8 && val != NULL) {
      l->access[l->naccess++] = longs[i].name; /* sockit's name too */
      l->access[l->naccess++] = val;
    }
    return used;
  }
  l->unknown = l->unknown != NULL ? l->unknown : word;
  return 1;
}

static void read_line(nc_line *l, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *w = argv[i];

    if (strncmp(w, "--", 2) == 0 && w[2] != '\0') {
      i += take_long(l, w, i + 1 < argc ? argv[i + 1] : NULL) - 1;
      continue;
    }
    if (w[0] != '-' || w[1] == '\0') {
      if (l->npos < NPOS)
        l->pos[l->npos++] = w;
      continue;
    }
    for (const char *c = w + 1; *c != '\0'; c++) {
      const char *val = NULL;
      if (strchr(with_value, *c) != NULL) {
        val = c[1] != '\0' ? c + 1 : i + 1 < argc ? argv[++i] : NULL;
        take_short(l, *c, val, w);
        break;
      }
      take_short(l, *c, NULL, w);
    }
  }
}

/* Appends text to buf (of size), truncating. */
static void add(char *buf, size_t size, const char *fmt, const char *a,
                const char *b) {
  size_t n = strlen(buf);

  if (n < size)
    snprintf(buf + n, size - n, fmt, a != NULL ? a : "", b != NULL ? b : "");
}

/* HOST:PORT, in brackets for an IPv6 host. */
static void add_hostport(char *buf, size_t size, const char *host,
                         const char *port) {
  add(buf, size, strchr(host, ':') != NULL ? "[%s]:%s" : "%s:%s", host, port);
}

static void add_address(char *buf, size_t size, const nc_line *l,
                        const char *host, const char *port) {
  if (l->unix_sock) {
    add(buf, size, " unix:%s%s", host != NULL ? host : "PATH", NULL);
    return;
  }
  add(buf, size, " %s%s", l->udp ? "udp://" : l->tls ? "tls://" : "", NULL);
  if (host == NULL && l->listen && !l->udp && !l->tls)
    add(buf, size, "%s%s", port, NULL);
  else
    add_hostport(buf, size, host != NULL ? host : "", port);
}

/* The sockit command line for l, into buf.  Returns whether it is a TCP
 * listener on a bare port, which nc binds on every interface and sockit
 * on 127.0.0.1. */
static bool spell(const nc_line *l, char *buf, size_t size) {
  const char *host = NULL, *port = l->port;

  buf[0] = '\0';
  add(buf, size, "sockit %s%s", l->listen ? "listen" : "connect", NULL);
  if (l->listen) {
    if (l->npos >= 1 && port == NULL)
      port = l->pos[l->npos - 1];
    if (l->npos >= (l->port == NULL ? 2u : 1u))
      host = l->pos[0];
  } else if (l->npos >= 1) {
    host = l->pos[0];
    port = l->npos >= 2 ? l->pos[1] : l->unix_sock ? "" : "PORT";
  }
  if (l->unix_sock && host == NULL)
    host = port; /* nc -lU PATH: the path is the one positional */
  add(buf, size, "%s%s", l->keep ? " -k" : "", l->chat ? " -s chat" : "");
  add(buf, size, "%s%s", l->scan ? " -z" : "", l->verbose ? " -v" : "");
  add(buf, size, "%s%s", l->crlf ? " -C" : "", l->wait != NULL ? " -w " : "");
  add(buf, size, "%s%s", l->wait, l->family != NULL ? " " : "");
  add(buf, size, "%s%s", l->family, NULL);
  if (!l->listen && (l->source != NULL || l->port != NULL)) {
    /* An empty host is any address, of the target's family. */
    add(buf, size, " --source%s", " ", NULL);
    if (l->port != NULL)
      add_hostport(buf, size, l->source != NULL ? l->source : "", l->port);
    else
      add(buf, size, "%s%s", l->source, NULL);
    port = l->npos >= 2 ? l->pos[1] : "PORT";
  }
  for (unsigned i = 0; i + 1 < l->naccess; i += 2)
    add(buf, size, " --%s %s", l->access[i], l->access[i + 1]);
  if (host == NULL && !l->listen)
    host = "HOST";
  add_address(buf, size, l, host, port != NULL ? port : "PORT");
  /* nc -z host 20-25 80: one address, the ports joined */
  for (unsigned i = 2; l->scan && i < l->npos; i++)
    add(buf, size, ",%s%s", l->pos[i], NULL);
  return l->listen && host == NULL && !l->udp && !l->tls && !l->unix_sock &&
         l->family == NULL;
}

static bool is_port(const char *s) {
  size_t n = strspn(s, "0123456789");

  return n > 0 && n <= 5 && s[n] == '\0';
}

int cli_netcat_hint(int argc, char **argv) {
  nc_line l;
  char line[512], note[128] = "";
  const char *first = argv[1];
  bool loopback;

  if (first[0] != '-' && !(argc == 3 && is_port(argv[2])))
    return 0;
  if (first[0] == '-' && first[1] == '\0')
    return 0;
  memset(&l, 0, sizeof(l));
  read_line(&l, argc, argv);
  if (l.exec != NULL)
    return cli_usage_error(NULL,
                           "%s (run a program for each connection) is "
                           "netcat's; sockit has no --exec yet (its "
                           "services: stdio, echo, upper, discard, chat)",
                           l.exec);
  if (l.unknown != NULL && l.unknown == first)
    return 0; /* nothing netcat would know either: an unknown command */
  loopback = spell(&l, line, sizeof(line));
  if (l.unknown != NULL)
    snprintf(note, sizeof(note), " (sockit has nothing for %s)", l.unknown);
  else if (loopback)
    snprintf(note, sizeof(note),
             " (on 127.0.0.1; 0.0.0.0:PORT for every interface)");
  if (first[0] != '-')
    return cli_usage_error(NULL,
                           "'HOST PORT' is netcat's; sockit spells it "
                           "'%s'",
                           line);
  return cli_usage_error(NULL, "%s is netcat's; sockit spells it '%s'%s", first,
                         line, note);
}

const char *cli_netcat_letter(const char *cmd, int letter) {
  bool listen = strcmp(cmd, "listen") == 0;

  if (!listen && strcmp(cmd, "connect") != 0)
    return NULL;
  switch (letter) {
  case 'l':
    return listen ? "netcat's -l: sockit listen listens already"
                  : "netcat's -l: sockit listen ADDRESS";
  case 'p':
    return listen ? "netcat's -p: the port goes in the address, "
                    "'sockit listen 8000'"
                  : "netcat's source port: --source ADDR:PORT";
  case 'u':
    return "netcat's -u: sockit spells UDP in the address, udp://HOST:PORT";
  case 'U':
    return "netcat's -U: sockit spells a Unix socket unix:PATH";
  case 'e':
  case 'c':
    return "netcat's -e/-c run a program: sockit has no --exec yet";
  default:
    return NULL;
  }
}
