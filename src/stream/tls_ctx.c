/* tls_ctx.c -- sk_tls: an OpenSSL context and the verification policy its
 * streams follow.
 *
 * Everything that reads a file or makes a key happens here, once, when the
 * context is made; a stream (tls.c) only makes an SSL from it.  The
 * callbacks OpenSSL calls during a handshake -- certificate verification,
 * the pin check, ALPN selection -- live here too, because they apply the
 * options.  They put their verdict into words for the stream through
 * sk__tls_set_reason, since by the time the handshake fails OpenSSL only
 * has an error code left ("certificate verify failed").
 *
 * Every allocation of the TLS code goes through OpenSSL's allocator, so
 * that one hook (CRYPTO_set_mem_functions) sees all the memory a TLS
 * connection costs; the unit test measures it that way.
 */
#include "core/escape.h"
#include "stream/tls_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------ messages */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err with one line and returns SK_ETLS.  OpenSSL's error queue is
 * cleared, so that the next call starts clean. */
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  ERR_clear_error();
  return SK_ETLS;
}

/* What OpenSSL said last, for the rare failures that have no better
 * words. */
static const char *openssl_why(void) {
  const char *why = ERR_reason_error_string(ERR_peek_last_error());

  return why != NULL ? why : "unknown OpenSSL error";
}

/* Whether the first error OpenSSL queued -- the cause, under the errors
 * of the calls that passed it up -- is this one. */
static bool openssl_says(int lib, int reason) {
  unsigned long e = ERR_peek_error();

  return ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason;
}

/* Appends text to buf[0..size) at o, cut to fit; returns the new end. */
static size_t append(char *buf, size_t size, size_t o, const char *text) {
  size_t n = strlen(text);

  if (o + 1 >= size)
    return o;
  if (n > size - 1 - o)
    n = size - 1 - o;
  memcpy(buf + o, text, n);
  buf[o + n] = '\0';
  return o + n;
}

size_t sk__tls_fingerprint_of(const X509 *cert, char *buf, size_t size) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  char text[8 + 2 * EVP_MAX_MD_SIZE] = "sha256:";
  unsigned n = 0;

  if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1)
    return append(buf, size, 0, "?");
  for (unsigned i = 0; i < n; i++) {
    text[7 + 2 * i] = hex[md[i] >> 4];
    text[8 + 2 * i] = hex[md[i] & 15];
  }
  text[7 + 2 * n] = '\0';
  return append(buf, size, 0, text);
}

size_t sk__tls_time_format(const ASN1_TIME *t, char *buf, size_t size) {
  struct tm tm;
  char text[40];

  if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
      strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    return append(buf, size, 0, "?");
  return append(buf, size, 0, text);
}

size_t sk__tls_name_format(const X509_NAME *name, char *buf, size_t size) {
  /* RFC 2253 order and quoting, but UTF-8 left as it is: sk_escape
   * deals with what a terminal must not see. */
  const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  BIO *b = BIO_new(BIO_s_mem());
  char *text = NULL;
  long n;
  size_t o;

  if (b == NULL || X509_NAME_print_ex(b, name, 0, flags) < 0 ||
      (n = BIO_get_mem_data(b, &text)) <= 0)
    o = append(buf, size, 0, "(empty)");
  else
    o = sk_escape(text, (size_t)n, buf, size);
  BIO_free(b);
  ERR_clear_error();
  return o;
}

/* One subjectAltName as text, or false for kinds that are not names a
 * client checks (e-mail, URI, ...). */
static bool general_name_text(const GENERAL_NAME *g, char *buf, size_t size) {
  const ASN1_STRING *s;
  int len;

  if (g->type == GEN_DNS) {
    s = g->d.dNSName;
    sk_escape((const char *)ASN1_STRING_get0_data(s),
              (size_t)ASN1_STRING_length(s), buf, size);
    return true;
  }
  if (g->type != GEN_IPADD)
    return false;
  len = ASN1_STRING_length(g->d.iPAddress);
  return (len == 4 || len == 16) &&
         inet_ntop(len == 4 ? AF_INET : AF_INET6,
                   ASN1_STRING_get0_data(g->d.iPAddress), buf,
                   (socklen_t)size) != NULL;
}

