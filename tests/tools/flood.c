/* flood.c -- an independent load client for sockit's echo service, used by
 * tests/e2e/test_nothing_lost.py.
 *
 * It is written on plain POSIX sockets and poll(2), without libsockit or
 * libuv, so that a bug shared by the library's sending and receiving sides
 * (a framing slip made the same way twice) cannot hide in the checker.
 *
 * Each of CONNS connections sends FRAMES framed messages of random sizes
 * (0 to --max-size bytes inclusive) while it reads the echo concurrently.
 * Sizes and contents come from xorshift64* generators seeded from --seed:
 * a frame's payload is a slice, at a random offset, of a pool of PRNG
 * bytes, so nothing is stored per frame and a reply is checked byte for
 * byte against the slice it should be.  Each connection also keeps an
 * FNV-1a checksum (64-bit, over little-endian 64-bit words) of each
 * direction's frames -- length, then payload -- and compares the two at the
 * end.  After its last frame a connection half-closes and expects exactly
 * FRAMES replies, then the server's end of stream.
 *
 * stdout gets one JSON line: frames, bytes, mismatches, lost frames,
 * seconds.  The exit status is 0 when every frame came back intact and in
 * order, 1 on any loss, corruption, error or time limit, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define POOL_SPAN (1u << 20) /* frame payloads start anywhere in here */
#define AHEAD 32             /* frames generated ahead of the send cursor */
#define MAX_IOV 64           /* iovecs per sendmsg */
#define READ_BUF (256 * 1024)

/* ------------------------------------------------------------- the PRNG */

/* splitmix64 turns a seed into a well-mixed generator state. */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15u);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* xorshift64* (Vigna): one 64-bit output per step. */
static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Du;
}

/* The generator of connection i: both of its directions start here. */
static uint64_t conn_seed(uint64_t seed, unsigned i) {
  uint64_t x = seed ^ ((uint64_t)(i + 1) << 32);
  uint64_t s = splitmix64(&x);

  return s != 0 ? s : 1; /* xorshift must not start at 0 */
}

typedef struct frame {
  uint32_t size, off; /* payload: pool[off, off + size) */
} frame;

/* The next frame of a connection's sequence.  The modulo bias is
 * irrelevant here: sizes only need to cover 0..max. */
static frame frame_next(uint64_t *s, uint32_t max_size) {
  uint64_t r = xorshift(s);
  frame f;

  f.size = (uint32_t)((r >> 32) % ((uint64_t)max_size + 1));
  f.off = (uint32_t)(r & (POOL_SPAN - 1));
  return f;
}

/* ------------------------------------------------------------ checksum */

#define FNV_OFFSET 0xCBF29CE484222325u
#define FNV_PRIME 0x100000001B3u

/* FNV-1a over little-endian 64-bit words rather than bytes: eight times
 * fewer multiplications, and the same value however the stream is cut
 * into pieces (a partial word waits in `word`). */
typedef struct fnv {
  uint64_t h, word;
  unsigned nword;
} fnv;

static void fnv_init(fnv *f) {
  f->h = FNV_OFFSET;
  f->word = 0;
  f->nword = 0;
}

static void fnv_mix(fnv *f, uint64_t w) {
  f->h ^= w;
  f->h *= FNV_PRIME;
}

