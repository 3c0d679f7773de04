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
  const char *blame;   /* the first option that is netcat's, not sockit's */
  const char *pos[NPOS];
  unsigned npos;
} nc_line;

/* netcat's habits, one row each: nc's letter and ncat's long name (0 or
 * NULL when there is none), whether it takes a value, whether sockit has
 * it with the same meaning (then a command line is netcat's for its
 * missing command, not for this option), and what to tell someone who
 * types it inside `sockit listen` or `sockit connect` (NULL: nothing).
 * '*' marks the long options that have no letter. */
static const struct habit {
  char letter;
  const char *name;
  bool value, shared;
  const char *in_listen, *in_connect;
} habits[] = {
    {'l', "listen", false, false, "sockit listen listens already",
     "sockit listen ADDRESS"},
    {'k', "keep-open", false, true, NULL, NULL},
    {'u', "udp", false, false,
     "sockit spells UDP in the address, udp://HOST:PORT",
     "sockit spells UDP in the address, udp://HOST:PORT"},
    {'U', "unixsock", false, false, "sockit spells a Unix socket unix:PATH",
     "sockit spells a Unix socket unix:PATH"},
    {'z', NULL, false, true, NULL, NULL},
    {'v', "verbose", false, true, NULL, NULL},
    {'C', "crlf", false, true, NULL, NULL},
    {'4', NULL, false, true, NULL, NULL},
    {'6', NULL, false, true, NULL, NULL},
    {'n', "nodns", false, false, NULL, NULL},
    {'N', NULL, false, false, NULL, NULL},
    {'d', NULL, false, false, NULL, NULL},
    {'p', "source-port", true, false,
     "the port goes in the address, 'sockit listen 8000'",
     "the source port is --source ADDR:PORT"},
    {'s', NULL, true, false, NULL, NULL},
    {'*', "source", true, true, NULL, NULL},
    {'w', NULL, true, true, NULL, NULL},
    {'*', "wait", true, false, "sockit listen has --idle-timeout S",
     "sockit spells it -w S"},
    {'e', "exec", true, false, "runs a program; sockit has no --exec yet",
     "runs a program; sockit has no --exec yet"},
    {'c', "sh-exec", true, false, "runs a program; sockit has no --exec yet",
     "runs a program; sockit has no --exec yet"},
    {'*', "lua-exec", true, false, "runs a program; sockit has no --exec yet",
     "runs a program; sockit has no --exec yet"},
    {'*', "ssl", false, false,
     "sockit spells TLS in the address, "
     "tls://HOST:PORT",
     "sockit spells TLS in the address, tls://HOST:PORT"},
    {'*', "chat", false, false, "sockit spells it -s chat",
     "a chat room is 'sockit listen -s chat ADDRESS'"},
    {'*', "allow", true, true, NULL, NULL},
    {'*', "deny", true, true, NULL, NULL},
    {'*', "max-conns", true, true, NULL, NULL},
    /* nc's and ncat's other letters with a value, which sockit lacks */
    {'q', NULL, true, false, NULL, NULL},
    {'i', NULL, true, false, NULL, NULL},
    {'x', NULL, true, false, NULL, NULL},
    {'X', NULL, true, false, NULL, NULL},
    {'T', NULL, true, false, NULL, NULL},
    {'I', NULL, true, false, NULL, NULL},
    {'O', NULL, true, false, NULL, NULL},
    {'V', NULL, true, false, NULL, NULL},
    {'M', NULL, true, false, NULL, NULL},
    {'m', NULL, true, false, NULL, NULL},
};

#define NHABITS (sizeof(habits) / sizeof(habits[0]))

/* The row of a short letter, or NULL. */
static const struct habit *habit_letter(char c) {
  for (size_t i = 0; i < NHABITS; i++)
    if (habits[i].letter == c)
      return &habits[i];
  return NULL;
}

/* The row of the n bytes of a long name, or NULL. */
static const struct habit *habit_long(const char *name, size_t n) {
  for (size_t i = 0; i < NHABITS; i++)
    if (habits[i].name != NULL && strlen(habits[i].name) == n &&
        strncmp(name, habits[i].name, n) == 0)
      return &habits[i];
  return NULL;
}

/* Marks word as the first option that is netcat's own. */
static void blame(nc_line *l, const struct habit *h, const char *word) {
  if (h != NULL && !h->shared && l->blame == NULL)
    l->blame = word;
}

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
 * letter's long name.  Returns the words used. */
static int take_long(nc_line *l, const char *word, const char *next) {
  const char *name = word + 2, *eq = strchr(name, '=');
  size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);
  const struct habit *h = habit_long(name, n);
  const char *val = eq != NULL ? eq + 1 : next;

  if (h == NULL) {
    l->unknown = l->unknown != NULL ? l->unknown : word;
    return 1;
  }
  blame(l, h, word);
  if (h->letter != '*')
    take_short(l, h->letter, val, word);
  else if (strcmp(h->name, "ssl") == 0)
    l->tls = true;
  else if (strcmp(h->name, "chat") == 0)
    l->chat = l->listen = true; /* a room is a server */
  else if (strcmp(h->name, "source") == 0)
    l->source = val;
  else if (strcmp(h->name, "wait") == 0)
    l->wait = val;
  else if (strcmp(h->name, "lua-exec") == 0)
    l->exec = l->exec != NULL ? l->exec : word;
  else if (l->naccess + 2 <= 8 && val != NULL) {
    l->access[l->naccess++] = h->name; /* sockit's name too */
    l->access[l->naccess++] = val;
  }
  return h->value && eq == NULL && next != NULL ? 2 : 1;
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
      const struct habit *h = habit_letter(*c);
      const char *val = NULL;
      blame(l, h, w);
      if (h != NULL && h->value) {
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
  char hp[SK_ADDR_STRLEN];

  if (cli_join_host_port(hp, sizeof(hp), host, port))
    add(buf, size, "%s%s", hp, NULL);
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
  if (l->listen && host == NULL && !l->unix_sock)
    host = l->source; /* nc -l -s ADDR -p PORT: the address to bind */
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
  if (l.blame != NULL)
    return cli_usage_error(NULL, "%s is netcat's; sockit spells it '%s'%s",
                           l.blame, line, note);
  if (first[0] != '-')
    return cli_usage_error(NULL,
                           "'HOST PORT' is netcat's; sockit spells it "
                           "'%s'",
                           line);
  /* Options sockit has too (-4, -v, -z, --allow): only their place, before
   * a command, is netcat's. */
  return cli_usage_error(NULL,
                         "options go after the command; sockit spells it "
                         "'%s'%s",
                         line, note);
}

const char *cli_netcat_note(const char *cmd, const char *word, size_t n) {
  static char note[160];
  bool listen = strcmp(cmd, "listen") == 0;
  const struct habit *h = NULL;
  const char *what;

  if (!listen && strcmp(cmd, "connect") != 0)
    return NULL;
  if (n == 2 && word[0] == '-' && word[1] != '-')
    h = habit_letter(word[1]);
  else if (n > 2 && strncmp(word, "--", 2) == 0)
    h = habit_long(word + 2, n - 2);
  what = h == NULL ? NULL : listen ? h->in_listen : h->in_connect;
  if (what == NULL)
    return NULL;
  snprintf(note, sizeof(note), "netcat's %.*s: %s", (int)n, word, what);
  return note;
}
