/* test_tls_stream.c -- TLS over an in-memory stream pair, on a real loop.
 *
 * A fake stream pair carries a TLS server and client made with
 * sk__stream_tls_new: each side's writes reach the other side's reads
 * through the loop, one odd-sized piece per loop turn, and try_write takes
 * at most a few hundred bytes, so partial writes and records cut anywhere
 * are the rule.  Certificates are made here with OpenSSL; the files that
 * sk_tls_new reads are temporary and removed at the end.
 *
 * Every allocation of OpenSSL and of the TLS stream goes through a
 * counting allocator (CRYPTO_set_mem_functions), which shows that closing
 * gives everything back and what an idle connection costs.
 */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/escape.h"
#include "stream/stream.h"
#include "stream/tls_internal.h"

#define WAIT_MS 10000 /* the longest any step may take */

/* ------------------------------------------------- counting allocator */

/* Bytes and blocks allocated through OpenSSL and live now.  Each block
 * carries its size in a header of max_align_t's size. */
static size_t live_bytes, live_blocks;
#define HDR sizeof(max_align_t)

static void *count_malloc(size_t n, const char *file, int line) {
  unsigned char *p = malloc(n + HDR);

  (void)file;
  (void)line;
  if (p == NULL)
    return NULL;
  memcpy(p, &n, sizeof(n));
  live_bytes += n;
  live_blocks++;
  return p + HDR;
}

static void count_free(void *q, const char *file, int line) {
  unsigned char *p;
  size_t n;

  (void)file;
  (void)line;
  if (q == NULL)
    return;
  p = (unsigned char *)q - HDR;
  memcpy(&n, p, sizeof(n));
  live_bytes -= n;
  live_blocks--;
  free(p);
}

static void *count_realloc(void *q, size_t n, const char *file, int line) {
  unsigned char *p, *np;
  size_t old;

  if (q == NULL)
    return count_malloc(n, file, line);
  if (n == 0) {
    count_free(q, file, line);
    return NULL;
  }
  p = (unsigned char *)q - HDR;
  memcpy(&old, p, sizeof(old));
  if ((np = realloc(p, n + HDR)) == NULL)
    return NULL;
  memcpy(np, &n, sizeof(n));
  live_bytes = live_bytes - old + n;
  return np + HDR;
}

/* ---------------------------------------------------------- fake stream */

/* Bytes on their way to one side. */
typedef struct chunk {
  struct chunk *next;
  size_t len, off;
  char data[];
} chunk;

typedef struct fake {
  sk__stream base;
  struct fake *peer;
  chunk *head, *tail;
  int end; /* UV_EOF or an error, delivered after the bytes */
  bool end_delivered, reading, closing;
  sk__write_req *done_head, *done_tail; /* writes to complete */
  sk__shutdown_cb shutdown_cb;
  uv_idle_t idle;
} fake;

#define FAKE_TRY_MAX 700   /* try_write takes at most this */
#define FAKE_READ_MAX 5003 /* one on_read delivers at most this */

static void fake_idle_cb(uv_idle_t *h);

static void fake_kick(fake *f) {
  if (f != NULL && !f->closing)
    uv_idle_start(&f->idle, fake_idle_cb);
}

/* Copies up to max bytes of bufs to the side `to`; returns the count. */
static size_t fake_push(fake *to, const uv_buf_t *bufs, unsigned n,
                        size_t max) {
  size_t total = 0;

  for (unsigned i = 0; i < n && total < max; i++) {
    size_t len = bufs[i].len < max - total ? bufs[i].len : max - total;
    chunk *c = malloc(sizeof(*c) + len);
    assert_non_null(c);
    memcpy(c->data, bufs[i].base, len);
    c->len = len;
    c->off = 0;
    c->next = NULL;
    if (to->tail != NULL)
      to->tail->next = c;
    else
      to->head = c;
    to->tail = c;
    total += len;
  }
  fake_kick(to);
  return total;
}

static int fake_try_write(sk__stream *s, const uv_buf_t *bufs, unsigned n) {
  fake *f = (fake *)s;

  if (f->closing || f->peer == NULL)
    return UV_EPIPE;
  return (int)fake_push(f->peer, bufs, n, FAKE_TRY_MAX);
}

static int fake_write(sk__stream *s, sk__write_req *req, const uv_buf_t *bufs,
                      unsigned n) {
  fake *f = (fake *)s;

  if (f->closing || f->peer == NULL)
    return UV_EPIPE;
  fake_push(f->peer, bufs, n, SIZE_MAX);
  req->next = NULL;
  if (f->done_tail != NULL)
    f->done_tail->next = req;
  else
    f->done_head = req;
  f->done_tail = req;
  fake_kick(f);
  return 0;
}

static int fake_shutdown(sk__stream *s, sk__shutdown_cb cb) {
  fake *f = (fake *)s;

  if (f->closing || f->peer == NULL)
    return UV_ENOTCONN;
  if (f->peer->end == 0)
    f->peer->end = UV_EOF;
  fake_kick(f->peer);
  f->shutdown_cb = cb;
  fake_kick(f);
  return 0;
}

static int fake_read_start(sk__stream *s) {
  fake *f = (fake *)s;

  f->reading = true;
  fake_kick(f);
  return 0;
}

static int fake_read_stop(sk__stream *s) {
  ((fake *)s)->reading = false;
  return 0;
}

static void fake_complete_writes(fake *f, int status) {
  sk__write_req *req = f->done_head;

  f->done_head = f->done_tail = NULL;
  while (req != NULL) {
    sk__write_req *next = req->next;
    req->cb(req, status);
    req = next;
  }
}

static void fake_closed(uv_handle_t *h) {
  fake *f = h->data;

  fake_complete_writes(f, UV_ECANCELED);
  if (f->shutdown_cb != NULL)
    f->shutdown_cb(&f->base, UV_ECANCELED);
  f->base.ev->on_closed(&f->base);
  while (f->head != NULL) {
    chunk *c = f->head;
    f->head = c->next;
    free(c);
  }
  free(f);
}

/* The other side sees the end of the stream, as after a FIN. */
static void fake_close(sk__stream *s) {
  fake *f = (fake *)s;

  if (f->closing)
    return;
  f->closing = true;
  if (f->peer != NULL) {
    if (f->peer->end == 0)
      f->peer->end = UV_EOF;
    fake_kick(f->peer);
    f->peer->peer = NULL;
    f->peer = NULL;
  }
  uv_close((uv_handle_t *)&f->idle, fake_closed);
}

/* The other side gets ECONNRESET, as after a RST. */
static void fake_reset(fake *f) {
  if (f->peer != NULL) {
    f->peer->end = UV_ECONNRESET;
    fake_kick(f->peer);
  }
}

/* Delivers one piece, copied to a buffer that is freed right after the
 * callback, so that a stream keeping the pointer trips AddressSanitizer. */
