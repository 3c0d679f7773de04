/* scan.c -- `sockit connect -z`: connect to each named port and close
 * without sending a byte, a bounded number at a time, and report them:
 * the addresses in the order named, each one's ports in ascending order
 * (a port named twice is tried once).
 *
 * Each port is one sk_client_connect with the --timeout as its connect
 * timeout; the library's per-attempt result (on_close's reason) is the
 * port's state.  A host is looked up once, before the scan, and its
 * addresses go to every attempt through sk_client_opts.targets, so that a
 * name with several addresses is tried as `sockit connect` tries it.  The
 * cost of an attempt is one socket, one timer and two small allocations;
 * at most --scan-concurrency of them exist at once, so a scan of
 * 1-65535 holds a bounded number of descriptors and lasts at most
 * ceil(ports / concurrency) timeouts.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define PENDING 1     /* a result not in yet: the others are 0 or < 0 */
#define FD_RESERVE 16 /* descriptors left for stdio, the loop, signals */

typedef struct scan_port {
  uint16_t port;
  int result; /* PENDING, 0 (open) or why it is not open */
  char *why;  /* TLS: the handshake's failure in words, or NULL */
} scan_port;

typedef struct scan_target {
  const char *text; /* as written */
  char *parsed;     /* what was parsed: text, or its port list as one port */
  sk_addr addr;     /* its port is set for each attempt */
  struct sockaddr_storage *ips;
  int nips; /* how many, or the look-up's error */
  scan_port *ports;
  unsigned nports;
} scan_target;

typedef struct scan scan;

/* One attempt in flight: a slot of the bounded pool. */
typedef struct probe {
  scan *s;
  unsigned index; /* in s->probes */
  scan_port *sp;
  sk_peer *peer;
  bool busy, opened;
} probe;

struct scan {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  const cli_scan_opts *o;
  sk_tls *tls;
  scan_target *targets;
  unsigned ntargets;
  probe *probes;
  unsigned *idle; /* a stack of free slots */
  unsigned nprobes, nidle;
  unsigned next_t, next_p; /* the next port to try */
  unsigned show_t, show_p; /* the next port to print */
  bool filling, stopping, done;
  int status;
};

/* ------------------------------------------------------------ parsing */

/* Marks the ports of one item of a port list ("80" or "20-25") in set.
 * Returns 0, or 2 after a message naming the item. */
static int parse_item(const char *cmd, const char *text, const char *item,
                      size_t len, uint8_t *set) {
  uint64_t first, last;
  size_t n, m = 0;

  if (len == 0)
    return cli_usage_error(cmd,
                           "bad ports in '%s': an empty item in the port "
                           "list (PORT or FIRST-LAST, separated by commas)",
                           text);
  n = sk_parse_u64(item, len, &first);
  last = first;
  if (n > 0 && n < len && item[n] == '-')
    m = sk_parse_u64(item + n + 1, len - n - 1, &last);
  if (n == 0 || (n < len && (m == 0 || n + 1 + m != len)))
    return cli_usage_error(cmd,
                           "bad ports in '%s': '%.*s' is not a port or a "
                           "range (PORT or FIRST-LAST)",
                           text, (int)len, item);
  if (first < 1 || first > 65535)
    return cli_usage_error(cmd,
                           "bad ports in '%s': port %.*s is out of range "
                           "(1-65535)",
                           text, (int)n, item);
  if (last < 1 || last > 65535)
    return cli_usage_error(cmd,
                           "bad ports in '%s': port %.*s is out of range "
                           "(1-65535)",
                           text, (int)m, item + n + 1);
  if (last < first)
    return cli_usage_error(cmd,
                           "bad ports in '%s': the range %.*s runs "
                           "backwards (write %llu-%llu)",
                           text, (int)len, item, (unsigned long long)last,
                           (unsigned long long)first);
  for (uint64_t p = first; p <= last; p++)
    set[p / 8] |= (uint8_t)(1u << (p % 8));
  return 0;
}

/* Parses a port list, "22", "20-25" or "20-25,80,443", into t's ports:
 * each port once, in ascending order, however often it was named. */
static int parse_ports(const char *cmd, const char *text, const char *spec,
                       scan_target *t) {
  uint8_t set[65536 / 8];
  const char *item = spec;
  unsigned n = 0;

  memset(set, 0, sizeof(set));
  for (;;) {
    size_t len = strcspn(item, ",");
    if (parse_item(cmd, text, item, len, set))
      return EXIT_USAGE;
    if (item[len] == '\0')
      break;
    item += len + 1;
  }
  for (unsigned p = 1; p <= 65535; p++)
    n += (set[p / 8] >> (p % 8)) & 1u;
  t->ports = calloc(n, sizeof(*t->ports));
  if (t->ports == NULL) {
    cli_error("connect: %s", sk_strerror(UV_ENOMEM));
    return 1;
  }
  for (unsigned p = 1; p <= 65535; p++)
    if ((set[p / 8] >> (p % 8)) & 1u)
      t->ports[t->nports++] =
          (scan_port){.port = (uint16_t)p, .result = PENDING};
  return 0;
}

