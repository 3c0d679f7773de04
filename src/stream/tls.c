/* tls.c -- TLS over any sk__stream, on the loop, with OpenSSL.
 *
 * OpenSSL never touches a socket here.  Its BIO is a pair of in-memory
 * buffers owned by the stream: ciphertext the lower stream delivered waits
 * in `in` until SSL reads it, and ciphertext SSL makes collects in `out`
 * until flush_out() hands it down (lower try_write, then one lower write
 * that takes the rest over).  So no call blocks and no thread is needed.
 * OpenSSL's own memory BIOs would do the same job but keep their largest
 * size for good -- tens of KiB per connection after one burst -- while
 * `in` and `out` are freed as soon as they are empty; with
 * SSL_MODE_RELEASE_BUFFERS an idle connection holds no buffer at all.
 *
 * Writes are encrypted at once, in the order they come, so the ciphertext
 * is one ordered byte stream.  ct_made counts the bytes SSL has made and
 * ct_done those the lower stream has finished with; a write request
 * records the count that completes it (req->end) and completes, in order,
 * once ct_done reaches it.
 *
 * Reads follow the owner: the lower stream reads while the owner does (and
 * during the handshake).  What was received but not delivered when the
 * owner stopped stays in `in` or inside SSL, and a deferral -- an idle
 * handle, started only while needed -- delivers it after read_start,
 * never from inside it.
 *
 * TLS 1.3's post-handshake messages (session tickets, key updates) are
 * read by SSL_read like data, whether or not we are writing, and any
 * answer they need joins `out` in order.  Renegotiation is refused (see
 * tls_ctx.c), so SSL_write never waits for a read.
 */
#include "core/escape.h"
#include "internal.h"
#include "stream/stream.h"
#include "stream/tls_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

/* try_write encrypts at most this much per call: what it takes beyond
 * what the lower stream accepts at once is ours to finish writing, and
 * this bounds it. */
#define TRY_WRITE_MAX (64 * 1024)

/* The first bytes of a peer's first record: type, version, length, and
 * the handshake message type. */
#define SNIFF_LEN 6

/* Decrypted bytes on their way to on_read: one record at most, consumed
 * before on_read returns, so one buffer per thread serves every stream
 * and an idle connection holds none. */
static _Thread_local char plain[SSL3_RT_MAX_PLAIN_LENGTH];

typedef struct tls_stream {
  sk__stream base;
  sk__stream *lower;
  sk_tls *tls;
  SSL *ssl;
  char *reason; /* why it failed, for error(); NULL until then */
  sk__open_cb open_cb;
  sk__shutdown_cb shutdown_cb;
  /* Ciphertext received and not yet read by SSL: in[0..in_len).  During a
   * lower read callback it may point into the lower stream's buffer;
   * in_keep() copies what is left into in_base before the callback
   * returns. */
  const char *in;
  char *in_base;
  size_t in_len;
  /* Ciphertext SSL made that is not yet handed down. */
  char *out;
  size_t out_len, out_cap;
  /* Write requests, oldest first, waiting for ct_done to reach them. */
  sk__write_req *wq_head, *wq_tail;
  uint64_t ct_made, ct_done;
  unsigned lower_writes; /* lower writes in flight */
  int write_err;         /* a lower write failed: every later write fails */
  int lower_end;         /* the lower stream's UV_EOF or error; 0 before */
  unsigned pending_closes;
  sk__defer defer; /* runs deferred completions and reads */
  unsigned char sniff[SNIFF_LEN];
  unsigned sniffed;
  bool handshake_done;
  bool failed; /* the handshake or the session failed: reason says why */
  bool reading, lower_reading;
  bool end_delivered; /* on_read had its UV_EOF or error */
  bool shut, closing;
  bool defer_open;     /* the handshake finished inside open */
  bool cert_requested; /* client: the server asked for our certificate */
} tls_stream;

/* A lower write of ciphertext; it owns the buffer it writes. */
typedef struct ct_write {
  sk__write_req req;
  tls_stream *st;
  char *base;
  size_t len;
} ct_write;

static void read_pump(tls_stream *st);
static void release_buffers(tls_stream *st);
static void defer_start(tls_stream *st);

/* --------------------------------------------------------------- reasons */

static void set_reason_v(tls_stream *st, const char *fmt, va_list ap) {
  char text[768];

  if (st->reason != NULL)
    return;
  vsnprintf(text, sizeof(text), fmt, ap);
  st->reason = OPENSSL_strdup(text);
}