static uint64_t load_le64(const unsigned char *p) {
  uint64_t w;

  memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

static void fnv_feed(fnv *f, const void *data, size_t len) {
  const unsigned char *p = data;

  while (len > 0 && f->nword != 0) {
    f->word |= (uint64_t)*p++ << (8 * f->nword);
    len--;
    if (++f->nword == 8) {
      fnv_mix(f, f->word);
      f->word = 0;
      f->nword = 0;
    }
  }
  for (; len >= 8; p += 8, len -= 8)
    fnv_mix(f, load_le64(p));
  while (len-- > 0)
    f->word |= (uint64_t)*p++ << (8 * f->nword++);
}

static void fnv_frame_len(fnv *f, uint32_t size) {
  unsigned char b[4] = {(unsigned char)size, (unsigned char)(size >> 8),
                        (unsigned char)(size >> 16),
                        (unsigned char)(size >> 24)};

  fnv_feed(f, b, sizeof(b));
}

static uint64_t fnv_final(const fnv *f) {
  fnv g = *f;

  fnv_mix(&g, g.word ^ ((uint64_t)g.nword << 56));
  return g.h;
}

/* --------------------------------------------------------------- setup */

typedef enum { FR_LEN, FR_LINE } framing_mode;

typedef struct options {
  unsigned conns;
  uint64_t frames;
  uint32_t max_size;
  uint64_t seed;
  double timeout, stall;
  framing_mode mode;
  unsigned width; /* FR_LEN: header bytes, big-endian */
  const char *framing;
  const char *address;
} options;

static options opt = {
    .conns = 100,
    .frames = 10000,
    .max_size = 65536,
    .seed = 1,
    .timeout = 600,
    .stall = 30,
    .mode = FR_LEN,
    .width = 4,
    .framing = "len:4",
};

static unsigned char *pool;

static void make_pool(void) {
  size_t n = (size_t)POOL_SPAN + opt.max_size;
  uint64_t x = opt.seed, s = splitmix64(&x) | 1;

  pool = malloc(n);
  if (pool == NULL) {
    fprintf(stderr, "flood: out of memory for the pool\n");
    exit(1);
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char b = (unsigned char)(xorshift(&s) >> 56);
    /* Lines must hold no '\n' (and no '\r', which line framing drops). */
    pool[i] = opt.mode == FR_LINE ? (unsigned char)(0x20 + b % 95) : b;
  }
}

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "flood: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: flood [-c CONNS] [-n FRAMES] [-f len:4|len:2|line] "
                  "[-m MAX_SIZE] [-s SEED] [-t SECONDS] [--stall SECONDS] "
                  "HOST:PORT|unix:PATH\n");
  return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static int parse_options(int argc, char **argv) {
  static const struct option longs[] = {
      {"conns", required_argument, NULL, 'c'},
      {"frames", required_argument, NULL, 'n'},
      {"framing", required_argument, NULL, 'f'},
      {"max-size", required_argument, NULL, 'm'},
      {"seed", required_argument, NULL, 's'},
      {"timeout", required_argument, NULL, 't'},
      {"stall", required_argument, NULL, 'S'},
      {NULL, 0, NULL, 0},
  };
  uint64_t v;
  int o;

  while ((o = getopt_long(argc, argv, "c:n:f:m:s:t:", longs, NULL)) != -1) {
    switch (o) {
    case 'c':
      if (!parse_u64(optarg, 1, 10000, &v))
        return usage("--conns: '%s' is not 1..10000", optarg);
      opt.conns = (unsigned)v;
      break;
    case 'n':
      if (!parse_u64(optarg, 0, UINT64_MAX / 2, &v))
        return usage("--frames: '%s' is not a count", optarg);
      opt.frames = v;
      break;
    case 'f':
      opt.framing = optarg;
      if (strcmp(optarg, "line") == 0) {
        opt.mode = FR_LINE;
      } else if (strcmp(optarg, "len") == 0 || strcmp(optarg, "len:4") == 0) {
        opt.mode = FR_LEN;
        opt.width = 4;
      } else if (strcmp(optarg, "len:2") == 0) {
        opt.mode = FR_LEN;
        opt.width = 2;
      } else {
        return usage("--framing: '%s' is not len:4, len:2 or line", optarg);
      }
      break;
    case 'm':
      if (!parse_u64(optarg, 0, 16u << 20, &v))
        return usage("--max-size: '%s' is not 0..16M", optarg);
      opt.max_size = (uint32_t)v;
      break;
    case 's':
      if (!parse_u64(optarg, 0, UINT64_MAX, &v))
        return usage("--seed: '%s' is not a number", optarg);
      opt.seed = v;
      break;
    case 't':
    case 'S':
      if (!parse_u64(optarg, 1, 86400, &v))
        return usage("%s: '%s' is not 1..86400 seconds",
                     o == 't' ? "--timeout" : "--stall", optarg);
      *(o == 't' ? &opt.timeout : &opt.stall) = (double)v;
      break;
    default:
      return usage("bad option");
    }
  }
  if (optind + 1 != argc)
    return usage("expected one ADDRESS");
  opt.address = argv[optind];
  if (opt.mode == FR_LEN && opt.width == 2 && opt.max_size > 65535)
    return usage("--max-size %u does not fit a len:2 header (at most 65535)",
                 (unsigned)opt.max_size);
  return 0;
}