/* Whether spec reads as a port list (digits, commas and dashes). */
static bool is_port_list(const char *spec) {
  return spec[0] != '\0' && spec[strspn(spec, "0123456789,-")] == '\0';
}

/* Parses "HOST:PORTS" (also tcp://, tls://, :PORTS and PORTS) into t,
 * under -4/-6.  The host part goes through the one address parser, with
 * the port list replaced by a stand-in port; a text that ends in no port
 * list (localhost:http) is one address, and its one port is the list. */
static int parse_target(const char *cmd, const char *text, const cli_net *net,
                        scan_target *t) {
  const char *colon = strrchr(text, ':');
  const char *spec = colon != NULL ? colon + 1 : text;
  size_t head = (size_t)(spec - text);
  char port[8];

  t->text = text;
  if (!is_port_list(spec))
    spec = NULL;
  t->parsed = spec != NULL ? malloc(head + 2) : strdup(text);
  if (t->parsed == NULL) {
    cli_error("%s: %s", cmd, sk_strerror(UV_ENOMEM));
    return 1;
  }
  if (spec != NULL) {
    memcpy(t->parsed, text, head);
    memcpy(t->parsed + head, "1", 2);
  }
  if (cli_parse_addr_as(cmd, t->parsed, text, net, &t->addr))
    return EXIT_USAGE;
  if (t->addr.transport == SK_UNIX)
    return cli_usage_error(cmd,
                           "cannot scan '%s': a Unix socket has no ports "
                           "(-z scans TCP and TLS ports)",
                           text);
  if (t->addr.transport == SK_UDP)
    return cli_usage_error(cmd,
                           "cannot scan '%s': UDP has no connection to "
                           "make, and a silent UDP port may be open or "
                           "filtered (-z scans TCP and TLS ports)",
                           text);
  if (spec != NULL)
    return parse_ports(cmd, text, spec, t);
  snprintf(port, sizeof(port), "%u", (unsigned)t->addr.port);
  return parse_ports(cmd, text, port, t);
}

/* -4/-6 and --source over every target, as connect applies them to its
 * one address. */
static int apply_net(const cli_scan_opts *o, scan *s) {
  char **texts = calloc(s->ntargets, sizeof(*texts));
  char **shown = calloc(s->ntargets, sizeof(*shown));
  sk_addr *addrs = calloc(s->ntargets, sizeof(*addrs));
  int err = 1;

  if (texts == NULL || shown == NULL || addrs == NULL) {
    cli_error("connect: %s", sk_strerror(UV_ENOMEM));
    goto out;
  }
  for (unsigned i = 0; i < s->ntargets; i++) {
    texts[i] = s->targets[i].parsed;
    shown[i] = (char *)s->targets[i].text;
    addrs[i] = s->targets[i].addr;
  }
  err = cli_net_apply(o->net, "connect", texts, shown, addrs, s->ntargets);
  for (unsigned i = 0; err == 0 && i < s->ntargets; i++)
    s->targets[i].addr.family = addrs[i].family;
out:
  free(texts);
  free(shown);
  free(addrs);
  return err;
}

/* ------------------------------------------------------------ results */

static bool unreachable(int err) {
  return err == UV_ENETUNREACH || err == UV_EHOSTUNREACH ||
         err == UV_EHOSTDOWN || err == UV_ENONET || err == UV_EACCES ||
         err == UV_EPERM || err == UV_EINVAL; /* Linux: a blackhole route */
}

/* "HOST:PORT STATE": the state's first word is open, refused, timed,
 * unreachable, tls or failed. */
static void print_port(const scan *s, const scan_target *t,
                       const scan_port *sp) {
  char where[SK_ADDR_STRLEN];
  sk_addr a = t->addr;
  const char *shown = where;
  int r = sp->result;

  a.port = sp->port;
  sk_addr_format(&a, where, sizeof(where));
  if (strncmp(where, "tcp://", 6) == 0)
    shown += 6;
  if (r == 0)
    printf("%s open\n", shown);
  else if (r == UV_ECONNREFUSED)
    printf("%s refused\n", shown);
  else if (r == UV_ETIMEDOUT)
    printf("%s timed out\n", shown);
  else if (r == SK_EHANDSHAKETIMEOUT)
    printf("%s timed out (TLS handshake)\n", shown);
  else if (cli_net_source_failed(s->o->net, r))
    printf("%s failed (--source %s: %s%s)\n", shown, s->o->net->source_text,
           sk_strerror(r), cli_net_source_hint(r));
  else if (unreachable(r))
    printf("%s unreachable (%s)\n", shown, sk_strerror(r));
  else if (r == SK_ETLS)
    printf("%s tls failed (%s)\n", shown,
           sp->why != NULL ? sp->why : sk_strerror(r));
  else
    printf("%s failed (%s)\n", shown, sk_strerror(r));
}