static void set_reason(tls_stream *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(tls_stream *st, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  set_reason_v(st, fmt, ap);
  va_end(ap);
}

void sk__tls_set_reason(SSL *ssl, const char *fmt, ...) {
  tls_stream *st = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
  va_list ap;

  if (st == NULL)
    return;
  va_start(ap, fmt);
  set_reason_v(st, fmt, ap);
  va_end(ap);
}

static bool is_cert_alert(int alert) {
  switch (alert) {
  case SSL_AD_BAD_CERTIFICATE:
  case SSL_AD_UNSUPPORTED_CERTIFICATE:
  case SSL_AD_CERTIFICATE_REVOKED:
  case SSL_AD_CERTIFICATE_EXPIRED:
  case SSL_AD_CERTIFICATE_UNKNOWN:
  case SSL_AD_UNKNOWN_CA:
    return true;
  default:
    return false;
  }
}

/* A fatal alert from the peer, in the words of what it most likely means
 * for this side. */
static void explain_alert(tls_stream *st, int alert) {
  const char *desc = SSL_alert_desc_string_long(alert);
  bool server = SSL_is_server(st->ssl);
  bool have_cert = SSL_get_certificate(st->ssl) != NULL;
  char ours[256];

  if (!server && st->cert_requested && !have_cert &&
      (alert == SSL_AD_CERTIFICATE_REQUIRED ||
       alert == SSL_AD_HANDSHAKE_FAILURE || is_cert_alert(alert)))
    set_reason(st, "the server requires a client certificate (--cert/--key)");
  else if (!server && st->cert_requested && is_cert_alert(alert))
    set_reason(st, "the server rejected our client certificate (%s)", desc);
  else if (server && is_cert_alert(alert))
    set_reason(st, "the client rejected our certificate (%s)", desc);
  else if (alert == SSL_AD_PROTOCOL_VERSION)
    set_reason(st, "protocol version: the peer accepts neither TLS 1.2 nor "
                   "TLS 1.3");
  else if (alert == SSL_AD_NO_APPLICATION_PROTOCOL && !server) {
    sk__tls_alpn_format(st->tls->alpn, st->tls->alpn_len, ours, sizeof(ours));
    set_reason(st,
               "no ALPN protocol in common: the server accepts none of %s "
               "(--alpn)",
               ours);
  } else
    set_reason(st, "the peer sent a fatal alert: %s", desc);
}

/* Why SSL failed, from OpenSSL's error queue, unless a callback already
 * said it better.  The raw error goes to the debug log. */
static void explain_ssl_error(tls_stream *st) {
  unsigned long e = ERR_peek_error();
  int reason = ERR_GET_REASON(e);
  char raw[256];

  if (e != 0 && sk__log_enabled(SK_LOG_DEBUG)) {
    ERR_error_string_n(e, raw, sizeof(raw));
    sk__log(SK_LOG_DEBUG, "tls: %s", raw);
  }
  if (st->reason != NULL)
    return;
  if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL) {
    set_reason(st, "TLS error: %s",
               e != 0 ? ERR_reason_error_string(e) : "no reason given");
    return;
  }
  if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
    explain_alert(st, reason - SSL_AD_REASON_OFFSET);
    return;
  }
  switch (reason) {
  case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    set_reason(st, "no client certificate (--client-ca requires one)");
    break;
  case SSL_R_UNSUPPORTED_PROTOCOL:
  case SSL_R_NO_PROTOCOLS_AVAILABLE:
  case SSL_R_VERSION_TOO_LOW:
    set_reason(st, "protocol version: the peer offers neither TLS 1.2 nor "
                   "TLS 1.3");
    break;
  case SSL_R_NO_SHARED_CIPHER:
    set_reason(st, "no cipher suite in common with the peer");
    break;
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_HTTP_REQUEST:
  case SSL_R_PACKET_LENGTH_TOO_LONG:
    set_reason(st, "the peer is not speaking TLS");
    break;
  default:
    set_reason(st, "TLS error: %s", ERR_reason_error_string(e));
  }
}