static void fake_deliver_one(fake *f) {
  chunk *c = f->head;
  size_t n = c->len - c->off < FAKE_READ_MAX ? c->len - c->off : FAKE_READ_MAX;
  char *copy = malloc(n);

  assert_non_null(copy);
  memcpy(copy, c->data + c->off, n);
  c->off += n;
  if (c->off == c->len) {
    f->head = c->next;
    if (f->head == NULL)
      f->tail = NULL;
    free(c);
  }
  f->base.ev->on_read(&f->base, (ssize_t)n, copy);
  free(copy);
}

static void fake_idle_cb(uv_idle_t *h) {
  fake *f = h->data;
  sk__shutdown_cb cb = f->shutdown_cb;

  fake_complete_writes(f, 0);
  f->shutdown_cb = NULL;
  if (cb != NULL && !f->closing)
    cb(&f->base, 0);
  if (f->closing)
    return;
  if (f->reading && f->head != NULL)
    fake_deliver_one(f);
  else if (f->reading && f->end != 0 && !f->end_delivered) {
    f->end_delivered = true;
    f->base.ev->on_read(&f->base, f->end, NULL);
  }
  if (!f->closing && f->done_head == NULL && f->shutdown_cb == NULL &&
      !(f->reading && (f->head != NULL || (f->end && !f->end_delivered))))
    uv_idle_stop(&f->idle);
}

static int fake_fileno(const sk__stream *s) {
  (void)s;
  return 77;
}

static int fake_peername(const sk__stream *s, struct sockaddr_storage *ss) {
  (void)s;
  (void)ss;
  return UV_ENOTSUP;
}

static int fake_describe(const sk__stream *s, char *buf, size_t size) {
  (void)s;
  if (size > 0)
    buf[0] = '\0';
  return 0;
}

static const char *fake_error(const sk__stream *s) {
  (void)s;
  return NULL;
}

static const sk__stream_ops fake_ops = {
    .name = "fake",
    .read_start = fake_read_start,
    .read_stop = fake_read_stop,
    .try_write = fake_try_write,
    .write = fake_write,
    .shutdown = fake_shutdown,
    .close = fake_close,
    .fileno = fake_fileno,
    .peername = fake_peername,
    .describe = fake_describe,
    .error = fake_error,
};

static fake *fake_new(uv_loop_t *loop) {
  fake *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  f->base.ops = &fake_ops;
  f->base.loop = loop;
  uv_idle_init(loop, &f->idle);
  f->idle.data = f;
  return f;
}

/* ------------------------------------------------------------ endpoints */

/* One side as its owner sees it. */
typedef struct end {
  sk__stream *s;
  bool in_op; /* inside a call into s: no callback may come now */
  bool opened;
  int open_status;
  char error[512]; /* error() when something failed */
  char *got;
  size_t got_len, got_cap;
  bool ended;
  int end_status;
  bool closed;
  bool stop_on_read; /* read_stop inside the next on_read */
  bool echo;         /* plain peer: write back what arrives */
  bool reply_once;   /* plain peer: say hello at the first bytes */
  bool close_on_read, reset_on_read;
  unsigned writes_done;
  int write_status;
  bool shut;
  int shut_status;
} end;

static void note_error(end *e) {
  const char *why = e->s->ops->error(e->s);

  if (why != NULL && e->error[0] == '\0')
    snprintf(e->error, sizeof(e->error), "%s", why);
}

static void got_add(end *e, const char *buf, size_t n) {
  if (e->got_len + n > e->got_cap) {
    e->got_cap = (e->got_len + n) * 2;
    e->got = realloc(e->got, e->got_cap);
    assert_non_null(e->got);
  }
  memcpy(e->got + e->got_len, buf, n);
  e->got_len += n;
}

static void plain_peer_react(end *e, const char *buf, size_t n);

static void end_on_read(sk__stream *s, ssize_t n, const char *buf) {
  end *e = s->owner;

  assert_false(e->in_op);
  assert_false(e->ended);
  if (n < 0) {
    e->ended = true;
    e->end_status = (int)n;
    note_error(e);
    return;
  }
  got_add(e, buf, (size_t)n);
  plain_peer_react(e, buf, (size_t)n);
  if (e->stop_on_read) {
    e->stop_on_read = false;
    assert_int_equal(sk__stream_read_stop(s), 0);
  }
}

static void end_on_closed(sk__stream *s) {
  end *e = s->owner;

  assert_false(e->in_op);
  e->closed = true;
}

static const sk__stream_events end_events = {
    .on_read = end_on_read,
    .on_closed = end_on_closed,
};

static void end_open_cb(sk__stream *s, int status) {
  end *e = s->owner;

  assert_false(e->in_op);
  e->opened = true;
  e->open_status = status;
  if (status < 0)
    note_error(e);
}

static void end_write_cb(sk__write_req *req, int status) {
  end *e = req->data;

  assert_false(e->in_op);
  if (status != 0 && e->write_status == 0)
    e->write_status = status;
  e->writes_done++;
  free(req);
}

static void end_shutdown_cb(sk__stream *s, int status) {
  end *e = s->owner;

  assert_false(e->in_op);
  e->shut = true;
  e->shut_status = status;
}

/* A plain-text peer's answers: an echo, a greeting, a close, a reset. */
static void plain_peer_react(end *e, const char *buf, size_t n) {
  uv_buf_t b = uv_buf_init((char *)"hello\n", 6);

  if (e->echo) {
    char *copy = malloc(n);
    sk__write_req *req = calloc(1, sizeof(*req));
    assert_true(copy != NULL && req != NULL);
    memcpy(copy, buf, n);
    b = uv_buf_init(copy, (unsigned)n);
    req->cb = end_write_cb;
    req->data = e;
    assert_int_equal(sk__stream_write(e->s, req, &b, 1), 0);
    free(copy); /* the fake copies at once */
  } else if (e->reply_once) {
    e->reply_once = false;
    assert_int_equal(sk__stream_try_write(e->s, &b, 1), 6);
  } else if (e->close_on_read) {
    e->close_on_read = false;
    sk__stream_close(e->s);
  } else if (e->reset_on_read) {
    e->reset_on_read = false;
    fake_reset((fake *)e->s);
  }
}

/* Writes bufs with write(); the callback is counted in writes_done. */
static void end_write(end *e, const char *data, size_t len) {
  sk__write_req *req = calloc(1, sizeof(*req));
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);

  assert_non_null(req);
  req->cb = end_write_cb;
  req->data = e;
  e->in_op = true;
  assert_int_equal(sk__stream_write(e->s, req, &b, 1), 0);
  e->in_op = false;
}

static int end_try_write(end *e, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int r;

  e->in_op = true;
  r = sk__stream_try_write(e->s, &b, 1);
  e->in_op = false;
  return r;
}

static void end_read_start(end *e) {
  e->in_op = true;
  assert_int_equal(sk__stream_read_start(e->s), 0);
  e->in_op = false;
}

/* --------------------------------------------------------------- worlds */

typedef struct world {
  uv_loop_t loop;
  end srv, cli;
} world;

typedef bool (*done_fn)(const world *w);

/* Runs the loop until done(w) holds; false after WAIT_MS. */
static bool run_until(world *w, done_fn done) {
  uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;

  while (!done(w)) {
    if (uv_hrtime() > deadline)
      return false;
    uv_run(&w->loop, UV_RUN_NOWAIT);
  }
  return true;
}