size_t sk__tls_cert_names(const X509 *cert, char *buf, size_t size) {
  GENERAL_NAMES *names =
      X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  size_t o = append(buf, size, 0, "");
  char one[256];
  int shown = 0;

  for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
    if (!general_name_text(sk_GENERAL_NAME_value(names, i), one, sizeof(one)))
      continue;
    if (o + (shown ? 2 : 0) + strlen(one) + 5 >= size) {
      o = append(buf, size, o, ", ...");
      break;
    }
    o = append(buf, size, o, shown++ ? ", " : "");
    o = append(buf, size, o, one);
  }
  GENERAL_NAMES_free(names);
  if (shown > 0)
    return o;
  o = sk__tls_name_format(X509_get_subject_name(cert), buf, size);
  return append(buf, size, o, " (no subjectAltName)");
}

size_t sk__tls_alpn_format(const unsigned char *wire, size_t len, char *buf,
                           size_t size) {
  size_t o = append(buf, size, 0, "");
  char one[1024];

  for (size_t i = 0; i < len && i + 1 + wire[i] <= len; i += 1 + wire[i]) {
    sk_escape((const char *)wire + i + 1, wire[i], one, sizeof(one));
    o = append(buf, size, o, i > 0 ? ", " : "");
    o = append(buf, size, o, one);
  }
  return o;
}

/* ------------------------------------------------- certificate making */

EVP_PKEY *sk__tls_key_make(void) {
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A random positive 128-bit serial number, as RFC 5280 recommends. */
static bool cert_serial(X509 *x) {
  unsigned char bytes[16];
  BIGNUM *bn;
  bool ok;

  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    return false;
  bytes[0] &= 0x7f;
  bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
  ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  BN_free(bn);
  return ok;
}

static bool cert_fill(X509 *x, EVP_PKEY *key, const sk__tls_cert_spec *spec,
                      X509 *issuer) {
  X509_NAME *name = X509_get_subject_name(x);

  return X509_set_version(x, X509_VERSION_3) && cert_serial(x) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)spec->cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
                                                : name) &&
         X509_gmtime_adj(X509_getm_notBefore(x), spec->from_s) &&
         X509_gmtime_adj(X509_getm_notAfter(x), spec->to_s) &&
         X509_set_pubkey(x, key);
}

static bool cert_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value) {
  X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
  bool ok = e != NULL && X509_add_ext(x, e, -1);

  X509_EXTENSION_free(e);
  return ok;
}

