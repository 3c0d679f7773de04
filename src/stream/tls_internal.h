/* tls_internal.h -- what the TLS context (tls_ctx.c) and the TLS stream
 * (tls.c) share: the context's fields, certificate helpers for messages,
 * and the one way a callback inside OpenSSL tells the stream why it
 * failed.  The unit test uses the certificate makers too. */
#ifndef SOCKIT_TLS_INTERNAL_H
#define SOCKIT_TLS_INTERNAL_H

#include "sockit.h"
#include "stream/stream.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>

#define SK__TLS_PIN_LEN 32 /* a SHA-256 digest */

struct sk_tls {
  SSL_CTX *ctx;
  /* The BIO type of the streams (tls.c), made once per context so that
   * nothing global is left behind when the last context goes. */
  BIO_METHOD *bio_method;
  unsigned refs; /* servers, clients and streams: one loop's thread */
  bool server;
  bool insecure;
  bool pinned;
  unsigned char pin[SK__TLS_PIN_LEN];
  /* ALPN protocols in wire format (length-prefixed), NULL for none. */
  unsigned char *alpn;
  unsigned alpn_len;
};

/* Takes one more reference to t and returns it (also declared in
 * internal.h, for the peers). */
sk_tls *sk__tls_ref(sk_tls *t);

/* Makes the BIO method of the streams into t->bio_method (tls.c).
 * Returns 0 or SK_ETLS. */
int sk__tls_bio_method_init(sk_tls *t);

/* Records why the handshake or session of the stream that owns ssl
 * failed, in words for the user (printf-like).  The first reason wins:
 * the callback that saw the cause speaks before the generic error code.
 * Called from OpenSSL's callbacks (tls_ctx.c); defined in tls.c. */
void sk__tls_set_reason(SSL *ssl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The SSL of a TLS stream, NULL for another kind: for tests that drive
 * OpenSSL directly (a key update). */
SSL *sk__tls_stream_ssl(sk__stream *s);

/* The text helpers below write into buf[0..size) (size > 0), always
 * NUL-terminated, cut to fit, and return the length written.  Text that
 * comes from a certificate or a peer is escaped (core/escape.h). */

/* "sha256:" and the lower-case hex of cert's SHA-256 digest ("?" when the
 * digest fails). */
size_t sk__tls_fingerprint_of(const X509 *cert, char *buf, size_t size);

/* "2024-01-01 00:00:00 UTC" ("?" when t is unreadable). */
size_t sk__tls_time_format(const ASN1_TIME *t, char *buf, size_t size);

/* A distinguished name as "CN=x,O=y". */
size_t sk__tls_name_format(const X509_NAME *name, char *buf, size_t size);

/* The DNS and IP subjectAltNames of cert as "localhost, 127.0.0.1, ::1",
 * or its subject when it has none. */
size_t sk__tls_cert_names(const X509 *cert, char *buf, size_t size);

/* A wire-format ALPN list as "h2, http/1.1". */
size_t sk__tls_alpn_format(const unsigned char *wire, size_t len, char *buf,
                           size_t size);

/* ------------------------------------------------ certificate making */

/* A fresh ECDSA P-256 key, or NULL. */
EVP_PKEY *sk__tls_key_make(void);

/* What a certificate made here says. */
typedef struct sk__tls_cert_spec {
  const char *cn;   /* subject common name */
  const char *sans; /* "DNS:localhost,IP:127.0.0.1", or NULL for none */
  long from_s;      /* valid from now + from_s seconds */
  long to_s;        /* until now + to_s seconds */
  bool ca;          /* a CA: may sign certificates, may not serve */
} sk__tls_cert_spec;

/* A certificate for key as spec says, signed by issuer_key under the
 * name of issuer, or self-signed when issuer is NULL; NULL on failure.
 * The caller owns the result (X509_free). */
X509 *sk__tls_cert_make(EVP_PKEY *key, const sk__tls_cert_spec *spec,
                        X509 *issuer, EVP_PKEY *issuer_key);

#endif