/* Connects a blocking socket to the address, then makes it non-blocking. */
static int dial(const char *address) {
  int fd = -1;

  if (strncmp(address, "unix:", 5) == 0) {
    struct sockaddr_un sun;
    const char *path = address + 5;
    if (strlen(path) >= sizeof(sun.sun_path))
      return usage("unix path too long: %s", path), -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
      fprintf(stderr, "flood: connect %s: %s\n", address, strerror(errno));
      goto fail;
    }
  } else {
    char host[256];
    const char *colon = strrchr(address, ':');
    struct addrinfo hints, *ai = NULL;
    size_t hl;
    int one = 1, rc;
    if (colon == NULL || (hl = (size_t)(colon - address)) >= sizeof(host))
      return usage("bad address '%s'", address), -1;
    memcpy(host, address, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
      memmove(host, host + 1, hl - 2);
      host[hl - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0)
      return usage("bad address '%s': %s", address, gai_strerror(rc)), -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      fprintf(stderr, "flood: connect %s: %s\n", address, strerror(errno));
      freeaddrinfo(ai);
      goto fail;
    }
    freeaddrinfo(ai);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    fprintf(stderr, "flood: fcntl O_NONBLOCK: %s\n", strerror(errno));
    goto fail;
  }
  return fd;
fail:
  if (fd >= 0)
    close(fd);
  return -1;
}

/* ------------------------------------------------------ one connection */

typedef enum { RX_HEAD, RX_BODY, RX_TRAILER } rx_state;

typedef struct conn {
  unsigned id;
  int fd;
  bool done, failed, shut;

  /* sending: frames [tx_sent, tx_made) wait in ahead[], the first one
   * written up to tx_pos bytes of its wire form */
  uint64_t tx_state, tx_made, tx_sent;
  size_t tx_pos;
  frame ahead[AHEAD];
  unsigned char heads[AHEAD][8];
  fnv tx_sum;

  /* receiving: frame rx_got + 1 is being checked, rx_pos bytes into the
   * current part */
  uint64_t rx_state, rx_got;
  rx_state part;
  frame want;
  size_t rx_pos;
  unsigned char head[8];
  fnv rx_sum;

  uint64_t payload_tx, payload_rx, wire_tx, wire_rx;
} conn;

static struct {
  uint64_t mismatches, errors;
  unsigned reported;
} totals;