static bool cert_extend(X509 *x, const sk__tls_cert_spec *spec, X509 *issuer) {
  X509V3_CTX v3;

  X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
  if (!cert_add_ext(x, &v3, NID_basic_constraints,
                    spec->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
      !cert_add_ext(x, &v3, NID_key_usage,
                    spec->ca ? "critical,keyCertSign,cRLSign"
                             : "critical,digitalSignature") ||
      !cert_add_ext(x, &v3, NID_subject_key_identifier, "hash"))
    return false;
  if (issuer != NULL &&
      !cert_add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"))
    return false;
  if (!spec->ca &&
      !cert_add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth"))
    return false;
  return spec->sans == NULL ||
         cert_add_ext(x, &v3, NID_subject_alt_name, spec->sans);
}

X509 *sk__tls_cert_make(EVP_PKEY *key, const sk__tls_cert_spec *spec,
                        X509 *issuer, EVP_PKEY *issuer_key) {
  X509 *x = X509_new();

  if (x == NULL || !cert_fill(x, key, spec, issuer) ||
      !cert_extend(x, spec, issuer) ||
      !X509_sign(x, issuer != NULL ? issuer_key : key, EVP_sha256())) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* ------------------------------------------------------- loading files */

/* Whether path opens for reading: OpenSSL's own message for a missing
 * file is "system library", which names neither the file nor the cause. */
static int check_readable(const char *flag, const char *path, char *err,
                          size_t errlen) {
  FILE *f = fopen(path, "r");

  if (f == NULL)
    return fail(err, errlen, "%s %s: %s", flag, path, strerror(errno));
  fclose(f);
  return 0;
}

static int load_cert(SSL_CTX *ctx, const char *path, char *err, size_t errlen) {
  int r = check_readable("--cert", path, err, errlen);

  if (r != 0)
    return r;
  if (SSL_CTX_use_certificate_chain_file(ctx, path) == 1)
    return 0;
  if (openssl_says(ERR_LIB_PEM, PEM_R_NO_START_LINE))
    return fail(err, errlen, "--cert %s: no certificate found", path);
  return fail(err, errlen, "--cert %s: %s", path, openssl_why());
}

/* The passphrase callback: sockit never prompts (it may run without a
 * terminal), it only notes that a passphrase was wanted. */
static int no_passphrase(char *buf, int size, int rwflag, void *asked) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(bool *)asked = true;
  return -1;
}

static EVP_PKEY *read_key(const char *path, bool *asked) {
  BIO *b = BIO_new_file(path, "r");
  EVP_PKEY *key;

  if (b == NULL)
    return NULL;
  key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, asked);
  BIO_free(b);
  return key;
}

/* Loads the private key from key_path, or from cert_path (a file holding
 * both) when key_path is NULL, and checks that it matches the
 * certificate already loaded. */
static int load_key(SSL_CTX *ctx, const char *key_path, const char *cert_path,
                    char *err, size_t errlen) {
  const char *flag = key_path != NULL ? "--key" : "--cert";
  const char *path = key_path != NULL ? key_path : cert_path;
  bool asked = false;
  EVP_PKEY *key;
  int r;

  if ((r = check_readable(flag, path, err, errlen)) != 0)
    return r;
  if ((key = read_key(path, &asked)) == NULL) {
    if (asked)
      return fail(err, errlen,
                  "%s %s: the private key is encrypted; give it without a "
                  "passphrase",
                  flag, path);
    if (key_path == NULL)
      return fail(err, errlen, "--cert %s: no private key found (give --key)",
                  path);
    return fail(err, errlen, "--key %s: no private key found", path);
  }
  r = SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
      SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!r)
    return fail(err, errlen, "%s %s does not match --cert %s", flag, path,
                cert_path);
  return 0;
}

/* The server's certificate when none is given: fresh, self-signed, for
 * the names a local test uses.  Clients trust it with --pin. */
static int use_self_signed(SSL_CTX *ctx, char *err, size_t errlen) {
  static const sk__tls_cert_spec spec = {
      .cn = "localhost",
      .sans = "DNS:localhost,IP:127.0.0.1,IP:::1",
      .from_s = -3600, /* a little slack for clocks behind ours */
      .to_s = 365L * 24 * 3600 - 3600,
  };
  EVP_PKEY *key = sk__tls_key_make();
  X509 *cert = key != NULL ? sk__tls_cert_make(key, &spec, NULL, NULL) : NULL;
  bool ok = cert != NULL && SSL_CTX_use_certificate(ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key) == 1;

  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok)
    return fail(err, errlen, "cannot make a self-signed certificate: %s",
                openssl_why());
  return 0;
}

static int load_ca(SSL_CTX *ctx, const char *flag, const char *path, char *err,
                   size_t errlen) {
  int r = check_readable(flag, path, err, errlen);

  if (r != 0)
    return r;
  if (SSL_CTX_load_verify_file(ctx, path) != 1)
    return fail(err, errlen, "%s %s: no certificate found", flag, path);
  return 0;
}

/* --------------------------------------------------------- verification */

static SSL *ssl_of(X509_STORE_CTX *x) {
  return X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
}

/* "certificate", "client certificate", or for a certificate above the
 * leaf "issuer certificate CN=...". */
static void cert_label(SSL *ssl, X509_STORE_CTX *x, char *buf, size_t size) {
  size_t o;

  if (X509_STORE_CTX_get_error_depth(x) == 0) {
    append(buf, size, 0,
           SSL_is_server(ssl) ? "client certificate" : "certificate");
    return;
  }
  o = append(buf, size, 0, "issuer certificate ");
  sk__tls_name_format(X509_get_subject_name(X509_STORE_CTX_get_current_cert(x)),
                      buf + o, size - o);
}