/* The lower stream ended before the handshake did. */
static void explain_early_end(tls_stream *st, int err) {
  bool server = SSL_is_server(st->ssl);

  if (err == UV_EOF && st->sniffed == 0 && server)
    set_reason(st, "the peer closed the connection before the TLS handshake");
  else if (err == UV_EOF && st->sniffed == 0)
    set_reason(st, "the peer closed the connection without answering the "
                   "TLS handshake (not speaking TLS?)");
  else if (err == UV_EOF)
    set_reason(st, "the peer closed the connection during the TLS handshake");
  else if (err == UV_ECONNRESET)
    set_reason(st, "the peer reset the connection during the TLS handshake");
  else
    set_reason(st, "read during the TLS handshake: %s", uv_strerror(err));
}

/* ---------------------------------------------------------- the buffers */

static void in_consume(tls_stream *st, size_t n) {
  st->in += n;
  st->in_len -= n;
  if (st->in_len > 0)
    return;
  OPENSSL_free(st->in_base);
  st->in_base = NULL;
  st->in = NULL;
}

static void in_drop(tls_stream *st) {
  in_consume(st, st->in_len);
}

/* Adds data to what waits for SSL: borrowed when nothing waits (the
 * common case: SSL reads it all before the callback returns), else
 * appended to a copy. */
static int in_add(tls_stream *st, const char *data, size_t n) {
  char *p;

  if (st->in_len == 0) {
    st->in = data;
    st->in_len = n;
    return 0;
  }
  if ((p = OPENSSL_malloc(st->in_len + n)) == NULL)
    return UV_ENOMEM;
  memcpy(p, st->in, st->in_len);
  memcpy(p + st->in_len, data, n);
  OPENSSL_free(st->in_base);
  st->in_base = p;
  st->in = p;
  st->in_len += n;
  return 0;
}

/* Copies what SSL left unread out of the lower stream's buffer, which is
 * valid only during its callback.  Bounded by one lower read. */
static int in_keep(tls_stream *st) {
  char *p;

  if (st->in_len == 0 || st->in_base != NULL)
    return 0;
  if ((p = OPENSSL_malloc(st->in_len)) == NULL) {
    st->in = NULL;
    st->in_len = 0;
    return UV_ENOMEM;
  }
  memcpy(p, st->in, st->in_len);
  st->in_base = p;
  st->in = p;
  return 0;
}

static void out_drop(tls_stream *st) {
  OPENSSL_free(st->out);
  st->out = NULL;
  st->out_len = st->out_cap = 0;
}

static int out_add(tls_stream *st, const char *data, size_t n) {
  if (st->out_cap - st->out_len < n) {
    size_t cap = st->out_len + n;
    char *p;
    if (cap < st->out_len)
      return -1;
    if (cap < 2 * st->out_cap)
      cap = 2 * st->out_cap;
    if ((p = OPENSSL_realloc(st->out, cap)) == NULL)
      return -1;
    st->out = p;
    st->out_cap = cap;
  }
  memcpy(st->out + st->out_len, data, n);
  st->out_len += n;
  st->ct_made += n;
  return 0;
}

/* ------------------------------------------------------------- the BIO */

static int bio_write(BIO *b, const char *data, int len) {
  tls_stream *st = BIO_get_data(b);

  BIO_clear_retry_flags(b);
  if (len <= 0)
    return 0;
  return out_add(st, data, (size_t)len) == 0 ? len : -1;
}

static int bio_read(BIO *b, char *buf, int len) {
  tls_stream *st = BIO_get_data(b);
  size_t n = st->in_len;

  BIO_clear_retry_flags(b);
  if (n == 0) {
    BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ */
    return -1;
  }
  if (len <= 0)
    return 0;
  if (n > (size_t)len)
    n = (size_t)len;
  memcpy(buf, st->in, n);
  in_consume(st, n);
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  tls_stream *st = BIO_get_data(b);

  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH: /* the stream flushes `out` itself */
    return 1;
  case BIO_CTRL_PENDING:
    return (long)st->in_len;
  case BIO_CTRL_WPENDING:
    return (long)st->out_len;
  default:
    return 0;
  }
}

int sk__tls_bio_method_init(sk_tls *t) {
  int type = BIO_get_new_index();
  BIO_METHOD *m;

  if (type == -1)
    return SK_ETLS;
  m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "sockit stream");
  if (m == NULL || !BIO_meth_set_write(m, bio_write) ||
      !BIO_meth_set_read(m, bio_read) || !BIO_meth_set_ctrl(m, bio_ctrl)) {
    BIO_meth_free(m);
    return SK_ETLS;
  }
  t->bio_method = m;
  return 0;
}

/* ------------------------------------------------------------- writing */