static void conn_fail(conn *c, bool mismatch, const char *fmt, ...) {
  va_list ap;

  if (c->failed)
    return;
  c->failed = true;
  close(c->fd); /* the server sees it go and frees its side */
  c->fd = -1;
  if (mismatch)
    totals.mismatches++;
  else
    totals.errors++;
  if (totals.reported++ < 10) { /* the first few are enough to debug */
    fprintf(stderr, "flood: conn %u, reply %" PRIu64 ": ", c->id,
            c->rx_got + 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
  }
}

static size_t head_len(void) {
  return opt.mode == FR_LEN ? opt.width : 0;
}

static size_t trailer_len(void) {
  return opt.mode == FR_LINE ? 1 : 0;
}

static void put_head(unsigned char *h, uint32_t size) {
  for (unsigned i = 0; i < opt.width; i++)
    h[i] = (unsigned char)(size >> (8 * (opt.width - 1 - i)));
}

static void conn_init(conn *c, unsigned id, int fd) {
  memset(c, 0, sizeof(*c));
  c->id = id;
  c->fd = fd;
  c->tx_state = c->rx_state = conn_seed(opt.seed, id);
  fnv_init(&c->tx_sum);
  fnv_init(&c->rx_sum);
  c->part = opt.mode == FR_LEN ? RX_HEAD : RX_BODY;
  if (opt.frames > 0)
    c->want = frame_next(&c->rx_state, opt.max_size);
}

/* Generates frames ahead of the send cursor, each summed once. */
static void tx_refill(conn *c) {
  while (c->tx_made < opt.frames && c->tx_made - c->tx_sent < AHEAD) {
    unsigned k = (unsigned)(c->tx_made % AHEAD);
    frame f = frame_next(&c->tx_state, opt.max_size);
    c->ahead[k] = f;
    put_head(c->heads[k], f.size);
    fnv_frame_len(&c->tx_sum, f.size);
    fnv_feed(&c->tx_sum, pool + f.off, f.size);
    c->tx_made++;
  }
}

static bool tx_pending(const conn *c) {
  return !c->failed && !c->shut;
}

/* Writes as much as the socket takes.  Returns bytes written, 0 when it
 * would block. */
static size_t conn_send(conn *c) {
  struct iovec iov[MAX_IOV];
  struct msghdr mh;
  size_t hl = head_len(), tl = trailer_len(), pos = c->tx_pos, left;
  unsigned n = 0;
  ssize_t w;

  tx_refill(c);
  if (c->tx_sent == opt.frames) {
    if (shutdown(c->fd, SHUT_WR) != 0)
      conn_fail(c, false, "shutdown: %s", strerror(errno));
    c->shut = true;
    return 0;
  }
  for (uint64_t i = c->tx_sent; i < c->tx_made && n + 3 <= MAX_IOV; i++) {
    unsigned k = (unsigned)(i % AHEAD);
    frame f = c->ahead[k];
    struct {
      const void *p;
      size_t len;
    } parts[3] = {{c->heads[k], hl}, {pool + f.off, f.size}, {"\n", tl}};
    for (int j = 0; j < 3; j++) {
      if (pos >= parts[j].len) {
        pos -= parts[j].len;
        continue;
      }
      iov[n].iov_base = (void *)((const char *)parts[j].p + pos);
      iov[n].iov_len = parts[j].len - pos;
      n++;
      pos = 0;
    }
  }
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = iov;
  mh.msg_iovlen = n;
  w = n > 0 ? sendmsg(c->fd, &mh, MSG_NOSIGNAL) : 0;
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      conn_fail(c, false, "send: %s", strerror(errno));
    return 0;
  }
  c->wire_tx += (uint64_t)w;
  /* Advance the cursor over whole frames written, then into the next
   * (a frame's wire form is never empty: a header or a '\n' at least). */
  left = (size_t)w;
  while (left > 0) {
    size_t whole = hl + c->ahead[c->tx_sent % AHEAD].size + tl;
    size_t k = whole - c->tx_pos < left ? whole - c->tx_pos : left;
    c->tx_pos += k;
    left -= k;
    if (c->tx_pos == whole) {
      c->payload_tx += c->ahead[c->tx_sent % AHEAD].size;
      c->tx_sent++;
      c->tx_pos = 0;
    }
  }
  return (size_t)w;
}

