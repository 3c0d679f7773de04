/* chatload.c -- load for a chat server, the C twin of chatload.py.
 *
 * N clients in one room; every client sends SIZE-byte lines and reads
 * everything the others send.  Same options, same flow control and the
 * same JSON output as chatload.py (read its comment first); it exists
 * because one Python process saturates its core at about 2.5 million
 * deliveries per second, which is below what the servers can do.
 *
 * Built by bench/lib/suite.py into its scratch directory:
 *   cc -O2 -o chatload bench/lib/chatload.c
 * Every wait is bounded: connects (10 s each), the settle phase (5 s), and
 * the run itself (warm-up + duration).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)
#define MAX_NOTES 4

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* User + system CPU seconds of another process, or -1. */
static double proc_cpu(int pid) {
  char path[64], buf[1024];
  FILE *f;
  char *p;
  unsigned long ut, st;
  size_t n;

  if (pid <= 0)
    return -1;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  f = fopen(path, "r");
  if (!f)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  p = strrchr(buf, ')');
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static int connect_one(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  struct timeval tv = {.tv_sec = 10};
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() */
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static long count_lines(const char *p, size_t n) {
  long c = 0;
  const char *end = p + n;

  while ((p = memchr(p, '\n', end - p)) != NULL) {
    c++;
    p++;
  }
  return c;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"port", 1, 0, 'p'},   {"clients", 1, 0, 'c'}, {"stalled", 0, 0, 's'},
      {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'}, {"size", 1, 0, 'z'},
      {"window", 1, 0, 'W'}, {"batch", 1, 0, 'b'},   {"server-pid", 1, 0, 'P'},
      {0, 0, 0, 0}};
  int port = 0, clients = 100, stalled = 0, size = 100, window = 2000, batch = 4, spid = 0;
  double duration = 5, warmup = 1;
  int o, n, i, k, ep, rr = 0;
  int *fds, *closed;
  long *got, *sent, total = 0, got0 = 0, total0 = 0;
  size_t *pend_off;
  char *rbuf, *bbuf, *line;
  size_t blen;
  double t_start, t_measure, t_end, t0 = 0, t1, cpu0 = 0, srv0 = -1, srv1, too_slow = -1,
                                     last_rx = -1;
  int snapped = 0;
  char notes[MAX_NOTES][160];
  int nnotes = 0;
  struct epoll_event ev, evs[256];

  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'p': port = atoi(optarg); break;
    case 'c': clients = atoi(optarg); break;
    case 's': stalled = 1; break;
    case 'd': duration = atof(optarg); break;
    case 'w': warmup = atof(optarg); break;
    case 'z': size = atoi(optarg); break;
    case 'W': window = atoi(optarg); break;
    case 'b': batch = atoi(optarg); break;
    case 'P': spid = atoi(optarg); break;
    default: return 2;
    }
  }
  if (port <= 0 || clients < 2 || size < 2 || batch < 1 || duration <= 0) {
    fprintf(stderr, "chatload: bad options\n");
    return 2;
  }
  n = stalled ? clients - 1 : clients; /* readers; the stalled one is last */
  fds = calloc(clients, sizeof(int));
  closed = calloc(n, sizeof(int));
  got = calloc(n, sizeof(long));
  sent = calloc(n, sizeof(long));
  pend_off = calloc(n, sizeof(size_t));
  rbuf = malloc(RBUF);
  line = malloc(size);
  blen = (size_t)size * batch;
  bbuf = malloc(blen);
  if (!fds || !closed || !got || !sent || !pend_off || !rbuf || !line || !bbuf)
    return 1;
  memset(line, 'x', size - 1);
  line[size - 1] = '\n';
  for (k = 0; k < batch; k++)
    memcpy(bbuf + (size_t)k * size, line, size);

  /* One connect every 5 ms: ncat listens with a backlog of 10. */
  for (i = 0; i < clients; i++) {
    struct timespec pause = {0, 5000000};
    fds[i] = connect_one(port);
    if (fds[i] < 0) {
      fprintf(stderr, "chatload: connect %d: %s\n", i, strerror(errno));
      return 1;
    }
    nanosleep(&pause, NULL);
  }
  ep = epoll_create1(0);
  for (i = 0; i < clients; i++) {
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  /* Settle: read the join notices until the room is quiet (bounded). */
  {
    double deadline = now() + 5, last = now();
    while (now() < deadline && now() - last < 0.3) {
      int m = epoll_wait(ep, evs, 256, 50);
      for (k = 0; k < m; k++)
        if (read(fds[evs[k].data.u32], rbuf, RBUF) > 0)
          last = now();
    }
  }
  /* From here on only readers are watched; the stalled client is not. */
  if (stalled)
    epoll_ctl(ep, EPOLL_CTL_DEL, fds[clients - 1], NULL);
  for (i = 0; i < n; i++) {
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
  }

  t_start = now();
  t_measure = t_start + warmup;
  t_end = t_measure + duration;
  for (;;) {
    double t = now();
    long behind = 0;
    int m;

    if (!snapped && t >= t_measure) {
      snapped = 1;
      t0 = t;
      for (i = 0; i < n; i++)
        got0 += got[i];
      total0 = total;
      cpu0 = self_cpu();
      srv0 = proc_cpu(spid);
    }
    if (t >= t_end)
      break;
    m = epoll_wait(ep, evs, 256, 2);
    for (k = 0; k < m; k++) {
      i = evs[k].data.u32;
      ssize_t r = recv(fds[i], rbuf, RBUF, MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (r <= 0) {
        closed[i] = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
        if (nnotes < MAX_NOTES)
          snprintf(notes[nnotes++], sizeof(notes[0]), "reader %d closed by the server at %.2f s",
                   i, t - t_start);
        continue;
      }
      got[i] += count_lines(rbuf, r);
      last_rx = t;
      if (too_slow < 0 && memmem(rbuf, r, "too slow", 8))
        too_slow = t - t_start;
    }
    /* The most lines any open reader still waits for. */
    for (i = 0; i < n; i++) {
      long b = total - sent[i] - got[i];
      if (!closed[i] && b > behind)
        behind = b;
    }
    for (k = 0; k < n; k++) {
      ssize_t w;
      i = (rr + k) % n;
      if (closed[i])
        continue;
      if (pend_off[i] == 0) {
        if (behind + batch > window)
          continue;
        sent[i] += batch;
        total += batch;
        behind += batch;
      }
      w = send(fds[i], bbuf + pend_off[i], blen - pend_off[i], MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
          closed[i] = 1;
        w = 0;
      }
      pend_off[i] += w;
      if (pend_off[i] == blen)
        pend_off[i] = 0;
    }
    rr = (rr + 1) % n;
  }
  t1 = now();
  {
    double secs = t1 - t0, cpu = (self_cpu() - cpu0) / secs, srv = -1, stopped = -1;
    long all = 0;
    char note[800] = "";

    srv1 = proc_cpu(spid);
    if (srv0 >= 0 && srv1 >= 0)
      srv = (srv1 - srv0) / secs;
    for (i = 0; i < n; i++)
      all += got[i];
    if (cpu >= 0.9 && nnotes < MAX_NOTES)
      snprintf(notes[nnotes++], sizeof(notes[0]),
               "client saturated: the figure may be the client's limit");
    if (srv >= 0.9 && nnotes < MAX_NOTES)
      snprintf(notes[nnotes++], sizeof(notes[0]), "server saturated");
    /* Times are figures (their median is shown), not notes. */
    if (stalled && too_slow >= 0 && nnotes < MAX_NOTES)
      snprintf(notes[nnotes++], sizeof(notes[0]),
               "the server dropped the stalled client (\\\"too slow\\\")");
    if (last_rx < 0 || t1 - last_rx > 1.0) {
      stopped = last_rx < 0 ? 0.0 : last_rx - t_start;
      if (nnotes < MAX_NOTES)
        snprintf(notes[nnotes++], sizeof(notes[0]), "deliveries stopped");
    }
    for (i = 0; i < nnotes; i++) {
      if (i)
        strcat(note, "; ");
      strcat(note, notes[i]);
    }
    printf("{\"deliveries_s\": %.1f, \"per_reader_s\": %.1f, \"sent_s\": %.1f, "
           "\"readers\": %d, \"clients\": %d, \"client_cpu\": %.4f, \"server_cpu\": %s, "
           "\"stalled_dropped_at_s\": %s, \"stopped_at_s\": %s, \"client\": \"C\", "
           "\"note\": \"%s\"}\n",
           (all - got0) / secs, (all - got0) / secs / n, (total - total0) / secs, n, clients,
           cpu, srv >= 0 ? (snprintf(rbuf, 64, "%.4f", srv), rbuf) : "null",
           too_slow >= 0 ? (snprintf(rbuf + 64, 64, "%.3f", too_slow), rbuf + 64) : "null",
           stopped >= 0 ? (snprintf(rbuf + 128, 64, "%.3f", stopped), rbuf + 128) : "null",
           note);
  }
  for (i = 0; i < clients; i++)
    close(fds[i]);
  return 0;
}