static int write_failed(tls_stream *st, int err) {
  if (st->write_err == 0)
    st->write_err = err;
  out_drop(st);
  defer_start(st); /* fails the queued requests, from the loop */
  return err;
}

/* Completes, in order, the write requests whose ciphertext is all
 * written below, or fails them all once a lower write failed. */
static void complete_writes(tls_stream *st) {
  while (st->wq_head != NULL && !st->closing) {
    sk__write_req *req = st->wq_head;
    int status = 0;
    if (req->end > st->ct_done) {
      if (st->write_err == 0)
        break;
      status = st->write_err;
    }
    st->wq_head = req->next;
    if (st->wq_head == NULL)
      st->wq_tail = NULL;
    req->cb(req, status);
  }
}

static void lower_write_cb(sk__write_req *req, int status) {
  ct_write *w = req->data;
  tls_stream *st = w->st;

  st->lower_writes--;
  if (status == 0)
    st->ct_done += w->len;
  else if (st->write_err == 0)
    st->write_err = status;
  OPENSSL_free(w->base);
  OPENSSL_free(w);
  complete_writes(st);
}

/* Hands out[off..) to one lower write, which takes the buffer over. */
static int write_rest(tls_stream *st, size_t off) {
  ct_write *w = OPENSSL_malloc(sizeof(*w));
  uv_buf_t b;
  int r;

  if (w == NULL)
    return write_failed(st, UV_ENOMEM);
  w->req.cb = lower_write_cb;
  w->req.data = w;
  w->st = st;
  w->base = st->out;
  w->len = st->out_len - off;
  b.base = st->out + off;
  b.len = w->len;
  st->out = NULL;
  st->out_len = st->out_cap = 0;
  r = sk__stream_write(st->lower, &w->req, &b, 1);
  if (r < 0) {
    OPENSSL_free(w->base);
    OPENSSL_free(w);
    return write_failed(st, r);
  }
  st->lower_writes++;
  return 0;
}

/* Hands the ciphertext in `out` down: what the lower stream takes at once
 * when nothing of ours is still in flight below (so the order holds), the
 * rest in one lower write.  Returns 0 or the lower stream's error. */
static int flush_out(tls_stream *st) {
  size_t off = 0;
  uv_buf_t b;
  int r;

  if (st->out_len == 0)
    return 0;
  if (st->write_err != 0)
    return write_failed(st, st->write_err);
  if (st->lower_writes == 0 && st->out_len <= INT_MAX) {
    b.base = st->out;
    b.len = st->out_len;
    r = sk__stream_try_write(st->lower, &b, 1);
    if (r < 0 && r != UV_EAGAIN)
      return write_failed(st, r);
    if (r > 0) {
      off = (size_t)r;
      st->ct_done += off;
    }
  }
  if (off == st->out_len) {
    out_drop(st);
    return 0;
  }
  return write_rest(st, off);
}

/* Encrypts up to max bytes of bufs into `out`; *taken gets the count. */
static int encrypt(tls_stream *st, const uv_buf_t *bufs, unsigned n, size_t max,
                   size_t *taken) {
  *taken = 0;
  for (unsigned i = 0; i < n && *taken < max; i++) {
    size_t len = bufs[i].len, done = 0;
    if (len > max - *taken)
      len = max - *taken;
    if (len == 0)
      continue;
    ERR_clear_error();
    if (SSL_write_ex(st->ssl, bufs[i].base, len, &done) != 1) {
      explain_ssl_error(st);
      st->failed = true;
      return SK_ETLS;
    }
    *taken += done;
  }
  return 0;
}

/* Why a write cannot be taken now, or 0. */
static int write_refused(const tls_stream *st) {
  if (st->closing || st->shut)
    return UV_EPIPE;
  if (st->failed)
    return SK_ETLS;
  if (!st->handshake_done)
    return UV_ENOTCONN;
  return st->write_err;
}

static int tls_try_write(sk__stream *s, const uv_buf_t *bufs, unsigned n) {
  tls_stream *st = (tls_stream *)s;
  size_t taken;
  int r;

  if ((r = write_refused(st)) != 0)
    return r;
  if (st->lower_writes > 0) /* our own ciphertext still waits below */
    return 0;
  if ((r = encrypt(st, bufs, n, TRY_WRITE_MAX, &taken)) != 0)
    return r;
  if ((r = flush_out(st)) != 0)
    return r;
  return (int)taken;
}