/* Runs n loop turns, for "nothing more happens" checks. */
static void run_turns(world *w, int n) {
  while (n-- > 0)
    uv_run(&w->loop, UV_RUN_NOWAIT);
}

static bool both_opened(const world *w) {
  return w->srv.opened && w->cli.opened;
}

static bool srv_opened(const world *w) {
  return w->srv.opened;
}

static bool cli_opened(const world *w) {
  return w->cli.opened;
}

static bool both_closed(const world *w) {
  return w->srv.closed && w->cli.closed;
}

static void end_attach(end *e, sk__stream *s) {
  e->s = s;
  s->ev = &end_events;
  s->owner = e;
}

static void end_open(end *e) {
  e->in_op = true;
  assert_int_equal(e->s->ops->open(e->s, end_open_cb), 0);
  e->in_op = false;
}

/* A fake pair with TLS on the sides whose context is given (a NULL one
 * leaves that side plain, reading).  Both TLS sides start their
 * handshake. */
static void world_start(world *w, sk_tls *srv_tls, sk_tls *cli_tls,
                        const char *servername) {
  fake *fs, *fc;

  memset(w, 0, sizeof(*w));
  assert_int_equal(uv_loop_init(&w->loop), 0);
  fs = fake_new(&w->loop);
  fc = fake_new(&w->loop);
  fs->peer = fc;
  fc->peer = fs;
  end_attach(&w->srv, srv_tls != NULL
                          ? sk__stream_tls_new(&fs->base, srv_tls, NULL)
                          : &fs->base);
  end_attach(&w->cli, cli_tls != NULL
                          ? sk__stream_tls_new(&fc->base, cli_tls, servername)
                          : &fc->base);
  if (srv_tls != NULL)
    end_open(&w->srv);
  else
    end_read_start(&w->srv);
  if (cli_tls != NULL)
    end_open(&w->cli);
  else
    end_read_start(&w->cli);
}

/* Closes both sides and checks that everything went: each side's
 * on_closed ran and the loop has no handle left. */
static void world_end(world *w) {
  if (!w->srv.closed)
    sk__stream_close(w->srv.s);
  if (!w->cli.closed)
    sk__stream_close(w->cli.s);
  assert_true(run_until(w, both_closed));
  assert_int_equal(uv_run(&w->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&w->loop), 0);
  free(w->srv.got);
  free(w->cli.got);
}

/* A world whose handshake must succeed. */
static void world_open(world *w, sk_tls *srv_tls, sk_tls *cli_tls,
                       const char *servername) {
  world_start(w, srv_tls, cli_tls, servername);
  assert_true(run_until(w, both_opened));
  if (w->srv.open_status != 0 || w->cli.open_status != 0)
    fail_msg("handshake: server %d '%s', client %d '%s'", w->srv.open_status,
             w->srv.error, w->cli.open_status, w->cli.error);
}

/* ---------------------------------------------------------- certificates */

static struct {
  EVP_PKEY *ca_key, *other_key, *key, *wrong_key;
  X509 *ca, *other_ca;
  char ca_pem[32], other_ca_pem[32];
  char srv_pem[32], key_pem[32], expired_pem[32], combined_pem[32];
  char cli_pem[32], bad_cli_pem[32], wrong_key_pem[32], enc_key_pem[32];
  char empty_pem[32], future_pem[32], evil_pem[32];
} pki;

static const sk__tls_cert_spec ca_spec = {
    .cn = "sockit test CA", .from_s = -3600, .to_s = 86400, .ca = true};
static const sk__tls_cert_spec srv_spec = {
    .cn = "localhost",
    .sans = "DNS:localhost,IP:127.0.0.1,IP:::1",
    .from_s = -3600,
    .to_s = 86400};
static const sk__tls_cert_spec expired_spec = {
    .cn = "localhost",
    .sans = "DNS:localhost,IP:127.0.0.1,IP:::1",
    .from_s = -3 * 86400,
    .to_s = -86400};
static const sk__tls_cert_spec future_spec = {.cn = "localhost",
                                              .sans = "DNS:localhost",
                                              .from_s = 86400,
                                              .to_s = 172800};
/* Names with terminal controls in them, which no message may repeat. */
static const sk__tls_cert_spec evil_spec = {.cn = "bad\x1b[2Jname\x7f",
                                            .sans = "DNS:a\x1b]0;b",
                                            .from_s = -3600,
                                            .to_s = 86400};
static const sk__tls_cert_spec cli_spec = {
    .cn = "client", .from_s = -3600, .to_s = 86400};

/* Writes PEM objects into a fresh temporary file named into path. */
static void pem_file(char path[32], X509 *cert, EVP_PKEY *key,
                     const EVP_CIPHER *enc) {
  FILE *f;
  int fd;

  strcpy(path, "/tmp/sk_tls_XXXXXX");
  assert_true((fd = mkstemp(path)) >= 0);
  assert_non_null(f = fdopen(fd, "w"));
  if (cert != NULL)
    assert_int_equal(PEM_write_X509(f, cert), 1);
  if (key != NULL)
    assert_int_equal(PEM_write_PrivateKey(f, key, enc, NULL, 0, NULL,
                                          enc != NULL ? "secret" : NULL),
                     1);
  fclose(f);
}

static void cert_file(char path[32], EVP_PKEY *key,
                      const sk__tls_cert_spec *spec, X509 *issuer,
                      EVP_PKEY *issuer_key) {
  X509 *x = sk__tls_cert_make(key, spec, issuer, issuer_key);

  assert_non_null(x);
  pem_file(path, x, NULL, NULL);
  X509_free(x);
}

static int pki_setup(void **state) {
  X509 *srv;

  (void)state;
  pki.ca_key = sk__tls_key_make();
  pki.other_key = sk__tls_key_make();
  pki.key = sk__tls_key_make();
  pki.wrong_key = sk__tls_key_make();
  pki.ca = sk__tls_cert_make(pki.ca_key, &ca_spec, NULL, NULL);
  pki.other_ca = sk__tls_cert_make(pki.other_key, &ca_spec, NULL, NULL);
  assert_true(pki.ca != NULL && pki.other_ca != NULL);
  pem_file(pki.ca_pem, pki.ca, NULL, NULL);
  pem_file(pki.other_ca_pem, pki.other_ca, NULL, NULL);
  pem_file(pki.key_pem, NULL, pki.key, NULL);
  pem_file(pki.wrong_key_pem, NULL, pki.wrong_key, NULL);
  pem_file(pki.enc_key_pem, NULL, pki.key, EVP_aes_128_cbc());
  pem_file(pki.empty_pem, NULL, NULL, NULL);
  cert_file(pki.srv_pem, pki.key, &srv_spec, pki.ca, pki.ca_key);
  cert_file(pki.expired_pem, pki.key, &expired_spec, pki.ca, pki.ca_key);
  cert_file(pki.future_pem, pki.key, &future_spec, pki.ca, pki.ca_key);
  cert_file(pki.evil_pem, pki.key, &evil_spec, pki.ca, pki.ca_key);
  cert_file(pki.cli_pem, pki.key, &cli_spec, pki.ca, pki.ca_key);
  cert_file(pki.bad_cli_pem, pki.key, &cli_spec, pki.other_ca, pki.other_key);
  srv = sk__tls_cert_make(pki.key, &srv_spec, pki.ca, pki.ca_key);
  pem_file(pki.combined_pem, srv, pki.key, NULL);
  X509_free(srv);
  return 0;
}