static void explain_unknown_ca(SSL *ssl, X509_STORE_CTX *x) {
  char fp[80];

  if (SSL_is_server(ssl)) {
    sk__tls_set_reason(ssl, "client certificate verify failed: unknown CA "
                            "(not issued by a --client-ca certificate)");
    return;
  }
  sk__tls_fingerprint_of(X509_STORE_CTX_get0_cert(x), fp, sizeof(fp));
  sk__tls_set_reason(ssl,
                     "certificate verify failed: unknown CA (self-signed or "
                     "untrusted issuer); try --ca FILE or --pin %s",
                     fp);
}

static void explain_name_mismatch(SSL *ssl, X509_STORE_CTX *x) {
  X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(x);
  const char *host = X509_VERIFY_PARAM_get0_host(param, 0);
  char *ip = host == NULL ? X509_VERIFY_PARAM_get1_ip_asc(param) : NULL;
  char names[512];

  sk__tls_cert_names(X509_STORE_CTX_get0_cert(x), names, sizeof(names));
  sk__tls_set_reason(ssl, "certificate is for %s, not for %s", names,
                     host != NULL ? host
                     : ip != NULL ? ip
                                  : "?");
  OPENSSL_free(ip);
}

/* Puts the first verification failure into words. */
static void explain_verify(SSL *ssl, X509_STORE_CTX *x) {
  X509 *cert = X509_STORE_CTX_get_current_cert(x);
  int err = X509_STORE_CTX_get_error(x);
  char what[300], when[40];

  cert_label(ssl, x, what, sizeof(what));
  switch (err) {
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_CERT_UNTRUSTED:
    explain_unknown_ca(ssl, x);
    return;
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    explain_name_mismatch(ssl, x);
    return;
  case X509_V_ERR_CERT_HAS_EXPIRED:
    sk__tls_time_format(X509_get0_notAfter(cert), when, sizeof(when));
    sk__tls_set_reason(ssl, "%s expired on %s", what, when);
    return;
  case X509_V_ERR_CERT_NOT_YET_VALID:
    sk__tls_time_format(X509_get0_notBefore(cert), when, sizeof(when));
    sk__tls_set_reason(ssl, "%s is not valid before %s (check the clock)", what,
                       when);
    return;
  default:
    sk__tls_set_reason(ssl, "%s verify failed: %s", what,
                       X509_verify_cert_error_string(err));
  }
}

/* OpenSSL's verification callback: the verdict stays OpenSSL's; the first
 * failure is put into words. */
static int verify_cb(int ok, X509_STORE_CTX *x) {
  SSL *ssl = ssl_of(x);

  if (!ok && ssl != NULL)
    explain_verify(ssl, x);
  return ok;
}

/* Replaces chain verification when the client pins a fingerprint: the
 * leaf's digest decides alone, whoever signed it and whatever it names. */