static int tls_write(sk__stream *s, sk__write_req *req, const uv_buf_t *bufs,
                     unsigned n) {
  tls_stream *st = (tls_stream *)s;
  size_t taken;
  int r;

  if ((r = write_refused(st)) != 0)
    return r;
  if ((r = encrypt(st, bufs, n, SIZE_MAX, &taken)) != 0)
    return r;
  if ((r = flush_out(st)) != 0)
    return r;
  req->end = st->ct_made;
  req->next = NULL;
  if (st->wq_tail != NULL)
    st->wq_tail->next = req;
  else
    st->wq_head = req;
  st->wq_tail = req;
  if (st->ct_done >= req->end) /* all taken at once: complete later */
    defer_start(st);
  return 0;
}

/* ----------------------------------------------------------- handshake */

/* Runs the handshake as far as the bytes received allow.  Returns 1 when
 * it is done, 0 while it waits for the peer, SK_ETLS when it failed. */
static int handshake_step(tls_stream *st) {
  int r, e;

  ERR_clear_error();
  r = SSL_do_handshake(st->ssl);
  e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(st->ssl, r);
  if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
    explain_ssl_error(st);
    flush_out(st); /* the alert that tells the peer why */
    st->failed = true;
    return SK_ETLS;
  }
  if (flush_out(st) != 0) {
    set_reason(st, "write during the TLS handshake: %s",
               uv_strerror(st->write_err));
    st->failed = true;
    return SK_ETLS;
  }
  if (e == SSL_ERROR_WANT_READ)
    return 0;
  st->handshake_done = true;
  return 1;
}

static void lower_read_stop(tls_stream *st) {
  if (st->lower_reading) {
    sk__stream_read_stop(st->lower);
    st->lower_reading = false;
  }
}

static int lower_read_start(tls_stream *st) {
  int r;

  if (st->lower_reading || st->lower_end != 0)
    return 0;
  if ((r = sk__stream_read_start(st->lower)) == 0)
    st->lower_reading = true;
  return r;
}

/* Tells the owner the handshake's outcome, then goes on reading if the
 * owner reads, or stops the lower stream until it does. */
static void open_done(tls_stream *st, int status) {
  sk__open_cb cb = st->open_cb;

  st->open_cb = NULL;
  if (status != 0)
    st->failed = true;
  if (cb != NULL)
    cb(&st->base, status);
  if (status != 0 || st->closing)
    return;
  if (st->reading) {
    read_pump(st);
  } else {
    lower_read_stop(st);
    release_buffers(st);
  }
}

static int tls_open(sk__stream *s, sk__open_cb cb) {
  tls_stream *st = (tls_stream *)s;
  int r;

  if (st->closing)
    return UV_EINVAL;
  if (st->open_cb != NULL || st->handshake_done || st->failed)
    return UV_EALREADY;
  if ((r = lower_read_start(st)) != 0)
    return r;
  st->open_cb = cb;
  r = handshake_step(st);
  if (r < 0) {
    st->open_cb = NULL;
    return r;
  }
  if (r > 0) { /* cannot happen before the peer answers, but be safe */
    st->defer_open = true;
    defer_start(st);
  }
  return 0;
}

/* Checks that the first bytes from the peer look like a TLS record (a
 * content type from 20 to 24, then version 3.x), so that a plain-text
 * peer is named at once rather than by OpenSSL's "wrong version number"
 * or not at all.  A client also refuses its own ClientHello sent back by
 * an echo service.  Returns false when the handshake failed. */
static bool sniff(tls_stream *st, const char *buf, size_t n) {
  const unsigned char *h = st->sniff;
  unsigned k;
  char text[200];

  for (size_t i = 0; i < n && st->sniffed < SNIFF_LEN; i++)
    st->sniff[st->sniffed++] = (unsigned char)buf[i];
  k = st->sniffed;
  if ((k > 0 && (h[0] < 20 || h[0] > 24)) || (k > 1 && h[1] != 3) ||
      (k > 2 && h[2] > 4)) {
    sk_escape(buf, n < 40 ? n : 40, text, sizeof(text));
    set_reason(st, "the peer is not speaking TLS (it sent \"%s\"%s)", text,
               n > 40 ? "..." : "");
    return false;
  }
  if (!SSL_is_server(st->ssl) && k == SNIFF_LEN && h[0] == 22 && h[5] == 1) {
    set_reason(st, "the peer is not speaking TLS: it sent our ClientHello "
                   "back (an echo service?)");
    return false;
  }
  return true;
}