static int pki_teardown(void **state) {
  char *files[] = {pki.ca_pem,      pki.other_ca_pem, pki.srv_pem,
                   pki.key_pem,     pki.expired_pem,  pki.combined_pem,
                   pki.cli_pem,     pki.bad_cli_pem,  pki.wrong_key_pem,
                   pki.enc_key_pem, pki.empty_pem,    pki.future_pem,
                   pki.evil_pem};

  (void)state;
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
    unlink(files[i]);
  X509_free(pki.ca);
  X509_free(pki.other_ca);
  EVP_PKEY_free(pki.ca_key);
  EVP_PKEY_free(pki.other_key);
  EVP_PKEY_free(pki.key);
  EVP_PKEY_free(pki.wrong_key);
  return 0;
}

/* A context that must be made. */
static sk_tls *tls_make(const sk_tls_opts *o, int server) {
  char err[512];
  sk_tls *t = NULL;

  if (sk_tls_new(o, server, &t, err, sizeof(err)) != 0)
    fail_msg("sk_tls_new: %s", err);
  return t;
}

/* The error sk_tls_new gives for o. */
static const char *tls_refusal(const sk_tls_opts *o, int server) {
  static char err[512];
  sk_tls *t = NULL;

  assert_int_equal(sk_tls_new(o, server, &t, err, sizeof(err)), SK_ETLS);
  assert_null(t);
  return err;
}

static void assert_contains(const char *text, const char *part) {
  if (strstr(text, part) == NULL)
    fail_msg("'%s' does not contain '%s'", text, part);
}

/* A self-signed server and a client pinned to it. */
static void pinned_pair(sk_tls **srv, sk_tls **cli) {
  char fp[80];
  sk_tls_opts co = {0};

  *srv = tls_make(NULL, 1);
  assert_int_equal(sk_tls_fingerprint(*srv, fp, sizeof(fp)), 71);
  co.pin = fp;
  *cli = tls_make(&co, 0);
}

/* ================================================================ tests */

/* sk_escape of a NUL-terminated string, into a static buffer. */
static const char *esc(const char *in) {
  static char out[128];

  sk_escape(in, strlen(in), out, sizeof(out));
  return out;
}