static int pin_verify(X509_STORE_CTX *x, void *arg) {
  const sk_tls *t = arg;
  const X509 *leaf = X509_STORE_CTX_get0_cert(x);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  char got[80], want[80];

  if (leaf != NULL && X509_digest(leaf, EVP_sha256(), md, &n) == 1 &&
      n == SK__TLS_PIN_LEN && CRYPTO_memcmp(md, t->pin, n) == 0) {
    X509_STORE_CTX_set_error(x, X509_V_OK);
    return 1;
  }
  sk__tls_fingerprint_of(leaf, got, sizeof(got));
  memcpy(want, "sha256:", 7);
  for (unsigned i = 0; i < SK__TLS_PIN_LEN; i++)
    snprintf(want + 7 + 2 * i, 3, "%02x", t->pin[i]);
  sk__tls_set_reason(ssl_of(x),
                     "certificate fingerprint %s does not match --pin %s", got,
                     want);
  X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* "sha256:" then 32 bytes in hex, either case, with or without a colon
 * between byte pairs (as `openssl x509 -fingerprint` prints them). */
static bool pin_parse(const char *text, unsigned char out[SK__TLS_PIN_LEN]) {
  const char *p = text + 7;

  if (strncasecmp(text, "sha256:", 7) != 0)
    return false;
  for (int i = 0; i < SK__TLS_PIN_LEN; i++) {
    int hi, lo;
    if (i > 0 && *p == ':')
      p++;
    if ((hi = hex_digit(p[0])) < 0 || (lo = hex_digit(p[1])) < 0)
      return false;
    out[i] = (unsigned char)(hi << 4 | lo);
    p += 2;
  }
  return *p == '\0';
}

/* --------------------------------------------------------------- ALPN */

static bool alpn_offered(const unsigned char *list, unsigned len,
                         const unsigned char *proto) {
  for (unsigned i = 0; i < len && i + 1 + list[i] <= len; i += 1 + list[i])
    if (list[i] == proto[0] && memcmp(list + i + 1, proto + 1, proto[0]) == 0)
      return true;
  return false;
}

/* The server picks the first of its own protocols that the client
 * offers; without one the handshake fails (no_application_protocol). */
static int alpn_select(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  const sk_tls *t = arg;
  char theirs[256], ours[256];

  for (unsigned i = 0; i < t->alpn_len; i += 1 + t->alpn[i]) {
    if (alpn_offered(in, inlen, t->alpn + i)) {
      *out = t->alpn + i + 1;
      *outlen = t->alpn[i];
      return SSL_TLSEXT_ERR_OK;
    }
  }
  sk__tls_alpn_format(in, inlen, theirs, sizeof(theirs));
  sk__tls_alpn_format(t->alpn, t->alpn_len, ours, sizeof(ours));
  sk__tls_set_reason(ssl,
                     "no ALPN protocol in common: the client offered %s; "
                     "we accept %s (--alpn)",
                     theirs, ours);
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* "h2,http/1.1" into wire format: each name after its length byte. */
static int alpn_setup(sk_tls *t, const char *text, char *err, size_t errlen) {
  size_t len = strlen(text), o = 0;
  const char *p = text;

  if (len == 0 || len >= 65535)
    return fail(err, errlen, "--alpn '%.80s': give 1 to 65534 bytes", text);
  if ((t->alpn = OPENSSL_malloc(len + 1)) == NULL)
    return fail(err, errlen, "--alpn: out of memory");
  for (;;) {
    size_t n = strcspn(p, ",");
    if (n == 0 || n > 255)
      return fail(err, errlen,
                  "--alpn '%.80s': each protocol name takes 1 to 255 bytes",
                  text);
    t->alpn[o++] = (unsigned char)n;
    memcpy(t->alpn + o, p, n);
    o += n;
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  t->alpn_len = (unsigned)o;
  if (t->server)
    SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, t);
  else if (SSL_CTX_set_alpn_protos(t->ctx, t->alpn, t->alpn_len) != 0)
    return fail(err, errlen, "--alpn: %s", openssl_why());
  return 0;
}

/* ------------------------------------------------------------ contexts */

/* Options that make no sense for this side are refused rather than
 * ignored: a server given --pin would otherwise look protected. */
static int check_roles(const sk_tls_opts *o, bool server, char *err,
                       size_t errlen) {
  if (server && o->pin != NULL)
    return fail(err, errlen, "--pin is for clients");
  if (server && o->insecure)
    return fail(err, errlen, "--insecure is for clients");
  if (server && o->ca_file != NULL)
    return fail(err, errlen, "--ca is for clients (servers use --client-ca)");
  if (!server && o->client_ca_file != NULL)
    return fail(err, errlen, "--client-ca is for servers (clients use --ca)");
  if (o->key_file != NULL && o->cert_file == NULL)
    return fail(err, errlen, "--key %s needs --cert", o->key_file);
  if (o->pin != NULL && o->insecure)
    return fail(err, errlen, "--pin and --insecure contradict each other");
  return 0;
}

static int setup_server(sk_tls *t, const sk_tls_opts *o, char *err,
                        size_t errlen) {
  static const unsigned char sid[] = "sockit";
  int r;

  if (o->cert_file != NULL)
    r = load_cert(t->ctx, o->cert_file, err, errlen) ||
        load_key(t->ctx, o->key_file, o->cert_file, err, errlen);
  else
    r = use_self_signed(t->ctx, err, errlen);
  if (r != 0)
    return SK_ETLS;
  /* No server-side session cache: it would hold up to 20,480 sessions a
   * peer can make us keep.  TLS 1.3 tickets still resume sessions, and
   * they cost the server nothing. */
  SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(t->ctx, sid, sizeof(sid) - 1);
  if (o->client_ca_file == NULL)
    return 0;
  if ((r = load_ca(t->ctx, "--client-ca", o->client_ca_file, err, errlen)))
    return r;
  /* Tells clients which CAs we accept (OpenSSL takes the list). */
  SSL_CTX_set_client_CA_list(t->ctx,
                             SSL_load_client_CA_file(o->client_ca_file));
  SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     verify_cb);
  return 0;
}

static int setup_client(sk_tls *t, const sk_tls_opts *o, char *err,
                        size_t errlen) {
  int r = 0;

  if (o->cert_file != NULL &&
      (load_cert(t->ctx, o->cert_file, err, errlen) ||
       load_key(t->ctx, o->key_file, o->cert_file, err, errlen)))
    return SK_ETLS;
  if (o->insecure) {
    t->insecure = true;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    return 0;
  }
  if (o->pin != NULL) {
    if (!pin_parse(o->pin, t->pin))
      return fail(err, errlen,
                  "--pin '%.100s': expected sha256: and 64 hex digits "
                  "(colons allowed between byte pairs)",
                  o->pin);
    t->pinned = true;
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(t->ctx, pin_verify, t);
    return 0;
  }
  if (o->ca_file != NULL)
    r = load_ca(t->ctx, "--ca", o->ca_file, err, errlen);
  else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1)
    r = fail(err, errlen, "cannot load the system's CA certificates: %s",
             openssl_why());
  SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
  return r;
}