/* --------------------------------------------------------------- reading */

/* Delivers the end of the stream: close_notify, the lower stream's end
 * (UV_EOF or its error), or a TLS error. */
static void deliver_end(tls_stream *st, int ssl_error) {
  int status = st->lower_end;

  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    status = UV_EOF;
  } else if (ssl_error != SSL_ERROR_WANT_READ) {
    explain_ssl_error(st);
    st->failed = true;
    status = SK_ETLS;
  }
  st->end_delivered = true;
  st->base.ev->on_read(&st->base, status, NULL);
}

/* Gives OpenSSL's record buffers back once SSL holds no partial record.
 * SSL_MODE_RELEASE_BUFFERS does it after application data, but not after
 * the handshake or a post-handshake message (a session ticket), which
 * would leave 16 KiB with every idle client.  SSL_free_buffers refuses
 * while a buffer is in use. */
static void release_buffers(tls_stream *st) {
  if (st->in_len == 0)
    SSL_free_buffers(st->ssl);
}

/* Delivers what SSL can decrypt from the bytes received, then the end of
 * the stream once everything before it is delivered, as long as the
 * owner reads. */
static void read_pump(tls_stream *st) {
  while (st->reading && !st->closing && !st->end_delivered) {
    size_t n = 0;
    int e;
    ERR_clear_error();
    if (SSL_read_ex(st->ssl, plain, sizeof(plain), &n) == 1) {
      st->base.ev->on_read(&st->base, (ssize_t)n, plain);
      continue;
    }
    e = SSL_get_error(st->ssl, 0);
    if (e == SSL_ERROR_WANT_READ && st->lower_end == 0)
      break;
    deliver_end(st, e);
  }
  if (st->closing)
    return;
  flush_out(st); /* answers to post-handshake messages (key updates) */
  release_buffers(st);
}

/* The lower stream's end: the handshake fails, or the owner gets it
 * after the data before it. */
static void lower_ended(tls_stream *st, int err) {
  st->lower_end = err;
  if (!st->handshake_done) {
    explain_early_end(st, err);
    open_done(st, SK_ETLS);
  } else if (st->reading) {
    read_pump(st);
  }
}

static void lower_read_cb(sk__stream *lower, ssize_t nread, const char *buf) {
  tls_stream *st = lower->owner;
  int r;

  if (st->closing || st->failed || nread == 0)
    return;
  if (nread < 0) {
    lower_ended(st, (int)nread);
    return;
  }
  if (!st->handshake_done && !sniff(st, buf, (size_t)nread)) {
    open_done(st, SK_ETLS);
    return;
  }
  if (in_add(st, buf, (size_t)nread) != 0) {
    lower_ended(st, UV_ENOMEM);
    return;
  }
  if (st->handshake_done) {
    if (st->reading)
      read_pump(st);
  } else if ((r = handshake_step(st)) != 0) {
    open_done(st, r < 0 ? SK_ETLS : 0);
  }
  if (st->closing || st->failed)
    in_drop(st);
  else if (in_keep(st) != 0)
    lower_ended(st, UV_ENOMEM);
}

static bool has_buffered(const tls_stream *st) {
  return st->in_len > 0 || SSL_has_pending(st->ssl) ||
         (st->lower_end != 0 && !st->end_delivered);
}

static int tls_read_start(sk__stream *s) {
  tls_stream *st = (tls_stream *)s;
  int r;

  if (st->closing)
    return UV_EINVAL;
  st->reading = true;
  if (!st->handshake_done || st->failed)
    return 0; /* the handshake reads anyway; open_done goes on */
  if ((r = lower_read_start(st)) != 0) {
    st->reading = false;
    return r;
  }
  if (has_buffered(st))
    defer_start(st);
  return 0;
}

static int tls_read_stop(sk__stream *s) {
  tls_stream *st = (tls_stream *)s;

  st->reading = false;
  if (st->handshake_done)
    lower_read_stop(st);
  return 0;
}

/* ---------------------------------------------------- deferral, closing */

static void defer_cb(sk__defer *d) {
  tls_stream *st = d->idle.data;

  if (st->defer_open) {
    st->defer_open = false;
    open_done(st, 0);
  }
  complete_writes(st);
  if (!st->closing && st->reading && st->handshake_done && !st->failed)
    read_pump(st);
}