/* Checks received bytes against the frame expected next. */
static void conn_check(conn *c, const unsigned char *p, size_t n) {
  size_t hl = head_len();

  while (n > 0 && !c->failed) {
    size_t k = 0;
    if (c->rx_got == opt.frames) {
      conn_fail(c, true, "%zu bytes after the last reply (0x%02x first)", n,
                p[0]);
      return;
    }
    switch (c->part) {
    case RX_HEAD:
      k = hl - c->rx_pos < n ? hl - c->rx_pos : n;
      memcpy(c->head + c->rx_pos, p, k);
      c->rx_pos += k;
      if (c->rx_pos == hl) {
        uint64_t got = 0;
        for (size_t i = 0; i < hl; i++)
          got = (got << 8) | c->head[i];
        if (got != c->want.size) {
          conn_fail(c, true, "length %" PRIu64 ", expected %u", got,
                    (unsigned)c->want.size);
          return;
        }
        fnv_frame_len(&c->rx_sum, (uint32_t)got);
        c->part = RX_BODY;
        c->rx_pos = 0;
        if (got == 0) {
          c->part = RX_HEAD;
          goto frame_done; /* an empty frame is its header alone */
        }
      }
      break;
    case RX_BODY:
      if (c->rx_pos == 0 && opt.mode == FR_LINE)
        fnv_frame_len(&c->rx_sum, c->want.size);
      k = c->want.size - c->rx_pos < n ? c->want.size - c->rx_pos : n;
      if (memcmp(p, pool + c->want.off + c->rx_pos, k) != 0) {
        size_t i = 0;
        while (p[i] == pool[c->want.off + c->rx_pos + i])
          i++;
        conn_fail(c, true, "payload byte %zu of %u is 0x%02x, expected 0x%02x",
                  c->rx_pos + i, (unsigned)c->want.size, p[i],
                  pool[c->want.off + c->rx_pos + i]);
        return;
      }
      fnv_feed(&c->rx_sum, p, k);
      c->rx_pos += k;
      if (c->rx_pos == c->want.size) {
        c->part = opt.mode == FR_LINE ? RX_TRAILER : RX_HEAD;
        c->rx_pos = 0;
        c->payload_rx += c->want.size;
        if (opt.mode == FR_LEN)
          goto frame_done;
      }
      break;
    case RX_TRAILER:
      k = 1;
      if (p[0] != '\n') {
        conn_fail(c, true, "0x%02x after a %u-byte line, expected '\\n'", p[0],
                  (unsigned)c->want.size);
        return;
      }
      c->part = RX_BODY;
      goto frame_done;
    }
    p += k;
    n -= k;
    continue;
  frame_done:
    p += k;
    n -= k;
    c->rx_got++;
    if (c->rx_got < opt.frames)
      c->want = frame_next(&c->rx_state, opt.max_size);
  }
}

/* The server ended the stream: every reply must be in by now. */
static void conn_eof(conn *c) {
  c->done = true;
  if (c->rx_got < opt.frames ||
      c->part != (opt.mode == FR_LEN ? RX_HEAD : RX_BODY) || c->rx_pos != 0) {
    conn_fail(c, false,
              "the server closed after %" PRIu64 " of %" PRIu64
              " replies (%zu bytes into the next)",
              c->rx_got, opt.frames, c->rx_pos);
    return;
  }
  if (fnv_final(&c->tx_sum) != fnv_final(&c->rx_sum))
    conn_fail(c, true, "checksum %016" PRIx64 " received, %016" PRIx64 " sent",
              fnv_final(&c->rx_sum), fnv_final(&c->tx_sum));
}

/* Reads what is there.  Returns bytes read. */
static size_t conn_recv(conn *c, unsigned char *buf) {
  size_t total = 0;

  for (int i = 0; i < 4 && !c->failed && !c->done; i++) {
    ssize_t r = read(c->fd, buf, READ_BUF);
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_fail(c, false, "read: %s", strerror(errno));
      break;
    }
    if (r == 0) {
      conn_eof(c);
      break;
    }
    c->wire_rx += (uint64_t)r;
    total += (size_t)r;
    conn_check(c, buf, (size_t)r);
    if ((size_t)r < READ_BUF)
      break;
  }
  return total;
}

/* ----------------------------------------------------------------- run */