static void stop(scan *s, int status);

/* Prints the results that are in, in order (as soon as every port before
 * them is in): open ports by default, every port with -v, none with -q. */
static void show(scan *s) {
  bool printed = false;

  while (!s->stopping && s->show_t < s->ntargets) {
    scan_target *t = &s->targets[s->show_t];
    scan_port *sp;

    if (s->show_p >= t->nports || t->nips <= 0) {
      s->show_t++;
      s->show_p = 0;
      continue;
    }
    sp = &t->ports[s->show_p];
    if (sp->result == PENDING)
      break;
    if (s->o->c->verbosity > 0 ||
        (s->o->c->verbosity == 0 && sp->result == 0)) {
      print_port(s, t, sp);
      printed = true;
    }
    free(sp->why);
    sp->why = NULL;
    s->show_p++;
  }
  /* A long scan into a pipe shows its progress; a reader that went away
   * (| head -1) ends it. */
  if (printed && (fflush(stdout) != 0 || ferror(stdout))) {
    cli_error("stdout: %s", strerror(errno));
    stop(s, 1);
  }
}

/* ------------------------------------------------------------ the run */

static void fill(scan *s);

static void finish_if_done(scan *s) {
  bool more = s->next_t < s->ntargets && !s->stopping;

  if (s->done || more || s->nidle < s->nprobes)
    return;
  s->done = true;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static void probe_open(sk_peer *p, void *ctx) {
  probe *pr = ctx;

  pr->opened = true;
  sk_peer_close(p, SK_ECLOSED); /* nothing is sent */
}

static void probe_close(sk_peer *p, int reason, void *ctx) {
  probe *pr = ctx;
  scan *s = pr->s;

  if (pr->opened)
    pr->sp->result = 0;
  else
    pr->sp->result = reason < 0 ? reason : UV_ECONNABORTED;
  if (reason == SK_ETLS && !pr->opened)
    pr->sp->why = strdup(sk_peer_error(p));
  pr->busy = false;
  s->idle[s->nidle++] = pr->index;
  show(s);
  fill(s);
}

static const sk_handler probe_handler = {
    .on_open = probe_open,
    .on_close = probe_close,
};

/* Starts the attempt of one port in a free slot. */
static void launch(scan *s, scan_target *t, scan_port *sp) {
  probe *pr = &s->probes[s->idle[--s->nidle]];
  sk_client_opts co;
  sk_addr a = t->addr;
  int err;

  sk_client_opts_init(&co);
  co.connect_timeout_ms = s->o->timeout_ms;
  co.tls = s->tls;
  co.local_addr = cli_net_source(s->o->net);
  co.targets = t->ips;
  co.ntargets = (unsigned)t->nips;
  a.port = sp->port;
  pr->sp = sp;
  pr->opened = false;
  pr->busy = true;
  err = sk_client_connect(&s->loop, &a, &co, &probe_handler, pr, &pr->peer);
  if (err) { /* no callback comes: the slot is free again */
    pr->busy = false;
    s->idle[s->nidle++] = pr->index;
    sp->result = err;
  }
}

/* Starts attempts, in the order they are printed, while slots are
 * free.  Not re-entered: a result that comes in meanwhile waits for the
 * loop below to take its slot. */
static void fill(scan *s) {
  if (s->filling)
    return;
  s->filling = true;
  while (!s->stopping && s->nidle > 0 && s->next_t < s->ntargets) {
    scan_target *t = &s->targets[s->next_t];

    if (s->next_p >= t->nports || t->nips <= 0) {
      s->next_t++;
      s->next_p = 0;
      continue;
    }
    launch(s, t, &t->ports[s->next_p++]);
  }
  s->filling = false;
  show(s);
  finish_if_done(s);
}

/* Stops starting attempts and closes those in flight. */
static void stop(scan *s, int status) {
  if (s->stopping)
    return;
  s->stopping = true;
  s->status = status;
  for (unsigned i = 0; i < s->nprobes; i++)
    if (s->probes[i].busy)
      sk_peer_close(s->probes[i].peer, SK_ECLOSED);
  finish_if_done(s);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  stop(h->data, 1);
}

/* Descriptors one more attempt may use: the soft limit (raised to the
 * hard one by cli_setup_process) less a reserve. */
static unsigned fd_room(void) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_cur > UINT_MAX)
    return UINT_MAX;
  return rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)rl.rlim_cur - FD_RESERVE
                                      : (unsigned)rl.rlim_cur / 2 + 1;
}