static void defer_start(tls_stream *st) {
  if (!st->closing)
    sk__defer_arm(&st->defer);
}

static void lower_shutdown_cb(sk__stream *lower, int status) {
  tls_stream *st = lower->owner;
  sk__shutdown_cb cb = st->shutdown_cb;

  st->shutdown_cb = NULL;
  if (cb != NULL)
    cb(&st->base, status);
}

/* Sends close_notify after everything written before, then shuts the
 * lower stream down, which waits for those bytes too. */
static int tls_shutdown(sk__stream *s, sk__shutdown_cb cb) {
  tls_stream *st = (tls_stream *)s;
  int r;

  if (st->closing || st->shut)
    return UV_EPIPE;
  if (!st->handshake_done)
    return UV_ENOTCONN;
  st->shut = true;
  if (!st->failed) {
    ERR_clear_error();
    SSL_shutdown(st->ssl); /* 0: sent; we do not wait for the peer's */
    ERR_clear_error();
  }
  if ((r = flush_out(st)) != 0)
    return r;
  st->shutdown_cb = cb;
  if ((r = sk__stream_shutdown(st->lower, lower_shutdown_cb)) != 0)
    st->shutdown_cb = NULL;
  return r;
}

static void stream_free(tls_stream *st) {
  SSL_free(st->ssl); /* and the BIO */
  OPENSSL_free(st->in_base);
  OPENSSL_free(st->out);
  OPENSSL_free(st->reason);
  sk_tls_unref(st->tls);
  OPENSSL_free(st);
}

/* Once the lower stream and the idle handle are both closed: requests
 * still pending fail with UV_ECANCELED (those fully written complete),
 * then on_closed, then the memory goes. */
static void close_one(tls_stream *st) {
  sk__open_cb open_cb = st->open_cb;
  sk__shutdown_cb shutdown_cb = st->shutdown_cb;

  if (--st->pending_closes > 0)
    return;
  while (st->wq_head != NULL) {
    sk__write_req *req = st->wq_head;
    st->wq_head = req->next;
    st->wq_tail = st->wq_head != NULL ? st->wq_tail : NULL;
    req->cb(req, req->end <= st->ct_done ? 0 : UV_ECANCELED);
  }
  st->open_cb = NULL;
  st->shutdown_cb = NULL;
  if (open_cb != NULL)
    open_cb(&st->base, UV_ECANCELED);
  if (shutdown_cb != NULL)
    shutdown_cb(&st->base, UV_ECANCELED);
  if (st->base.ev != NULL && st->base.ev->on_closed != NULL)
    st->base.ev->on_closed(&st->base);
  stream_free(st);
}

static void defer_closed(uv_handle_t *h) {
  close_one(h->data);
}

static void lower_closed_cb(sk__stream *lower) {
  close_one(lower->owner);
}

static void tls_close(sk__stream *s) {
  tls_stream *st = (tls_stream *)s;

  if (st->closing)
    return;
  st->closing = true;
  st->pending_closes = 2;
  sk__defer_close(&st->defer, defer_closed);
  sk__stream_close(st->lower);
}

/* ----------------------------------------------------------- describing */

static int tls_fileno(const sk__stream *s) {
  (void)s;
  return -1; /* the bytes must pass through SSL */
}

static int tls_peername(const sk__stream *s, struct sockaddr_storage *ss) {
  const tls_stream *st = (const tls_stream *)s;

  return st->lower->ops->peername(st->lower, ss);
}