static void report(const conn *cs, unsigned opened, double secs, bool ok) {
  uint64_t sent = 0, got = 0, ptx = 0, prx = 0, wtx = 0, wrx = 0;

  for (unsigned i = 0; i < opened; i++) {
    sent += cs[i].tx_sent;
    got += cs[i].rx_got;
    ptx += cs[i].payload_tx;
    prx += cs[i].payload_rx;
    wtx += cs[i].wire_tx;
    wrx += cs[i].wire_rx;
  }
  printf("{\"conns\": %u, \"frames_per_conn\": %" PRIu64
         ", \"framing\": \"%s\", \"max_size\": %u, \"seed\": %" PRIu64
         ", \"frames_sent\": %" PRIu64 ", \"frames_received\": %" PRIu64
         ", \"lost_frames\": %" PRIu64 ", \"payload_bytes_sent\": %" PRIu64
         ", \"payload_bytes_received\": %" PRIu64
         ", \"wire_bytes_sent\": %" PRIu64 ", \"wire_bytes_received\": %" PRIu64
         ", \"mismatches\": %" PRIu64 ", \"errors\": %" PRIu64
         ", \"seconds\": %.3f, \"ok\": %s}\n",
         opt.conns, opt.frames, opt.framing, (unsigned)opt.max_size, opt.seed,
         sent, got, (uint64_t)opt.conns * opt.frames - got, ptx, prx, wtx, wrx,
         totals.mismatches, totals.errors, secs, ok ? "true" : "false");
  fflush(stdout);
}

int main(int argc, char **argv) {
  struct pollfd *pfd;
  unsigned char *buf;
  unsigned *map;
  conn *cs;
  unsigned opened = 0, live;
  double t0, last_progress, deadline;
  int rc = parse_options(argc, argv);

  if (rc != 0)
    return rc;
  make_pool();
  cs = calloc(opt.conns, sizeof(*cs));
  pfd = calloc(opt.conns, sizeof(*pfd));
  map = calloc(opt.conns, sizeof(*map));
  buf = malloc(READ_BUF);
  if (cs == NULL || pfd == NULL || map == NULL || buf == NULL) {
    fprintf(stderr, "flood: out of memory\n");
    return 1;
  }
  t0 = now_s();
  deadline = t0 + opt.timeout;
  for (; opened < opt.conns; opened++) {
    int fd = dial(opt.address);
    if (fd < 0) {
      totals.errors++;
      report(cs, opened, now_s() - t0, false);
      return 1;
    }
    conn_init(&cs[opened], opened, fd);
  }
  last_progress = now_s();
  for (;;) {
    double t;
    int n;
    live = 0;
    for (unsigned i = 0; i < opt.conns; i++) {
      conn *c = &cs[i];
      if (c->done || c->failed)
        continue;
      pfd[live].fd = c->fd;
      pfd[live].events = (short)(POLLIN | (tx_pending(c) ? POLLOUT : 0));
      pfd[live].revents = 0;
      map[live++] = i;
    }
    if (live == 0)
      break;
    n = poll(pfd, live, 250);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "flood: poll: %s\n", strerror(errno));
      return 1;
    }
    t = now_s();
    for (unsigned j = 0; n > 0 && j < live; j++) {
      conn *c = &cs[map[j]];
      size_t moved = 0;
      if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))
        moved += conn_recv(c, buf);
      if ((pfd[j].revents & (POLLOUT | POLLERR)) && tx_pending(c))
        moved += conn_send(c);
      if (moved > 0 || c->done || c->shut)
        last_progress = t;
    }
    if (t > deadline || t - last_progress > opt.stall) {
      for (unsigned i = 0; i < opt.conns; i++)
        if (!cs[i].done)
          conn_fail(&cs[i], false,
                    "%s after %.1f s (%" PRIu64 " frames sent, %" PRIu64
                    " replies)",
                    t > deadline ? "time limit" : "no progress", t - t0,
                    cs[i].tx_sent, cs[i].rx_got);
      break;
    }
  }
  {
    bool ok = totals.mismatches == 0 && totals.errors == 0;
    uint64_t got = 0;
    for (unsigned i = 0; i < opt.conns; i++) {
      got += cs[i].rx_got;
      if (cs[i].fd >= 0)
        close(cs[i].fd);
    }
    ok = ok && got == (uint64_t)opt.conns * opt.frames;
    report(cs, opened, now_s() - t0, ok);
    free(buf);
    free(map);
    free(pfd);
    free(cs);
    free(pool);
    return ok ? 0 : 1;
  }
}