/* Sizes the pool: --scan-concurrency, no more than there are ports, and
 * no more than the descriptor limit allows (said, unless -q). */
static int make_pool(scan *s, uint64_t ports) {
  uint64_t n = s->o->concurrency;
  unsigned room = fd_room();

  if (n > room) {
    if (s->o->c->verbosity >= 0)
      cli_error("connect: --scan-concurrency %llu is over what the "
                "descriptor limit allows: %u at a time",
                (unsigned long long)n, room);
    n = room;
  }
  if (n > ports)
    n = ports;
  if (n == 0)
    n = 1;
  s->probes = calloc(n, sizeof(*s->probes));
  s->idle = calloc(n, sizeof(*s->idle));
  if (s->probes == NULL || s->idle == NULL)
    return UV_ENOMEM;
  s->nprobes = (unsigned)n;
  for (unsigned i = 0; i < s->nprobes; i++) {
    s->probes[i].s = s;
    s->probes[i].index = i;
    s->idle[s->nidle++] = (unsigned)(n - 1 - i);
  }
  return 0;
}

/* Looks every host up, once; a name that does not resolve is reported
 * and its ports are not tried.  Returns the number of ports to try. */
static uint64_t resolve(scan *s) {
  uint64_t ports = 0;

  for (unsigned i = 0; i < s->ntargets; i++) {
    scan_target *t = &s->targets[i];

    t->nips = sk_addr_resolve_all(&t->addr, &t->ips);
    if (t->nips < 0) {
      char why[SK_ADDR_STRLEN + 64];
      if (cli_net_family_problem(s->o->net, &t->addr, t->nips, why,
                                 sizeof(why)) == NULL)
        snprintf(why, sizeof(why), "%s", sk_strerror(t->nips));
      cli_error("connect %s: %s", t->addr.host, why);
      s->status = 1;
      continue;
    }
    ports += t->nports;
  }
  return ports;
}

static int all_open(const scan *s) {
  for (unsigned i = 0; i < s->ntargets; i++) {
    if (s->targets[i].nips <= 0)
      return 0;
    for (unsigned p = 0; p < s->targets[i].nports; p++)
      if (s->targets[i].ports[p].result != 0)
        return 0;
  }
  return 1;
}

static void scan_free(scan *s) {
  for (unsigned i = 0; i < s->ntargets; i++) {
    for (unsigned p = 0; p < s->targets[i].nports; p++)
      free(s->targets[i].ports[p].why);
    free(s->targets[i].ports);
    free(s->targets[i].ips);
    free(s->targets[i].parsed);
  }
  free(s->targets);
  free(s->probes);
  free(s->idle);
  if (s->tls != NULL)
    sk_tls_unref(s->tls);
  free(s);
}

static int run(scan *s) {
  uint64_t ports = resolve(s);
  int err = make_pool(s, ports);

  if (err) {
    cli_error("connect: %s", sk_strerror(err));
    return 1;
  }
  uv_loop_init(&s->loop);
  uv_signal_init(&s->loop, &s->sigint);
  uv_signal_init(&s->loop, &s->sigterm);
  s->sigint.data = s->sigterm.data = s;
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  fill(s);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  if (s->status == 0 && !all_open(s))
    s->status = 1;
  return s->status;
}

int cli_scan(const cli_scan_opts *o, int n, char **args) {
  scan *s = calloc(1, sizeof(*s));
  bool any_tls = false;
  int err = 0;

  if (s == NULL)
    return 1;
  s->o = o;
  if (n == 0)
    err = cli_usage_error("connect", "missing ADDRESS (-z: HOST:PORTS)");
  else if ((s->targets = calloc((size_t)n, sizeof(*s->targets))) == NULL)
    err = 1;
  for (int i = 0; err == 0 && i < n; i++) {
    err = parse_target("connect", args[i], o->net, &s->targets[i]);
    s->ntargets++;
    any_tls = any_tls || s->targets[i].addr.tls;
  }
  if (err == 0)
    err = apply_net(o, s);
  if (err == 0)
    err = cli_tls_make(o->tls, "connect", false, any_tls, &s->tls);
  if (err == 0) {
    cli_setup_process();
    err = run(s);
  }
  scan_free(s);
  return err;
}