static size_t appendf(char *buf, size_t size, size_t o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t appendf(char *buf, size_t size, size_t o, const char *fmt, ...) {
  va_list ap;
  int n;

  if (o + 1 >= size)
    return o;
  va_start(ap, fmt);
  n = vsnprintf(buf + o, size - o, fmt, ap);
  va_end(ap);
  if (n < 0)
    return o;
  return (size_t)n < size - o ? o + (size_t)n : size - 1;
}

static size_t describe_cert(const X509 *cert, char *buf, size_t size,
                            size_t o) {
  char subject[256], issuer[256], from[40], to[40], fp[80];

  sk__tls_name_format(X509_get_subject_name(cert), subject, sizeof(subject));
  sk__tls_name_format(X509_get_issuer_name(cert), issuer, sizeof(issuer));
  sk__tls_time_format(X509_get0_notBefore(cert), from, sizeof(from));
  sk__tls_time_format(X509_get0_notAfter(cert), to, sizeof(to));
  sk__tls_fingerprint_of(cert, fp, sizeof(fp));
  return appendf(buf, size, o,
                 ", peer certificate subject %s, issuer %s, valid %s to %s, %s",
                 subject, issuer, from, to, fp);
}

static int tls_describe(const sk__stream *s, char *buf, size_t size) {
  const tls_stream *st = (const tls_stream *)s;
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  const X509 *peer;
  char name[300];
  size_t o;

  if (size == 0)
    return 0;
  buf[0] = '\0';
  if (!st->handshake_done)
    return 0;
  o = appendf(buf, size, 0, "%s %s", SSL_get_version(st->ssl),
              SSL_CIPHER_get_name(SSL_get_current_cipher(st->ssl)));
  if ((peer = SSL_get0_peer_certificate(st->ssl)) != NULL)
    o = describe_cert(peer, buf, size, o);
  else
    o = appendf(buf, size, o, ", no peer certificate");
  SSL_get0_alpn_selected(st->ssl, &alpn, &alpn_len);
  if (alpn_len > 0) {
    sk_escape((const char *)alpn, alpn_len, name, sizeof(name));
    o = appendf(buf, size, o, ", ALPN %s", name);
  }
  return (int)o;
}

static const char *tls_error(const sk__stream *s) {
  return ((const tls_stream *)s)->reason;
}

/* ------------------------------------------------------------- creating */

static const sk__stream_ops tls_ops = {
    .name = "tls",
    .open = tls_open,
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .try_write = tls_try_write,
    .write = tls_write,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .fileno = tls_fileno,
    .peername = tls_peername,
    .describe = tls_describe,
    .error = tls_error,
};

static const sk__stream_events lower_events = {
    .on_read = lower_read_cb,
    .on_closed = lower_closed_cb,
};

static int note_cert_request(SSL *ssl, void *arg) {
  (void)ssl;
  ((tls_stream *)arg)->cert_requested = true;
  return 1;
}

static bool is_ip_literal(const char *name) {
  unsigned char addr[16];

  return inet_pton(AF_INET, name, addr) == 1 ||
         inet_pton(AF_INET6, name, addr) == 1;
}

/* The client's SNI and the name its certificate must carry.  Pinned and
 * insecure contexts check no name. */
static bool client_setup(tls_stream *st, const char *servername) {
  SSL *ssl = st->ssl;
  bool ip;

  SSL_set_connect_state(ssl);
  SSL_set_cert_cb(ssl, note_cert_request, st);
  if (servername == NULL || servername[0] == '\0')
    return true;
  ip = is_ip_literal(servername);
  /* RFC 6066 forbids IP literals in SNI.  A name OpenSSL refuses as SNI
   * (too long) is still checked against the certificate below. */
  if (!ip && SSL_set_tlsext_host_name(ssl, servername) != 1)
    ERR_clear_error();
  if (st->tls->pinned || st->tls->insecure)
    return true;
  if (ip)
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), servername) == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, servername) == 1;
}

sk__stream *sk__stream_tls_new(sk__stream *lower, sk_tls *tls,
                               const char *servername) {
  tls_stream *st = OPENSSL_zalloc(sizeof(*st));
  BIO *bio;

  if (st == NULL)
    return NULL;
  st->tls = tls;
  if ((st->ssl = SSL_new(tls->ctx)) == NULL ||
      (bio = BIO_new(tls->bio_method)) == NULL)
    goto free_st;
  BIO_set_data(bio, st);
  BIO_set_init(bio, 1);
  SSL_set_bio(st->ssl, bio, bio);
  SSL_set_app_data(st->ssl, st);
  if (tls->server)
    SSL_set_accept_state(st->ssl);
  else if (!client_setup(st, servername))
    goto free_st;
  /* Nothing can fail past this point: the idle handle, once initialised,
   * must be closed before the memory goes. */
  sk__defer_init(lower->loop, &st->defer, defer_cb);
  st->defer.idle.data = st;
  st->base.ops = &tls_ops;
  st->base.loop = lower->loop;
  st->lower = lower;
  sk__tls_ref(tls);
  lower->ev = &lower_events;
  lower->owner = st;
  return &st->base;

free_st:
  SSL_free(st->ssl);
  OPENSSL_free(st);
  ERR_clear_error();
  return NULL;
}

SSL *sk__tls_stream_ssl(sk__stream *s) {
  return s->ops == &tls_ops ? ((tls_stream *)s)->ssl : NULL;
}