/* What every context shares. */
static void setup_common(SSL_CTX *ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Idle connections give OpenSSL's record buffers back (about 34 KiB
   * each).  Partial writes are not needed: the stream's BIO never
   * refuses bytes, so SSL_write always encrypts everything it is given. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* Renegotiation is gone from TLS 1.3; in 1.2 it can make a write wait
   * for a read, which a peer that stopped reading turns into a stall. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
}

static void tls_free(sk_tls *t) {
  SSL_CTX_free(t->ctx);
  BIO_meth_free(t->bio_method);
  OPENSSL_free(t->alpn);
  OPENSSL_free(t);
}

int sk_tls_new(const sk_tls_opts *opts, int server, sk_tls **out, char *err,
               size_t errlen) {
  static const sk_tls_opts none;
  sk_tls *t;
  int r;

  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  if (opts == NULL)
    opts = &none;
  if ((r = check_roles(opts, server != 0, err, errlen)) != 0)
    return r;
  if ((t = OPENSSL_zalloc(sizeof(*t))) == NULL)
    return fail(err, errlen, "TLS context: out of memory");
  t->refs = 1;
  t->server = server != 0;
  t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (t->ctx == NULL) {
    r = fail(err, errlen, "cannot make a TLS context: %s", openssl_why());
    goto free_t;
  }
  setup_common(t->ctx);
  r = t->server ? setup_server(t, opts, err, errlen)
                : setup_client(t, opts, err, errlen);
  if (r == 0 && opts->alpn != NULL)
    r = alpn_setup(t, opts->alpn, err, errlen);
  if (r == 0 && sk__tls_bio_method_init(t) != 0)
    r = fail(err, errlen, "cannot make a TLS context: %s", openssl_why());
  if (r != 0)
    goto free_t;
  *out = t;
  return 0;

free_t:
  tls_free(t);
  return r;
}

sk_tls *sk__tls_ref(sk_tls *t) {
  t->refs++;
  return t;
}

void sk_tls_unref(sk_tls *t) {
  if (t != NULL && --t->refs == 0)
    tls_free(t);
}

int sk_tls_fingerprint(const sk_tls *t, char *buf, size_t size) {
  const X509 *cert = SSL_CTX_get0_certificate(t->ctx);
  char text[80];

  if (cert == NULL)
    return SK_ETLS;
  sk__tls_fingerprint_of(cert, text, sizeof(text));
  if (text[0] == '?')
    return SK_ETLS;
  return snprintf(buf, size, "%s", text);
}