static void test_escape(void **state) {
  char out[64];

  (void)state;
  assert_int_equal(sk_escape("plain text", 10, out, sizeof(out)), 10);
  assert_string_equal(out, "plain text");
  assert_string_equal(esc("a\tb\r\n\x1b[2J\x7f"),
                      "a\tb\\x0d\\x0a\\x1b[2J\\x7f");
  /* UTF-8 text as it is; a backslash too. */
  assert_string_equal(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92 \\"),
                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92 \\");
  /* C1 control, stray byte, overlong '/', surrogate, cut sequence. */
  assert_string_equal(esc("\xc2\x85|\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82"),
                      "\\xc2\\x85|\\xff|\\xc0\\xaf|\\xed\\xa0\\x80|"
                      "\\xe2\\x82");
  /* Past U+10FFFF. */
  assert_string_equal(esc("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  assert_int_equal(sk_escape("a\0b", 3, out, sizeof(out)), 6);
  assert_string_equal(out, "a\\x00b");
  /* Never cut inside an escape or a character. */
  assert_int_equal(sk_escape("ab\x01", 3, out, 6), 2);
  assert_string_equal(out, "ab");
  assert_int_equal(sk_escape("a\xc3\xa9", 3, out, 3), 1);
  assert_string_equal(out, "a");
  assert_int_equal(sk_escape("xyz", 3, out, 1), 0);
  assert_string_equal(out, "");
}

/* sk_escape_span: how much of a text needs no escaping, the test that
 * lets a terminal's common message go out without a copy. */
static void test_escape_span(void **state) {
  const char *cjk = "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7"
                    "\x95\x8c"; /* 你好，世界 */

  (void)state;
  assert_int_equal(sk_escape_span("", 0), 0);
  assert_int_equal(sk_escape_span("plain\ttext ~", 12), 12);
  assert_int_equal(sk_escape_span(cjk, strlen(cjk)), strlen(cjk));
  /* It stops at the first thing sk_escape would change. */
  assert_int_equal(sk_escape_span("ab\x1b[2J", 7), 2);
  assert_int_equal(sk_escape_span("ab\x7f", 3), 2);
  assert_int_equal(sk_escape_span("ab\rc", 4), 2);
  assert_int_equal(sk_escape_span("ab\nc", 4), 2);
  assert_int_equal(sk_escape_span("\xc3\xa9\x9b", 3), 2);     /* raw C1 */
  assert_int_equal(sk_escape_span("\xc3\xa9\xc2\x9b", 4), 2); /* U+009B */
  assert_int_equal(sk_escape_span("a\xc0\xaf", 3), 1);        /* overlong */
  assert_int_equal(sk_escape_span(cjk, 5), 3); /* a character cut short */
  assert_int_equal(sk_escape_span("\0", 1), 0);
}

static void test_fingerprint_and_pin_forms(void **state) {
  sk_tls *srv = tls_make(NULL, 1), *cli;
  char fp[80], colons[120], *p = colons;
  sk_tls_opts co = {0};
  world w;

  (void)state;
  assert_int_equal(sk_tls_fingerprint(srv, fp, sizeof(fp)), 71);
  assert_memory_equal(fp, "sha256:", 7);
  for (size_t i = 7; fp[i] != '\0'; i++)
    assert_non_null(strchr("0123456789abcdef", fp[i]));
  /* "SHA256:AB:CD:..." as openssl x509 -fingerprint prints it. */
  p += sprintf(p, "SHA256:");
  for (size_t i = 7; fp[i] != '\0'; i += 2)
    p += sprintf(p, "%s%c%c", i > 7 ? ":" : "", fp[i] - 32 * (fp[i] > '9'),
                 fp[i + 1] - 32 * (fp[i + 1] > '9'));
  co.pin = colons;
  cli = tls_make(&co, 0);
  world_open(&w, srv, cli, "example.org"); /* a pin ignores the name */
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_pin_malformed(void **state) {
  sk_tls_opts co = {0};

  (void)state;
  co.pin = "sha256:zz";
  assert_string_equal(tls_refusal(&co, 0),
                      "--pin 'sha256:zz': expected sha256: and 64 hex digits "
                      "(colons allowed between byte pairs)");
  co.pin = "md5:00";
  assert_contains(tls_refusal(&co, 0), "--pin 'md5:00'");
  co.pin = "sha256:0000000000000000000000000000000000000000000000000000000000"
           "00000000"; /* 33 bytes */
  assert_contains(tls_refusal(&co, 0), "expected sha256: and 64 hex digits");
  assert_string_equal(tls_refusal(&co, 1), "--pin is for clients");
}

/* Sizes that cut records anywhere, from 1 byte to more than four
 * records. */
static const size_t piece_sizes[] = {1, 7, 1000, 16385, 65537, 3, 4093, 99991};
#define BIG (1024 * 1024)
static char pattern_a[BIG], pattern_b[BIG];

static void fill_pattern(char *p, unsigned seed) {
  uint32_t x = seed;

  for (size_t i = 0; i < BIG; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (char)(x >> 16);
  }
}

/* Sends all of data through e, alternating try_write and write. */
static void send_pieces(end *e, const char *data, size_t len) {
  size_t off = 0, k = 0;

  while (off < len) {
    size_t n = piece_sizes[k++ % 8];
    int r;
    if (n > len - off)
      n = len - off;
    r = k % 2 ? end_try_write(e, data + off, n) : 0;
    assert_true(r >= 0 && (size_t)r <= n);
    if ((size_t)r < n)
      end_write(e, data + off + r, n - (size_t)r);
    off += n;
  }
}

static bool both_got_big(const world *w) {
  return w->srv.got_len >= BIG && w->cli.got_len >= BIG;
}

static void test_pin_handshake_and_data(void **state) {
  sk_tls *srv, *cli;
  char info[1024], fp[80];
  int n;
  world w;

  (void)state;
  pinned_pair(&srv, &cli);
  sk_tls_fingerprint(srv, fp, sizeof(fp));
  world_open(&w, srv, cli, "localhost");
  n = w.cli.s->ops->describe(w.cli.s, info, sizeof(info));
  assert_int_equal(n, strlen(info));
  assert_contains(info, "TLSv1.3 TLS_");
  assert_contains(info, "peer certificate subject CN=localhost, issuer "
                        "CN=localhost, valid ");
  assert_contains(info, fp);
  w.srv.s->ops->describe(w.srv.s, info, sizeof(info));
  assert_contains(info, ", no peer certificate");
  assert_int_equal(sk__stream_fileno(w.cli.s), -1);
  end_read_start(&w.srv);
  end_read_start(&w.cli);
  send_pieces(&w.cli, pattern_a, BIG);
  send_pieces(&w.srv, pattern_b, BIG);
  assert_true(run_until(&w, both_got_big));
  assert_int_equal(w.srv.got_len, BIG);
  assert_int_equal(w.cli.got_len, BIG);
  assert_memory_equal(w.srv.got, pattern_a, BIG);
  assert_memory_equal(w.cli.got, pattern_b, BIG);
  assert_int_equal(w.cli.write_status, 0);
  assert_int_equal(w.srv.write_status, 0);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

/* Runs a handshake that must fail on both sides. */
static void world_fail(world *w, sk_tls *srv, sk_tls *cli,
                       const char *servername) {
  world_start(w, srv, cli, servername);
  assert_true(run_until(w, both_opened));
  assert_int_equal(w->cli.open_status, SK_ETLS);
  assert_int_equal(w->srv.open_status, SK_ETLS);
}

static void test_pin_mismatch(void **state) {
  sk_tls *srv = tls_make(NULL, 1), *cli;
  sk_tls_opts co = {.pin = "sha256:00000000000000000000000000000000000000000"
                           "00000000000000000000000"};
  char fp[80], want[200];
  world w;

  (void)state;
  cli = tls_make(&co, 0);
  sk_tls_fingerprint(srv, fp, sizeof(fp));
  world_fail(&w, srv, cli, "localhost");
  snprintf(want, sizeof(want),
           "certificate fingerprint %s does not match --pin %s", fp, co.pin);
  assert_string_equal(w.cli.error, want);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_unknown_ca(void **state) {
  sk_tls *srv = tls_make(NULL, 1), *cli = tls_make(NULL, 0);
  char fp[80], want[300];
  world w;

  (void)state;
  sk_tls_fingerprint(srv, fp, sizeof(fp));
  world_fail(&w, srv, cli, "localhost");
  snprintf(want, sizeof(want),
           "certificate verify failed: unknown CA (self-signed or untrusted "
           "issuer); try --ca FILE or --pin %s",
           fp);
  assert_string_equal(w.cli.error, want);
  assert_string_equal(w.srv.error,
                      "the client rejected our certificate (unknown CA)");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_ca_file_names(void **state) {
  sk_tls_opts so = {.cert_file = pki.srv_pem, .key_file = pki.key_pem};
  sk_tls_opts co = {.ca_file = pki.ca_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  const char *good[] = {"localhost", "127.0.0.1", "::1"};
  world w;

  (void)state;
  for (size_t i = 0; i < 3; i++) {
    world_open(&w, srv, cli, good[i]);
    world_end(&w);
  }
  world_fail(&w, srv, cli, "example.org");
  assert_string_equal(w.cli.error, "certificate is for localhost, 127.0.0.1, "
                                   "::1, not for example.org");
  world_end(&w);
  world_fail(&w, srv, cli, "10.1.2.3");
  assert_string_equal(w.cli.error, "certificate is for localhost, 127.0.0.1, "
                                   "::1, not for 10.1.2.3");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_combined_pem(void **state) {
  sk_tls_opts so = {.cert_file = pki.combined_pem};
  sk_tls_opts co = {.ca_file = pki.ca_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  world w;

  (void)state;
  world_open(&w, srv, cli, "localhost");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_expired(void **state) {
  sk_tls_opts so = {.cert_file = pki.expired_pem, .key_file = pki.key_pem};
  sk_tls_opts co = {.ca_file = pki.ca_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  X509 *x = sk__tls_cert_make(pki.key, &expired_spec, pki.ca, pki.ca_key);
  char when[40], want[100];
  world w;

  (void)state;
  /* The same notAfter, to the second (or the next one). */
  sk__tls_time_format(X509_get0_notAfter(x), when, sizeof(when));
  assert_int_equal(strlen(when), strlen("2024-01-01 00:00:00 UTC"));
  assert_string_equal(when + 19, " UTC");
  X509_free(x);
  world_fail(&w, srv, cli, "localhost");
  snprintf(want, sizeof(want), "certificate expired on %.16s", when);
  assert_contains(w.cli.error, want);
  assert_contains(w.cli.error, " UTC");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_not_yet_valid(void **state) {
  sk_tls_opts so = {.cert_file = pki.future_pem, .key_file = pki.key_pem};
  sk_tls_opts co = {.ca_file = pki.ca_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  world w;

  (void)state;
  world_fail(&w, srv, cli, "localhost");
  assert_contains(w.cli.error, "certificate is not valid before 20");
  assert_contains(w.cli.error, " UTC (check the clock)");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void assert_no_controls(const char *text) {
  for (const char *p = text; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      fail_msg("control byte 0x%02x in '%s'", (unsigned char)*p, text);
}

/* Peer-controlled names reach messages escaped. */
static void test_peer_text_escaped(void **state) {
  sk_tls_opts so = {.cert_file = pki.evil_pem, .key_file = pki.key_pem};
  sk_tls_opts co = {.ca_file = pki.ca_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0), *pinned;
  char info[1024], fp[80];
  world w;

  (void)state;
  world_fail(&w, srv, cli, "example.org");
  assert_string_equal(w.cli.error,
                      "certificate is for a\\x1b]0;b, not for example.org");
  world_end(&w);
  sk_tls_fingerprint(srv, fp, sizeof(fp));
  co = (sk_tls_opts){.pin = fp};
  pinned = tls_make(&co, 0);
  world_open(&w, srv, pinned, NULL);
  w.cli.s->ops->describe(w.cli.s, info, sizeof(info));
  assert_no_controls(info);
  assert_contains(info, "subject CN=bad");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
  sk_tls_unref(pinned);
}

static bool cli_told(const world *w) {
  return w->srv.opened && w->cli.opened &&
         (w->cli.open_status != 0 || w->cli.ended);
}

static void test_client_cert_required(void **state) {
  sk_tls_opts so = {.client_ca_file = pki.ca_pem};
  sk_tls_opts co = {.insecure = 1};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  world w;

  (void)state;
  world_start(&w, srv, cli, "localhost");
  /* In TLS 1.3 the client finishes first and hears the verdict when it
   * reads. */
  end_read_start(&w.cli);
  assert_true(run_until(&w, cli_told));
  assert_int_equal(w.srv.open_status, SK_ETLS);
  assert_string_equal(w.srv.error,
                      "no client certificate (--client-ca requires one)");
  assert_true(w.cli.open_status == SK_ETLS || w.cli.end_status == SK_ETLS);
  assert_string_equal(w.cli.error, "the server requires a client certificate "
                                   "(--cert/--key)");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_client_cert_rejected(void **state) {
  sk_tls_opts so = {.client_ca_file = pki.ca_pem};
  sk_tls_opts co = {
      .insecure = 1, .cert_file = pki.bad_cli_pem, .key_file = pki.key_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  world w;

  (void)state;
  world_start(&w, srv, cli, "localhost");
  end_read_start(&w.cli);
  assert_true(run_until(&w, cli_told));
  assert_int_equal(w.srv.open_status, SK_ETLS);
  assert_string_equal(w.srv.error,
                      "client certificate verify failed: unknown CA (not "
                      "issued by a --client-ca certificate)");
  assert_string_equal(w.cli.error,
                      "the server rejected our client certificate (unknown "
                      "CA)");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_mutual_tls(void **state) {
  sk_tls_opts so = {.cert_file = pki.srv_pem,
                    .key_file = pki.key_pem,
                    .client_ca_file = pki.ca_pem};
  sk_tls_opts co = {
      .ca_file = pki.ca_pem, .cert_file = pki.cli_pem, .key_file = pki.key_pem};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0);
  char info[1024];
  world w;

  (void)state;
  world_open(&w, srv, cli, "localhost");
  w.srv.s->ops->describe(w.srv.s, info, sizeof(info));
  assert_contains(info, "peer certificate subject CN=client, issuer "
                        "CN=sockit test CA");
  end_read_start(&w.srv);
  end_write(&w.cli, "hi", 2);
  assert_true(run_until(&w, both_opened));
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_plaintext_client(void **state) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  sk_tls *srv = tls_make(NULL, 1);
  world w;

  (void)state;
  world_start(&w, srv, NULL, NULL);
  assert_int_equal(end_try_write(&w.cli, req, sizeof(req) - 1), 27);
  assert_true(run_until(&w, srv_opened));
  assert_int_equal(w.srv.open_status, SK_ETLS);
  assert_string_equal(w.srv.error,
                      "the peer is not speaking TLS (it sent \"GET / "
                      "HTTP/1.1\\x0d\\x0aHost: x\\x0d\\x0a\\x0d\\x0a\")");
  world_end(&w);
  sk_tls_unref(srv);
}

/* A TLS client against a plain server that reacts as `setup` says. */
static void plain_server_case(void (*setup)(end *e), const char *want) {
  sk_tls *cli = tls_make(NULL, 0);
  world w;

  world_start(&w, NULL, cli, "localhost");
  setup(&w.srv);
  assert_true(run_until(&w, cli_opened));
  assert_int_equal(w.cli.open_status, SK_ETLS);
  assert_string_equal(w.cli.error, want);
  world_end(&w);
  sk_tls_unref(cli);
}

static void says_hello(end *e) {
  e->reply_once = true;
}
static void echoes(end *e) {
  e->echo = true;
}
static void closes(end *e) {
  e->close_on_read = true;
}
static void resets(end *e) {
  e->reset_on_read = true;
}

static void test_plaintext_server(void **state) {
  (void)state;
  plain_server_case(says_hello,
                    "the peer is not speaking TLS (it sent \"hello\\x0a\")");
  plain_server_case(echoes, "the peer is not speaking TLS: it sent our "
                            "ClientHello back (an echo service?)");
  plain_server_case(closes, "the peer closed the connection without "
                            "answering the TLS handshake (not speaking "
                            "TLS?)");
  plain_server_case(resets,
                    "the peer reset the connection during the TLS handshake");
}

static bool cli_got_40000(const world *w) {
  return w->cli.got_len >= 40000;
}

static bool srv_writes_done(const world *w) {
  return w->srv.writes_done == 1;
}

static void test_read_stop_keeps_data(void **state) {
  sk_tls *srv, *cli;
  size_t first;
  world w;

  (void)state;
  pinned_pair(&srv, &cli);
  world_open(&w, srv, cli, NULL);
  w.cli.stop_on_read = true;
  end_read_start(&w.cli);
  end_write(&w.srv, pattern_a, 40000);
  assert_true(run_until(&w, srv_writes_done));
  run_turns(&w, 200);
  first = w.cli.got_len;
  assert_true(first > 0 && first < 40000); /* stopped after one record */
  run_turns(&w, 200);
  assert_int_equal(w.cli.got_len, first);
  end_read_start(&w.cli); /* delivers nothing from inside (in_op) */
  assert_int_equal(w.cli.got_len, first);
  assert_true(run_until(&w, cli_got_40000));
  assert_int_equal(w.cli.got_len, 40000);
  assert_memory_equal(w.cli.got, pattern_a, 40000);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static bool srv_ended(const world *w) {
  return w->srv.ended && w->cli.shut;
}

static bool cli_ended(const world *w) {
  return w->cli.ended && w->srv.shut;
}

static void test_shutdown_half_close(void **state) {
  sk_tls *srv, *cli;
  world w;

  (void)state;
  pinned_pair(&srv, &cli);
  world_open(&w, srv, cli, NULL);
  end_read_start(&w.srv);
  end_read_start(&w.cli);
  end_write(&w.cli, "bye", 3);
  w.cli.in_op = true;
  assert_int_equal(sk__stream_shutdown(w.cli.s, end_shutdown_cb), 0);
  assert_int_equal(end_try_write(&w.cli, "x", 1), UV_EPIPE);
  w.cli.in_op = false;
  assert_true(run_until(&w, srv_ended));
  assert_int_equal(w.srv.end_status, UV_EOF); /* close_notify */
  assert_int_equal(w.srv.got_len, 3);
  assert_memory_equal(w.srv.got, "bye", 3);
  assert_int_equal(w.cli.writes_done, 1);
  assert_int_equal(w.cli.shut_status, 0);
  /* The other direction still works. */
  end_write(&w.srv, "ok", 2);
  assert_int_equal(sk__stream_shutdown(w.srv.s, end_shutdown_cb), 0);
  assert_true(run_until(&w, cli_ended));
  assert_int_equal(w.cli.end_status, UV_EOF);
  assert_int_equal(w.cli.got_len, 2);
  assert_memory_equal(w.cli.got, "ok", 2);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static bool big_both_ways(const world *w) {
  return w->srv.got_len >= 300000 && w->cli.got_len >= 300000;
}

/* A key update the client asks for while the server, not reading, keeps
 * writing; the server answers once it reads. */
static void test_key_update(void **state) {
  sk_tls *srv, *cli;
  world w;

  (void)state;
  pinned_pair(&srv, &cli);
  world_open(&w, srv, cli, NULL);
  end_read_start(&w.cli);
  assert_int_equal(
      SSL_key_update(sk__tls_stream_ssl(w.cli.s), SSL_KEY_UPDATE_REQUESTED), 1);
  send_pieces(&w.cli, pattern_a, 300000);
  send_pieces(&w.srv, pattern_b, 150000);
  run_turns(&w, 300);
  send_pieces(&w.srv, pattern_b + 150000, 150000);
  end_read_start(&w.srv);
  assert_true(run_until(&w, big_both_ways));
  assert_memory_equal(w.srv.got, pattern_a, 300000);
  assert_memory_equal(w.cli.got, pattern_b, 300000);
  /* Both sides moved on to new keys: one more exchange still works. */
  assert_int_equal(
      SSL_key_update(sk__tls_stream_ssl(w.srv.s), SSL_KEY_UPDATE_REQUESTED), 1);
  end_write(&w.srv, "z", 1);
  end_write(&w.cli, "z", 1);
  assert_true(run_until(&w, both_opened));
  run_turns(&w, 100);
  assert_int_equal(w.srv.got_len, 300001);
  assert_int_equal(w.cli.got_len, 300001);
  assert_false(w.srv.ended || w.cli.ended);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_alpn(void **state) {
  sk_tls_opts so = {.alpn = "h2,http/1.1"};
  sk_tls_opts co = {.insecure = 1, .alpn = "http/1.1,h2"};
  sk_tls_opts bad = {.insecure = 1, .alpn = "x-\x1b"};
  sk_tls *srv = tls_make(&so, 1), *cli = tls_make(&co, 0), *cli2;
  char info[1024];
  world w;

  (void)state;
  world_open(&w, srv, cli, NULL);
  w.cli.s->ops->describe(w.cli.s, info, sizeof(info));
  assert_contains(info, ", ALPN h2"); /* the server's preference */
  world_end(&w);
  cli2 = tls_make(&bad, 0);
  world_fail(&w, srv, cli2, NULL);
  assert_string_equal(w.srv.error,
                      "no ALPN protocol in common: the client offered "
                      "x-\\x1b; we accept h2, http/1.1 (--alpn)");
  assert_string_equal(w.cli.error, "no ALPN protocol in common: the server "
                                   "accepts none of x-\\x1b (--alpn)");
  world_end(&w);
  co.alpn = "h2,,x";
  assert_string_equal(tls_refusal(&co, 0), "--alpn 'h2,,x': each protocol "
                                           "name takes 1 to 255 bytes");
  sk_tls_unref(srv);
  sk_tls_unref(cli);
  sk_tls_unref(cli2);
}

static void test_protocol_version(void **state) {
  sk_tls_opts co = {.insecure = 1};
  sk_tls *srv = tls_make(NULL, 1), *cli = tls_make(&co, 0);
  world w;

  (void)state;
  /* An old client: TLS 1.1 only (security level 0 allows its SHA-1). */
  SSL_CTX_set_security_level(cli->ctx, 0);
  SSL_CTX_set_min_proto_version(cli->ctx, TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(cli->ctx, TLS1_1_VERSION);
  world_fail(&w, srv, cli, NULL);
  assert_string_equal(w.srv.error, "protocol version: the peer offers "
                                   "neither TLS 1.2 nor TLS 1.3");
  assert_string_equal(w.cli.error, "protocol version: the peer accepts "
                                   "neither TLS 1.2 nor TLS 1.3");
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static void test_context_errors(void **state) {
  sk_tls_opts o = {.cert_file = "/nonexistent.pem", .key_file = pki.key_pem};
  char want[200];

  (void)state;
  assert_string_equal(tls_refusal(&o, 1),
                      "--cert /nonexistent.pem: No such file or directory");
  o.cert_file = pki.key_pem;
  snprintf(want, sizeof(want), "--cert %s: no certificate found", pki.key_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o.cert_file = pki.srv_pem;
  o.key_file = pki.wrong_key_pem;
  snprintf(want, sizeof(want), "--key %s does not match --cert %s",
           pki.wrong_key_pem, pki.srv_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o.key_file = pki.enc_key_pem;
  snprintf(want, sizeof(want),
           "--key %s: the private key is encrypted; give it without a "
           "passphrase",
           pki.enc_key_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o.key_file = pki.ca_pem;
  snprintf(want, sizeof(want), "--key %s: no private key found", pki.ca_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o.key_file = NULL;
  snprintf(want, sizeof(want), "--cert %s: no private key found (give --key)",
           pki.srv_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o = (sk_tls_opts){.client_ca_file = pki.empty_pem};
  snprintf(want, sizeof(want), "--client-ca %s: no certificate found",
           pki.empty_pem);
  assert_string_equal(tls_refusal(&o, 1), want);
  o = (sk_tls_opts){.ca_file = "/nonexistent/ca.pem"};
  assert_string_equal(tls_refusal(&o, 0),
                      "--ca /nonexistent/ca.pem: No such file or directory");
}

static void test_context_roles(void **state) {
  sk_tls_opts o = {.insecure = 1};
  char fp[80];
  sk_tls *t;

  (void)state;
  assert_string_equal(tls_refusal(&o, 1), "--insecure is for clients");
  o = (sk_tls_opts){.ca_file = pki.ca_pem};
  assert_string_equal(tls_refusal(&o, 1),
                      "--ca is for clients (servers use --client-ca)");
  o = (sk_tls_opts){.client_ca_file = pki.ca_pem};
  assert_string_equal(tls_refusal(&o, 0),
                      "--client-ca is for servers (clients use --ca)");
  o = (sk_tls_opts){.key_file = pki.key_pem};
  assert_contains(tls_refusal(&o, 1), " needs --cert");
  o = (sk_tls_opts){.insecure = 1, .pin = "sha256:00"};
  assert_string_equal(tls_refusal(&o, 0),
                      "--pin and --insecure contradict each other");
  /* A client without a certificate has no fingerprint. */
  t = tls_make(NULL, 0);
  assert_int_equal(sk_tls_fingerprint(t, fp, sizeof(fp)), SK_ETLS);
  sk_tls_unref(t);
}

static void test_write_before_open(void **state) {
  sk_tls *srv, *cli;
  sk__write_req req = {0};
  uv_buf_t b = uv_buf_init((char *)"x", 1);
  world w;

  (void)state;
  pinned_pair(&srv, &cli);
  world_start(&w, srv, cli, NULL);
  assert_int_equal(sk__stream_try_write(w.cli.s, &b, 1), UV_ENOTCONN);
  assert_int_equal(sk__stream_write(w.cli.s, &req, &b, 1), UV_ENOTCONN);
  assert_int_equal(sk__stream_shutdown(w.cli.s, end_shutdown_cb), UV_ENOTCONN);
  /* Closed during the handshake: open's callback gets UV_ECANCELED. */
  sk__stream_close(w.cli.s);
  assert_true(run_until(&w, cli_opened));
  assert_int_equal(w.cli.open_status, UV_ECANCELED);
  world_end(&w);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

static bool cli_closed(const world *w) {
  return w->cli.closed;
}

/* A connection closed with writes still in flight: they fail with
 * UV_ECANCELED, on_closed runs, and (world_end) no handle is left. */
static void close_with_writes(sk_tls *srv, sk_tls *cli) {
  world w;

  world_open(&w, srv, cli, NULL);
  end_read_start(&w.cli);
  end_write(&w.srv, "early", 5);
  end_write(&w.cli, pattern_a, 100000);
  end_write(&w.cli, pattern_a, 10);
  sk__stream_close(w.cli.s);
  sk__stream_close(w.cli.s); /* idempotent */
  assert_true(run_until(&w, cli_closed));
  assert_int_equal(w.cli.writes_done, 2);
  assert_int_equal(w.cli.write_status, UV_ECANCELED);
  world_end(&w);
}

static void test_close_frees_everything(void **state) {
  sk_tls *srv, *cli;
  size_t before;

  (void)state;
  pinned_pair(&srv, &cli);
  close_with_writes(srv, cli); /* OpenSSL fills its caches once */
  before = live_bytes;
  close_with_writes(srv, cli);
  close_with_writes(srv, cli);
  assert_int_equal(live_bytes, before);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

#define IDLE_PAIRS 16
#define IDLE_EXCHANGE (64 * 1024)
/* What one side of an idle connection that has exchanged data may keep,
 * everything OpenSSL and the TLS stream hold together.  The goal was
 * 8 KiB, but OpenSSL 3.0's SSL object alone takes 7,624 bytes, its two
 * AES-GCM contexts 1,920 and its session 928; the client also keeps the
 * server's parsed certificate.  Measured on Debian 12 (OpenSSL 3.0):
 * about 14.3 KiB for a server, 17.6 KiB for a client.  These bounds
 * catch a buffer that stops being given back (16 KiB each). */
#define IDLE_MAX_SERVER (15 * 1024)
#define IDLE_MAX_CLIENT (19 * 1024)

static bool exchanged(const world *w) {
  return w->srv.got_len == IDLE_EXCHANGE && w->cli.got_len == IDLE_EXCHANGE &&
         w->srv.writes_done > 0 && w->cli.writes_done > 0;
}

/* A connection that has exchanged data and now waits, reading. */
static void idle_open(world *w, sk_tls *srv, sk_tls *cli) {
  world_open(w, srv, cli, NULL);
  end_read_start(&w->srv);
  end_read_start(&w->cli);
  end_write(&w->cli, pattern_a, IDLE_EXCHANGE);
  end_write(&w->srv, pattern_b, IDLE_EXCHANGE);
  assert_true(run_until(w, exchanged));
  run_turns(w, 20);
}

static void test_idle_memory(void **state) {
  static world w[IDLE_PAIRS];
  size_t base, base_blocks, both, both_blocks, cli_bytes, cli_blocks;
  sk_tls *srv, *cli;

  (void)state;
  pinned_pair(&srv, &cli);
  idle_open(&w[0], srv, cli); /* OpenSSL fills its caches once */
  world_end(&w[0]);
  base = live_bytes;
  base_blocks = live_blocks;
  for (int i = 0; i < IDLE_PAIRS; i++)
    idle_open(&w[i], srv, cli);
  both = (live_bytes - base) / IDLE_PAIRS;
  both_blocks = (live_blocks - base_blocks) / IDLE_PAIRS;
  for (int i = 0; i < IDLE_PAIRS; i++) {
    sk__stream_close(w[i].cli.s);
    assert_true(run_until(&w[i], cli_closed));
  }
  cli_bytes = (base + both * IDLE_PAIRS - live_bytes) / IDLE_PAIRS;
  cli_blocks =
      (base_blocks + both_blocks * IDLE_PAIRS - live_blocks) / IDLE_PAIRS;
  print_message("idle TLS 1.3 connection (after 64 KiB each way), bytes "
                "allocated through OpenSSL: server side %zu in %zu blocks, "
                "client side %zu in %zu blocks\n",
                both - cli_bytes, both_blocks - cli_blocks, cli_bytes,
                cli_blocks);
  for (int i = 0; i < IDLE_PAIRS; i++)
    world_end(&w[i]);
  assert_true(both - cli_bytes <= IDLE_MAX_SERVER);
  assert_true(cli_bytes <= IDLE_MAX_CLIENT);
  sk_tls_unref(srv);
  sk_tls_unref(cli);
}

/* ----------------------------------------------------------------- main */

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_escape_span),
      cmocka_unit_test(test_fingerprint_and_pin_forms),
      cmocka_unit_test(test_pin_malformed),
      cmocka_unit_test(test_pin_handshake_and_data),
      cmocka_unit_test(test_pin_mismatch),
      cmocka_unit_test(test_unknown_ca),
      cmocka_unit_test(test_ca_file_names),
      cmocka_unit_test(test_combined_pem),
      cmocka_unit_test(test_expired),
      cmocka_unit_test(test_not_yet_valid),
      cmocka_unit_test(test_peer_text_escaped),
      cmocka_unit_test(test_client_cert_required),
      cmocka_unit_test(test_client_cert_rejected),
      cmocka_unit_test(test_mutual_tls),
      cmocka_unit_test(test_plaintext_client),
      cmocka_unit_test(test_plaintext_server),
      cmocka_unit_test(test_read_stop_keeps_data),
      cmocka_unit_test(test_shutdown_half_close),
      cmocka_unit_test(test_key_update),
      cmocka_unit_test(test_alpn),
      cmocka_unit_test(test_protocol_version),
      cmocka_unit_test(test_context_errors),
      cmocka_unit_test(test_context_roles),
      cmocka_unit_test(test_close_frees_everything),
      cmocka_unit_test(test_idle_memory),
      cmocka_unit_test(test_write_before_open),
  };

  /* Before OpenSSL allocates anything. */
  if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
    fprintf(stderr, "CRYPTO_set_mem_functions: too late\n");
    return 1;
  }
  fill_pattern(pattern_a, 1);
  fill_pattern(pattern_b, 2);
  return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
