/* test_frame.c -- unit tests for the framing codec: spec parsing and
 * formatting, headers and trailers, the pure sk_frame_decode, the
 * incremental sk_decoder, and shared framed buffers (sk_buf).
 *
 * The expected header bytes are what Python's struct module produces
 * ('!B', '!H', '<H', '!I', '<I', '!Q', '<Q'), because that is what a peer
 * written in another language sends.  Streams are framed by a reference
 * encoder in this file, not by the library, so a wrong header writer and a
 * wrong decoder cannot agree with each other by accident. */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* struct sk_buf, to read the framed bytes */
#include "sockit.h"

/* A decoder that rejects a huge header must not have allocated anything
 * near the claimed size; a few bytes for a partial header are fine. */
#define SMALL_CAP 64

/* Parses spec (which must be valid) and sets max_frame unless it is 0. */
static sk_framing framing(const char *spec, size_t max_frame) {
  sk_framing f;
  int rc = sk_framing_parse(&f, spec);
  if (rc != 0)
    fail_msg("sk_framing_parse(\"%s\") = %d, expected 0", spec, rc);
  if (max_frame != 0)
    f.max_frame = max_frame;
  return f;
}

/* ------------------------------------------------ collecting messages */

#define MAX_MSGS 64
#define MAX_BYTES 8192

/* Copies every message the decoder delivers, so they can be compared after
 * the callback returned (msg is valid only during the call). */
typedef struct collector {
  size_t count;
  size_t off[MAX_MSGS];
  size_t len[MAX_MSGS];
  char bytes[MAX_BYTES];
  size_t used;
  size_t stop_at; /* return stop_rc from the stop_at-th message; 0 = never */
  int stop_rc;
} collector;

static void collector_init(collector *c) {
  memset(c, 0, sizeof *c);
}

static int collect(void *arg, const char *msg, size_t len) {
  collector *c = arg;
  if (c->count >= MAX_MSGS)
    fail_msg("more than %d messages delivered", MAX_MSGS);
  if (c->used + len > MAX_BYTES)
    fail_msg("more than %d message bytes delivered", MAX_BYTES);
  if (len > 0) {
    assert_non_null(msg);
    memcpy(c->bytes + c->used, msg, len);
  }
  c->off[c->count] = c->used;
  c->len[c->count] = len;
  c->used += len;
  c->count++;
  if (c->stop_at != 0 && c->count == c->stop_at)
    return c->stop_rc;
  return 0;
}

/* For raw framing, where chunk boundaries are not messages: appends the
 * bytes only. */
static int collect_raw(void *arg, const char *msg, size_t len) {
  collector *c = arg;
  if (c->used + len > MAX_BYTES)
    fail_msg("more than %d bytes delivered", MAX_BYTES);
  if (len > 0) {
    assert_non_null(msg);
    memcpy(c->bytes + c->used, msg, len);
  }
  c->used += len;
  c->count++;
  return 0;
}

/* Asserts that message i of c is exactly msg[0..len). */
static void expect_msg(const collector *c, size_t i, const char *msg,
                       size_t len) {
  if (i >= c->count)
    fail_msg("message %zu was not delivered (%zu delivered)", i, c->count);
  if (c->len[i] != len)
    fail_msg("message %zu has %zu bytes, expected %zu", i, c->len[i], len);
  assert_memory_equal(c->bytes + c->off[i], msg, len);
}

/* ------------------------------------------------- reference encoder */

#define MAX_STREAM (MAX_BYTES + MAX_MSGS * 10)

/* A framed byte stream and the messages it holds. */
typedef struct stream {
  const char *spec;
  sk_framing f;
  size_t nmsgs;
  size_t msg_off[MAX_MSGS];   /* into payload */
  size_t msg_len[MAX_MSGS];   /* payload bytes of message i */
  size_t frame_end[MAX_MSGS]; /* offset in bytes just past frame i */
  char payload[MAX_BYTES];
  size_t payload_len;
  char bytes[MAX_STREAM];
  size_t len;
} stream;

/* Writes v as an unsigned integer of width bytes, like struct.pack. */
static void put_uint(char *out, unsigned width, int little_endian, uint64_t v) {
  for (unsigned i = 0; i < width; i++) {
    unsigned shift = 8 * (little_endian ? i : width - 1 - i);
    out[i] = (char)(unsigned char)(v >> shift);
  }
}

/* Fills buf with varied bytes, including NUL, '\r', '\n' and 0xFF.  For
 * line framing a '\n' is replaced and a message never ends in '\r' (that
 * '\r' would be taken as part of a "\r\n"). */
static void fill_msg(char *buf, size_t len, unsigned seed, int line) {
  for (size_t j = 0; j < len; j++) {
    unsigned char ch = (unsigned char)(seed * 31u + j * 7u + 1u);
    if (line && ch == '\n')
      ch = 'N';
    buf[j] = (char)ch;
  }
  if (line && len > 0 && buf[len - 1] == '\r')
    buf[len - 1] = 'R';
}

static void stream_init(stream *s, const char *spec) {
  memset(s, 0, sizeof *s);
  s->spec = spec;
  s->f = framing(spec, 0);
}

/* Appends one message framed with s->f; line frames alternate between
 * "\n" and "\r\n". */
static void stream_add(stream *s, const char *msg, size_t len) {
  size_t n = s->nmsgs;
  assert_true(n < MAX_MSGS);
  assert_true(s->payload_len + len <= MAX_BYTES);
  assert_true(s->len + len + SK_FRAME_HEADER_MAX + 2 <= MAX_STREAM);
  memcpy(s->payload + s->payload_len, msg, len);
  s->msg_off[n] = s->payload_len;
  s->msg_len[n] = len;
  s->payload_len += len;
  if (s->f.mode == SK_FRAME_LEN) {
    put_uint(s->bytes + s->len, s->f.width, s->f.little_endian, len);
    s->len += s->f.width;
  }
  memcpy(s->bytes + s->len, msg, len);
  s->len += len;
  if (s->f.mode == SK_FRAME_LINE) {
    if (n % 2 == 1)
      s->bytes[s->len++] = '\r';
    s->bytes[s->len++] = '\n';
  }
  s->frame_end[n] = s->len;
  s->nmsgs++;
}

/* Builds a stream of messages with the given sizes (clamped to 255 for
 * one-byte headers). */
static void stream_build(stream *s, const char *spec, const size_t *sizes,
                         size_t nsizes) {
  char msg[1024];
  stream_init(s, spec);
  for (size_t i = 0; i < nsizes; i++) {
    size_t len = sizes[i];
    if (s->f.mode == SK_FRAME_LEN && s->f.width == 1 && len > 255)
      len = 255;
    assert_true(len <= sizeof msg);
    fill_msg(msg, len, (unsigned)i + 1, s->f.mode == SK_FRAME_LINE);
    stream_add(s, msg, len);
  }
}

/* Messages a decoder must have delivered once it saw bytes[0..upto). */
static size_t expected_count(const stream *s, size_t upto) {
  size_t n = 0;
  while (n < s->nmsgs && s->frame_end[n] <= upto)
    n++;
  return n;
}

/* Bytes of the partial frame at the end of bytes[0..upto). */
static size_t expected_pending(const stream *s, size_t upto) {
  size_t n = expected_count(s, upto);
  return upto - (n == 0 ? 0 : s->frame_end[n - 1]);
}

static void expect_stream(const stream *s, const collector *c,
                          const char *how) {
  if (c->count != s->nmsgs)
    fail_msg("%s, %s: %zu messages, expected %zu", s->spec, how, c->count,
             s->nmsgs);
  for (size_t i = 0; i < s->nmsgs; i++) {
    if (c->len[i] != s->msg_len[i] ||
        memcmp(c->bytes + c->off[i], s->payload + s->msg_off[i],
               s->msg_len[i]) != 0)
      fail_msg("%s, %s: message %zu differs (%zu bytes, expected %zu)", s->spec,
               how, i, c->len[i], s->msg_len[i]);
  }
}

/* Feeds s->bytes cut at cuts[0..ncuts) (ascending), checking after every
 * feed that each completed message was delivered at once and that only the
 * partial frame is held; then finishes and compares the messages. */
static void feed_cuts(const stream *s, const size_t *cuts, size_t ncuts) {
  char how[128];
  int pos = snprintf(how, sizeof how, "cut at");
  for (size_t k = 0; k < ncuts && pos < (int)sizeof how - 24; k++)
    pos += snprintf(how + pos, sizeof how - (size_t)pos, " %zu", cuts[k]);

  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &s->f);
  collector_init(&c);
  size_t start = 0;
  for (size_t k = 0; k <= ncuts; k++) {
    size_t end = k < ncuts ? cuts[k] : s->len;
    int rc = sk_decoder_feed(&d, s->bytes + start, end - start, collect, &c);
    if (rc != 0)
      fail_msg("%s, %s: feed [%zu, %zu) = %d (%s)", s->spec, how, start, end,
               rc, sk_strerror(rc));
    if (c.count != expected_count(s, end))
      fail_msg("%s, %s: after %zu bytes %zu messages, expected %zu", s->spec,
               how, end, c.count, expected_count(s, end));
    if (sk_decoder_pending(&d) != expected_pending(s, end))
      fail_msg("%s, %s: after %zu bytes pending %zu, expected %zu", s->spec,
               how, end, sk_decoder_pending(&d), expected_pending(s, end));
    start = end;
  }
  int rc = sk_decoder_finish(&d, collect, &c);
  if (rc != 0)
    fail_msg("%s, %s: finish = %d (%s)", s->spec, how, rc, sk_strerror(rc));
  expect_stream(s, &c, how);
  sk_decoder_free(&d);
}

static void feed_every_split(const stream *s) {
  for (size_t i = 0; i <= s->len; i++)
    feed_cuts(s, &i, 1);
}

static void feed_every_3split(const stream *s) {
  for (size_t i = 0; i <= s->len; i++) {
    for (size_t j = i; j <= s->len; j++) {
      size_t cuts[2] = {i, j};
      feed_cuts(s, cuts, 2);
    }
  }
}

static void feed_bytewise(const stream *s) {
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &s->f);
  collector_init(&c);
  for (size_t i = 0; i < s->len; i++) {
    int rc = sk_decoder_feed(&d, s->bytes + i, 1, collect, &c);
    if (rc != 0)
      fail_msg("%s, byte by byte: feed of byte %zu = %d (%s)", s->spec, i, rc,
               sk_strerror(rc));
    if (c.count != expected_count(s, i + 1))
      fail_msg("%s, byte by byte: after %zu bytes %zu messages, expected %zu",
               s->spec, i + 1, c.count, expected_count(s, i + 1));
    if (sk_decoder_pending(&d) != expected_pending(s, i + 1))
      fail_msg("%s, byte by byte: after %zu bytes pending %zu, expected %zu",
               s->spec, i + 1, sk_decoder_pending(&d),
               expected_pending(s, i + 1));
  }
  int rc = sk_decoder_finish(&d, collect, &c);
  if (rc != 0)
    fail_msg("%s, byte by byte: finish = %d (%s)", s->spec, rc,
             sk_strerror(rc));
  expect_stream(s, &c, "byte by byte");
  sk_decoder_free(&d);
}

/* Decodes the stream frame by frame with the pure sk_frame_decode and
 * checks every proper prefix of each frame is reported incomplete. */
static void decode_pure(const stream *s) {
  size_t off = 0;
  for (size_t i = 0; i < s->nmsgs; i++) {
    const char *msg = NULL;
    size_t msglen = 0;
    size_t flen = s->frame_end[i] - off;
    for (size_t k = 0; k < flen; k++) {
      long n = sk_frame_decode(&s->f, s->bytes + off, k, &msg, &msglen);
      if (n != 0)
        fail_msg("%s: frame %zu, prefix of %zu of %zu bytes decoded = %ld",
                 s->spec, i, k, flen, n);
    }
    long n =
        sk_frame_decode(&s->f, s->bytes + off, s->len - off, &msg, &msglen);
    if (n != (long)flen)
      fail_msg("%s: frame %zu decoded = %ld, expected %zu", s->spec, i, n,
               flen);
    if (msglen != s->msg_len[i])
      fail_msg("%s: frame %zu msglen %zu, expected %zu", s->spec, i, msglen,
               s->msg_len[i]);
    if (msglen > 0) {
      assert_true(msg >= s->bytes + off && msg + msglen <= s->bytes + s->len);
      assert_memory_equal(msg, s->payload + s->msg_off[i], msglen);
    }
    off += flen;
  }
  assert_int_equal(off, s->len);
}

static const char *const stream_specs[] = {
    "line", "len:1",   "len:1le", "len:2be", "len:2le",
    "len",  "len:4be", "len:4le", "len:8be", "len:8le",
};
#define NSPECS (sizeof stream_specs / sizeof stream_specs[0])

/* Varied sizes including empty messages, one at the one-byte limit, and one
 * longer than most reads of a header would assume. */
static const size_t long_sizes[] = {0, 1, 5, 0, 255, 2, 600, 0, 37, 1, 0};
static const size_t short_sizes[] = {0, 3, 0, 9, 1};
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------- sk_framing_parse */

typedef struct good_spec {
  const char *spec;
  sk_frame_mode mode;
  unsigned width;    /* SK_FRAME_LEN only */
  int little_endian; /* SK_FRAME_LEN only */
  const char *canon; /* NULL: only the round trip is checked */
} good_spec;

static const good_spec good_specs[] = {
    {"raw", SK_FRAME_RAW, 0, 0, "raw"},
    {"line", SK_FRAME_LINE, 0, 0, "line"},
    {"len", SK_FRAME_LEN, 4, 0, "len:4be"},
    {"len:1", SK_FRAME_LEN, 1, 0, NULL},
    {"len:1be", SK_FRAME_LEN, 1, 0, NULL},
    {"len:1le", SK_FRAME_LEN, 1, 1, NULL},
    {"len:2", SK_FRAME_LEN, 2, 0, "len:2be"},
    {"len:2be", SK_FRAME_LEN, 2, 0, "len:2be"},
    {"len:2le", SK_FRAME_LEN, 2, 1, "len:2le"},
    {"len:4", SK_FRAME_LEN, 4, 0, "len:4be"},
    {"len:4be", SK_FRAME_LEN, 4, 0, "len:4be"},
    {"len:4le", SK_FRAME_LEN, 4, 1, "len:4le"},
    {"len:8", SK_FRAME_LEN, 8, 0, "len:8be"},
    {"len:8be", SK_FRAME_LEN, 8, 0, "len:8be"},
    {"len:8le", SK_FRAME_LEN, 8, 1, "len:8le"},
};

static void test_framing_parse_valid(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(good_specs); i++) {
    const good_spec *g = &good_specs[i];
    sk_framing f;
    memset(&f, 0xA5, sizeof f);
    f.max_frame = 5; /* parse must reset it to the default */
    int rc = sk_framing_parse(&f, g->spec);
    if (rc != 0)
      fail_msg("sk_framing_parse(\"%s\") = %d, expected 0", g->spec, rc);
    if (f.mode != g->mode)
      fail_msg("\"%s\": mode %d, expected %d", g->spec, f.mode, g->mode);
    if (g->mode == SK_FRAME_LEN) {
      if (f.width != g->width)
        fail_msg("\"%s\": width %u, expected %u", g->spec, f.width, g->width);
      if (f.width > 1 && (f.little_endian != 0) != (g->little_endian != 0))
        fail_msg("\"%s\": little_endian %d, expected %d", g->spec,
                 f.little_endian, g->little_endian);
    }
    if (f.max_frame != SK_MAX_FRAME_DEFAULT)
      fail_msg("\"%s\": max_frame %zu, expected %zu", g->spec, f.max_frame,
               SK_MAX_FRAME_DEFAULT);
  }
}

static void test_framing_parse_invalid(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",       "len:3",   "len:0",    "len:16", "len:4xx",   "lenx",
      "line:2", "raw:1",   "LEN",      "len:",   "len:4bele", "len:be",
      "len:4b", "len:-4",  "len:4 ",   " line",  "Line",      "len:04le",
      "len4",   "len:2LE", "len:1be:", "rawx",   "len::4",
  };
  for (size_t i = 0; i < NELEMS(bad); i++) {
    sk_framing f;
    int rc = sk_framing_parse(&f, bad[i]);
    if (rc != SK_EBADFRAMING)
      fail_msg("sk_framing_parse(\"%s\") = %d, expected SK_EBADFRAMING", bad[i],
               rc);
  }
}

static void test_framing_format(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(good_specs); i++) {
    const good_spec *g = &good_specs[i];
    sk_framing f = framing(g->spec, 0);
    char buf[64];
    memset(buf, 'X', sizeof buf);
    int n = sk_framing_format(&f, buf, sizeof buf);
    if (n < 0 || (size_t)n != strlen(buf))
      fail_msg("\"%s\": format returned %d for \"%s\"", g->spec, n, buf);
    if (g->canon != NULL && strcmp(buf, g->canon) != 0)
      fail_msg("\"%s\" formats as \"%s\", expected \"%s\"", g->spec, buf,
               g->canon);
    /* The canonical spec parses back to the same framing. */
    sk_framing back;
    if (sk_framing_parse(&back, buf) != 0)
      fail_msg("\"%s\" formats as \"%s\", which does not parse", g->spec, buf);
    assert_int_equal(back.mode, f.mode);
    if (f.mode == SK_FRAME_LEN) {
      assert_int_equal(back.width, f.width);
      if (f.width > 1)
        assert_int_equal(back.little_endian != 0, f.little_endian != 0);
    }
  }
}

static void test_framing_format_truncates(void **state) {
  (void)state;
  sk_framing f = framing("len:4le", 0);
  char buf[4];
  memset(buf, 'X', sizeof buf);
  assert_int_equal(sk_framing_format(&f, buf, sizeof buf), 7);
  assert_string_equal(buf, "len");
}

/* ------------------------------------------------- sk_frame_header */

static void check_header(const char *spec, size_t max_frame, size_t len,
                         const char *expect, int expect_len) {
  sk_framing f = framing(spec, max_frame);
  char out[SK_FRAME_HEADER_MAX];
  memset(out, 0xAA, sizeof out);
  int n = sk_frame_header(&f, len, out);
  if (n != expect_len)
    fail_msg("%s: header for %zu = %d, expected %d", spec, len, n, expect_len);
  if (memcmp(out, expect, (size_t)expect_len) != 0) {
    char got[3 * SK_FRAME_HEADER_MAX + 1] = "";
    for (int i = 0; i < expect_len; i++)
      snprintf(got + 3 * i, 4, "%02x ", (unsigned char)out[i]);
    fail_msg("%s: header for %zu is %s", spec, len, got);
  }
}

static void test_header_bytes(void **state) {
  (void)state;
  /* struct.pack('!B', 200) and friends. */
  check_header("len:1", 0, 200, "\xc8", 1);
  check_header("len:1le", 0, 200, "\xc8", 1);
  check_header("len:1", 0, 255, "\xff", 1);
  check_header("len:1", 0, 0, "\x00", 1);
  check_header("len:2", 0, 0x1234, "\x12\x34", 2);
  check_header("len:2be", 0, 0x1234, "\x12\x34", 2);
  check_header("len:2le", 0, 0x1234, "\x34\x12", 2);
  check_header("len:2be", 0, 65535, "\xff\xff", 2);
  check_header("len:2le", 0, 1001, "\xe9\x03", 2);
  check_header("len:2le", 0, 0, "\x00\x00", 2);
  check_header("len", 0, 5, "\x00\x00\x00\x05", 4);
  check_header("len:4be", 0, 5, "\x00\x00\x00\x05", 4);
  check_header("len:4le", 0, 5, "\x05\x00\x00\x00", 4);
  check_header("len:4be", 0, 0, "\x00\x00\x00\x00", 4);
  check_header("len:4be", SIZE_MAX, 0x01020304, "\x01\x02\x03\x04", 4);
  check_header("len:4le", SIZE_MAX, 0x01020304, "\x04\x03\x02\x01", 4);
  check_header("len:4be", 0, SK_MAX_FRAME_DEFAULT, "\x00\x10\x00\x00", 4);
  check_header("len:8", 0, 5, "\x00\x00\x00\x00\x00\x00\x00\x05", 8);
  check_header("len:8le", 0, 5, "\x05\x00\x00\x00\x00\x00\x00\x00", 8);
  check_header("len:8be", 0, 0, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
  check_header("len:8be", SIZE_MAX, 0x01020304,
               "\x00\x00\x00\x00\x01\x02\x03\x04", 8);
#if SIZE_MAX > 0xFFFFFFFFu
  check_header("len:8be", SIZE_MAX, (size_t)0x0102030405060708ull,
               "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  check_header("len:8le", SIZE_MAX, (size_t)0x0102030405060708ull,
               "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
#endif
}

static void check_header_too_big(const char *spec, size_t max_frame,
                                 size_t len) {
  sk_framing f = framing(spec, max_frame);
  char out[SK_FRAME_HEADER_MAX];
  int n = sk_frame_header(&f, len, out);
  if (n != SK_EFRAMETOOBIG)
    fail_msg("%s (max_frame %zu): header for %zu = %d, expected "
             "SK_EFRAMETOOBIG",
             spec, f.max_frame, len, n);
}

static void test_header_too_big(void **state) {
  (void)state;
  /* Too big for the width, although below max_frame. */
  check_header_too_big("len:1", 0, 300);
  check_header_too_big("len:1", 0, 256);
  check_header_too_big("len:1le", 0, 256);
  check_header_too_big("len:2", 0, 70000);
  check_header_too_big("len:2be", 0, 65536);
  check_header_too_big("len:2le", 0, 65536);
#if SIZE_MAX > 0xFFFFFFFFu
  check_header_too_big("len:4be", SIZE_MAX, (size_t)0x100000000ull);
  check_header_too_big("len:4le", SIZE_MAX, (size_t)0x100000000ull);
#endif
  /* Above max_frame, although it fits the width. */
  static const char *const specs[] = {"len:1",   "len:2be", "len:2le",
                                      "len:4be", "len:4le", "len:8be",
                                      "len:8le"};
  for (size_t i = 0; i < NELEMS(specs); i++) {
    check_header_too_big(specs[i], 100, 101);
    char out[SK_FRAME_HEADER_MAX];
    sk_framing f = framing(specs[i], 100);
    assert_int_equal(sk_frame_header(&f, 100, out), (int)f.width);
  }
  check_header_too_big("len", 0, SK_MAX_FRAME_DEFAULT + 1);
  check_header_too_big("len:8le", 0, SK_MAX_FRAME_DEFAULT + 1);
  check_header_too_big("len:4be", SIZE_MAX - 1, SIZE_MAX);
}

static void test_header_raw_line(void **state) {
  (void)state;
  char out[SK_FRAME_HEADER_MAX];
  sk_framing raw = framing("raw", 0);
  sk_framing line = framing("line", 0);
  assert_int_equal(sk_frame_header(&raw, 0, out), 0);
  assert_int_equal(sk_frame_header(&raw, 5, out), 0);
  assert_int_equal(sk_frame_header(&line, 0, out), 0);
  assert_int_equal(sk_frame_header(&line, 5, out), 0);
  assert_int_equal(sk_frame_header(&line, SK_MAX_FRAME_DEFAULT, out), 0);
}

/* max_frame is "the largest payload accepted or sent": a line the peer
 * would reject must not be sent either. */
static void test_header_line_too_big(void **state) {
  (void)state;
  check_header_too_big("line", 100, 101);
  check_header_too_big("line", 0, SK_MAX_FRAME_DEFAULT + 1);
}

static void test_trailer(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *trailer;
  } cases[] = {
      {"line", "\n"},  {"raw", ""},     {"len", ""},     {"len:1", ""},
      {"len:2le", ""}, {"len:4le", ""}, {"len:8be", ""},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_framing f = framing(cases[i].spec, 0);
    size_t len = 99;
    const char *t = sk_frame_trailer(&f, &len);
    assert_non_null(t);
    if (len != strlen(cases[i].trailer) || strcmp(t, cases[i].trailer) != 0)
      fail_msg("%s: trailer of %zu bytes \"%s\", expected \"%s\"",
               cases[i].spec, len, t, cases[i].trailer);
  }
}

/* ------------------------------------------------- sk_frame_decode */

static void test_decode_len_complete(void **state) {
  (void)state;
  sk_framing f = framing("len:4be", 0);
  const char buf[] = "\x00\x00\x00\x03"
                     "abcXYZ";
  const char *msg = NULL;
  size_t msglen = 99;
  assert_int_equal(sk_frame_decode(&f, buf, sizeof buf - 1, &msg, &msglen), 7);
  assert_ptr_equal(msg, buf + 4);
  assert_int_equal(msglen, 3);

  sk_framing le = framing("len:2le", 0);
  const char buf2[] = "\x03\x00"
                      "abc\x05";
  assert_int_equal(sk_frame_decode(&le, buf2, sizeof buf2 - 1, &msg, &msglen),
                   5);
  assert_ptr_equal(msg, buf2 + 2);
  assert_int_equal(msglen, 3);
}

static void test_decode_len_incomplete(void **state) {
  (void)state;
  const char *msg = NULL;
  size_t msglen = 0;
  sk_framing f = framing("len:4be", 0);
  const char buf[] = "\x00\x00\x00\x05"
                     "abcde";
  for (size_t k = 0; k < 9; k++)
    assert_int_equal(sk_frame_decode(&f, buf, k, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f, buf, 9, &msg, &msglen), 9);
  assert_int_equal(msglen, 5);

  sk_framing f8 = framing("len:8le", 0);
  const char buf8[] = "\x02\x00\x00\x00\x00\x00\x00\x00"
                      "ab";
  for (size_t k = 0; k < 10; k++)
    assert_int_equal(sk_frame_decode(&f8, buf8, k, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f8, buf8, 10, &msg, &msglen), 10);
  assert_int_equal(msglen, 2);
}

static void test_decode_len_zero(void **state) {
  (void)state;
  static const char *const specs[] = {"len:1",   "len:1le", "len:2be",
                                      "len:2le", "len:4be", "len:4le",
                                      "len:8be", "len:8le"};
  const char zeros[SK_FRAME_HEADER_MAX + 4] = {0};
  for (size_t i = 0; i < NELEMS(specs); i++) {
    sk_framing f = framing(specs[i], 0);
    const char *msg = NULL;
    size_t msglen = 99;
    /* Followed by more bytes: only the empty frame is consumed. */
    long n = sk_frame_decode(&f, zeros, sizeof zeros, &msg, &msglen);
    if (n != (long)f.width || msglen != 0)
      fail_msg("%s: zero header decoded = %ld, msglen %zu; expected %u, 0",
               specs[i], n, msglen, f.width);
    msglen = 99;
    n = sk_frame_decode(&f, zeros, f.width, &msg, &msglen);
    if (n != (long)f.width || msglen != 0)
      fail_msg("%s: bare zero header decoded = %ld, msglen %zu", specs[i], n,
               msglen);
  }
}

static void test_decode_line(void **state) {
  (void)state;
  sk_framing f = framing("line", 0);
  const char *msg = NULL;
  size_t msglen = 99;

  assert_int_equal(sk_frame_decode(&f, "abc\ndef\n", 8, &msg, &msglen), 4);
  assert_int_equal(msglen, 3);
  assert_memory_equal(msg, "abc", 3);

  const char crlf[] = "abc\r\ndef";
  assert_int_equal(sk_frame_decode(&f, crlf, 8, &msg, &msglen), 5);
  assert_ptr_equal(msg, crlf);
  assert_int_equal(msglen, 3);

  /* Only a '\r' right before the '\n' is dropped. */
  assert_int_equal(sk_frame_decode(&f, "a\rb\n", 4, &msg, &msglen), 4);
  assert_int_equal(msglen, 3);
  assert_memory_equal(msg, "a\rb", 3);

  /* NUL is an ordinary byte. */
  assert_int_equal(sk_frame_decode(&f, "a\0b\n", 4, &msg, &msglen), 4);
  assert_int_equal(msglen, 3);
  assert_memory_equal(msg, "a\0b", 3);

  assert_int_equal(sk_frame_decode(&f, "abc", 3, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f, "abc\r", 4, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f, "", 0, &msg, &msglen), 0);

  msglen = 99;
  assert_int_equal(sk_frame_decode(&f, "\n", 1, &msg, &msglen), 1);
  assert_int_equal(msglen, 0);
  msglen = 99;
  assert_int_equal(sk_frame_decode(&f, "\r\nx", 3, &msg, &msglen), 2);
  assert_int_equal(msglen, 0);
  msglen = 99;
  assert_int_equal(sk_frame_decode(&f, "\n\n", 2, &msg, &msglen), 1);
  assert_int_equal(msglen, 0);
}

static void test_decode_raw(void **state) {
  (void)state;
  sk_framing f = framing("raw", 0);
  const char buf[] = "ab\ncd\0e";
  const char *msg = NULL;
  size_t msglen = 0;
  assert_int_equal(sk_frame_decode(&f, buf, 7, &msg, &msglen), 7);
  assert_ptr_equal(msg, buf);
  assert_int_equal(msglen, 7);
  assert_int_equal(sk_frame_decode(&f, buf, 0, &msg, &msglen), 0);
}

/* A header claiming more than max_frame: rejected from the header alone,
 * before any of the payload is there.  Used by the decode and the decoder
 * tests. */
typedef struct huge_case {
  const char *spec;
  size_t max_frame; /* 0: the default */
  const char *hdr;  /* spec's width bytes */
} huge_case;

static const huge_case huge_cases[] = {
    {"len:4be", 0, "\xff\xff\xff\xff"},
    {"len:4le", 0, "\xff\xff\xff\xff"},
    {"len", 0, "\x00\x10\x00\x01"},     /* max_frame + 1 */
    {"len:4le", 0, "\x01\x00\x10\x00"}, /* max_frame + 1 */
    {"len:4be", 0, "\x80\x00\x00\x00"}, /* negative as an int32 */
    {"len:1", 100, "\xff"},
    {"len:1le", 100, "\x65"}, /* 101 */
    {"len:2be", 1000, "\x03\xe9"},
    {"len:2le", 1000, "\xe9\x03"},
    {"len:2be", 100, "\xff\xff"},
    {"len:8be", 0, "\xff\xff\xff\xff\xff\xff\xff\xff"},
    {"len:8le", 0, "\xff\xff\xff\xff\xff\xff\xff\xff"},
    {"len:8be", 0, "\x7f\xff\xff\xff\xff\xff\xff\xff"},
    {"len:8be", 0, "\x80\x00\x00\x00\x00\x00\x00\x00"},
    {"len:8be", 0, "\x00\x00\x00\x00\x00\x10\x00\x01"}, /* max_frame + 1 */
    /* Values whose low 32 bits are small: a decoder that truncates the
     * header to 32 bits would take them for tiny frames. */
    {"len:8be", 0, "\x00\x00\x00\x01\x00\x00\x00\x00"},
    {"len:8le", 0, "\x00\x00\x00\x00\x01\x00\x00\x00"},
    {"len:8le", 0, "\x01\x00\x00\x00\x00\x00\x00\x01"},
    {"len:8be", 0, "\x01\x00\x00\x00\x00\x00\x00\x01"},
};

static void test_decode_too_big_header(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(huge_cases); i++) {
    const huge_case *h = &huge_cases[i];
    sk_framing f = framing(h->spec, h->max_frame);
    char buf[SK_FRAME_HEADER_MAX + 3];
    memcpy(buf, h->hdr, f.width);
    memcpy(buf + f.width, "abc", 3);
    const char *msg = NULL;
    size_t msglen = 0;
    long n = sk_frame_decode(&f, buf, f.width, &msg, &msglen);
    if (n != SK_EFRAMETOOBIG)
      fail_msg("case %zu (%s): bare header decoded = %ld, expected "
               "SK_EFRAMETOOBIG",
               i, h->spec, n);
    n = sk_frame_decode(&f, buf, f.width + 3, &msg, &msglen);
    if (n != SK_EFRAMETOOBIG)
      fail_msg("case %zu (%s): header + 3 bytes decoded = %ld, expected "
               "SK_EFRAMETOOBIG",
               i, h->spec, n);
  }
}

static void test_decode_max_frame_exact(void **state) {
  (void)state;
  char buf[2 + 1000];
  memset(buf, 'z', sizeof buf);
  const char *msg = NULL;
  size_t msglen = 0;

  sk_framing f = framing("len:2be", 1000);
  put_uint(buf, 2, 0, 1000);
  assert_int_equal(sk_frame_decode(&f, buf, 2, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f, buf, 500, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f, buf, sizeof buf, &msg, &msglen),
                   (long)sizeof buf);
  assert_int_equal(msglen, 1000);

  sk_framing f1 = framing("len:1", 100);
  put_uint(buf, 1, 0, 100);
  assert_int_equal(sk_frame_decode(&f1, buf, 1, &msg, &msglen), 0);
  assert_int_equal(sk_frame_decode(&f1, buf, 101, &msg, &msglen), 101);
  assert_int_equal(msglen, 100);
}

static void test_decode_line_too_long(void **state) {
  (void)state;
  sk_framing f = framing("line", 10);
  const char *msg = NULL;
  size_t msglen = 0;
  char buf[64];
  memset(buf, 'a', sizeof buf);

  /* No newline yet: up to max_frame bytes (+ a '\r') may still be a line. */
  assert_int_equal(sk_frame_decode(&f, buf, 10, &msg, &msglen), 0);
  buf[10] = '\r';
  assert_int_equal(sk_frame_decode(&f, buf, 11, &msg, &msglen), 0);
  buf[10] = 'a';
  assert_int_equal(sk_frame_decode(&f, buf, 12, &msg, &msglen),
                   SK_EFRAMETOOBIG);
  assert_int_equal(sk_frame_decode(&f, buf, sizeof buf, &msg, &msglen),
                   SK_EFRAMETOOBIG);

  /* Exactly max_frame bytes, with "\n" and with "\r\n". */
  buf[10] = '\n';
  assert_int_equal(sk_frame_decode(&f, buf, 11, &msg, &msglen), 11);
  assert_int_equal(msglen, 10);
  buf[10] = '\r';
  buf[11] = '\n';
  assert_int_equal(sk_frame_decode(&f, buf, 12, &msg, &msglen), 12);
  assert_int_equal(msglen, 10);

  /* One byte more, newline present. */
  memset(buf, 'a', sizeof buf);
  buf[11] = '\n';
  assert_int_equal(sk_frame_decode(&f, buf, 12, &msg, &msglen),
                   SK_EFRAMETOOBIG);
  buf[11] = '\r';
  buf[12] = '\n';
  assert_int_equal(sk_frame_decode(&f, buf, 13, &msg, &msglen),
                   SK_EFRAMETOOBIG);
}

static void test_decode_streams(void **state) {
  (void)state;
  stream *s = malloc(sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < NSPECS; i++) {
    stream_build(s, stream_specs[i], long_sizes, NELEMS(long_sizes));
    decode_pure(s);
  }
  free(s);
}

/* --------------------------------------------------------- sk_decoder */

static void test_decoder_every_split(void **state) {
  (void)state;
  stream *s = malloc(sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < NSPECS; i++) {
    stream_build(s, stream_specs[i], long_sizes, NELEMS(long_sizes));
    feed_cuts(s, NULL, 0);
    feed_every_split(s);
  }
  free(s);
}

static void test_decoder_every_3split(void **state) {
  (void)state;
  stream *s = malloc(sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < NSPECS; i++) {
    stream_build(s, stream_specs[i], short_sizes, NELEMS(short_sizes));
    feed_every_3split(s);
  }
  free(s);
}

static void test_decoder_bytewise(void **state) {
  (void)state;
  stream *s = malloc(sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < NSPECS; i++) {
    stream_build(s, stream_specs[i], long_sizes, NELEMS(long_sizes));
    feed_bytewise(s);
    stream_build(s, stream_specs[i], short_sizes, NELEMS(short_sizes));
    feed_bytewise(s);
  }
  free(s);
}

/* Records whether each message points into the buffer being fed. */
typedef struct span_check {
  const char *lo, *hi;
  size_t n, outside;
} span_check;

static int check_span(void *arg, const char *msg, size_t len) {
  span_check *sc = arg;
  sc->n++;
  if (len > 0 && (msg < sc->lo || msg + len > sc->hi))
    sc->outside++;
  return 0;
}

/* "Complete frames are passed straight from data without copying": every
 * non-empty message of a feed that starts on a frame boundary, and every
 * one after a completed partial frame, points into the caller's data. */
static void test_decoder_zero_copy(void **state) {
  (void)state;
  stream *s = malloc(sizeof *s);
  assert_non_null(s);
  for (size_t i = 0; i < NSPECS; i++) {
    stream_build(s, stream_specs[i], long_sizes, NELEMS(long_sizes));
    sk_decoder d;
    span_check sc = {s->bytes, s->bytes + s->len, 0, 0};
    sk_decoder_init(&d, &s->f);
    assert_int_equal(sk_decoder_feed(&d, s->bytes, s->len, check_span, &sc), 0);
    if (sc.n != s->nmsgs || sc.outside != 0)
      fail_msg("%s: %zu of %zu messages were copied", s->spec, sc.outside,
               sc.n);
    sk_decoder_free(&d);

    /* Cut inside frame 2: frames 3.. of the second feed are not copied. */
    size_t cut = s->frame_end[1] + 1;
    size_t rest = s->len - cut;
    char *second = malloc(rest);
    assert_non_null(second);
    memcpy(second, s->bytes + cut, rest);
    sk_decoder_init(&d, &s->f);
    collector c;
    collector_init(&c);
    assert_int_equal(sk_decoder_feed(&d, s->bytes, cut, collect, &c), 0);
    span_check sc2 = {second, second + rest, 0, 0};
    assert_int_equal(sk_decoder_feed(&d, second, rest, check_span, &sc2), 0);
    assert_int_equal(sc2.n, s->nmsgs - 2);
    /* The first of them was the partial frame, held by the decoder. */
    size_t copied_ok = s->msg_len[2] > 0 ? 1 : 0;
    if (sc2.outside > copied_ok)
      fail_msg("%s: %zu messages after the partial one were copied", s->spec,
               sc2.outside - copied_ok);
    sk_decoder_free(&d);
    free(second);
  }
  free(s);
}

/* Raw: whatever the cut, the delivered chunks are the input, in order. */
static void feed_raw(const char *in, size_t len, size_t step, size_t cut) {
  sk_framing f = framing("raw", 0);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  size_t off = 0;
  while (off < len) {
    size_t end = step != 0 ? off + step : (off < cut ? cut : len);
    if (end > len)
      end = len;
    assert_int_equal(sk_decoder_feed(&d, in + off, end - off, collect_raw, &c),
                     0);
    assert_int_equal(sk_decoder_pending(&d), 0);
    if (c.used != end)
      fail_msg("raw, step %zu cut %zu: %zu bytes delivered after %zu fed", step,
               cut, c.used, end);
    off = end;
  }
  assert_int_equal(sk_decoder_finish(&d, collect_raw, &c), 0);
  assert_int_equal(c.used, len);
  assert_memory_equal(c.bytes, in, len);
  sk_decoder_free(&d);
}

static void test_decoder_raw(void **state) {
  (void)state;
  char in[600];
  for (size_t i = 0; i < sizeof in; i++)
    in[i] = (char)(unsigned char)(i * 7 + 3);
  for (size_t cut = 0; cut <= sizeof in; cut++)
    feed_raw(in, sizeof in, 0, cut);
  feed_raw(in, sizeof in, 1, 0);
  feed_raw(in, sizeof in, 7, 0);
}

/* A header claiming far more than max_frame is refused without allocating
 * a buffer for it, whether it arrives at once or byte by byte. */
static void test_decoder_too_big_header(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(huge_cases); i++) {
    const huge_case *h = &huge_cases[i];
    sk_framing f = framing(h->spec, h->max_frame);
    sk_decoder d;
    collector c;

    sk_decoder_init(&d, &f);
    collector_init(&c);
    int rc = sk_decoder_feed(&d, h->hdr, f.width, collect, &c);
    if (rc != SK_EFRAMETOOBIG)
      fail_msg("case %zu (%s): feed of the header = %d, expected "
               "SK_EFRAMETOOBIG",
               i, h->spec, rc);
    if (d.cap > SMALL_CAP || sk_decoder_pending(&d) > SMALL_CAP)
      fail_msg("case %zu (%s): cap %zu, pending %zu after a refused header", i,
               h->spec, d.cap, sk_decoder_pending(&d));
    assert_int_equal(c.count, 0);
    sk_decoder_free(&d);

    sk_decoder_init(&d, &f);
    for (unsigned k = 0; k + 1 < f.width; k++) {
      rc = sk_decoder_feed(&d, h->hdr + k, 1, collect, &c);
      if (rc != 0)
        fail_msg("case %zu (%s): feed of header byte %u = %d", i, h->spec, k,
                 rc);
    }
    rc = sk_decoder_feed(&d, h->hdr + f.width - 1, 1, collect, &c);
    if (rc != SK_EFRAMETOOBIG)
      fail_msg("case %zu (%s): feed of the last header byte = %d, expected "
               "SK_EFRAMETOOBIG",
               i, h->spec, rc);
    if (d.cap > SMALL_CAP || sk_decoder_pending(&d) > SMALL_CAP)
      fail_msg("case %zu (%s): byte by byte: cap %zu, pending %zu", i, h->spec,
               d.cap, sk_decoder_pending(&d));
    assert_int_equal(c.count, 0);
    sk_decoder_free(&d);
  }
}

/* A good frame before the bad header is still delivered, in order. */
static void test_decoder_too_big_after_message(void **state) {
  (void)state;
  sk_framing f = framing("len:4be", 0);
  const char in[] = "\x00\x00\x00\x02"
                    "hi"
                    "\xff\xff\xff\xff"
                    "xyz";
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, in, sizeof in - 1, collect, &c),
                   SK_EFRAMETOOBIG);
  assert_int_equal(c.count, 1);
  expect_msg(&c, 0, "hi", 2);
  assert_true(d.cap <= SMALL_CAP);
  sk_decoder_free(&d);
}

/* A header of exactly max_frame is accepted, across feeds. */
static void test_decoder_max_frame_exact(void **state) {
  (void)state;
  sk_framing f = framing("len:2le", 1000);
  char in[2 + 1000];
  put_uint(in, 2, 1, 1000);
  fill_msg(in + 2, 1000, 9, 0);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, in, 12, collect, &c), 0);
  assert_int_equal(sk_decoder_pending(&d), 12);
  assert_int_equal(sk_decoder_feed(&d, in + 12, 900, collect, &c), 0);
  assert_int_equal(sk_decoder_pending(&d), 912);
  assert_int_equal(sk_decoder_feed(&d, in + 912, sizeof in - 912, collect, &c),
                   0);
  assert_int_equal(sk_decoder_pending(&d), 0);
  assert_int_equal(c.count, 1);
  expect_msg(&c, 0, in + 2, 1000);
  sk_decoder_free(&d);
}

/* Feeds 'a's one at a time into a line decoder with max_frame 16: it must
 * refuse once the partial line can no longer be a line of 16 bytes (plus
 * a '\r'), i.e. at the 17th or the 18th byte, and not before. */
static void test_decoder_line_too_long_pieces(void **state) {
  (void)state;
  sk_framing f = framing("line", 16);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  size_t fed = 0;
  int rc = 0;
  while (rc == 0 && fed < 100) {
    rc = sk_decoder_feed(&d, "a", 1, collect, &c);
    fed++;
  }
  if (rc != SK_EFRAMETOOBIG || fed < 17 || fed > 18)
    fail_msg("line max_frame 16: feed %zu returned %d, expected "
             "SK_EFRAMETOOBIG at byte 17 or 18",
             fed, rc);
  assert_int_equal(c.count, 0);
  assert_true(d.cap <= SMALL_CAP);
  sk_decoder_free(&d);

  /* In pieces of 5. */
  sk_decoder_init(&d, &f);
  assert_int_equal(sk_decoder_feed(&d, "aaaaa", 5, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "aaaaa", 5, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "aaaaa", 5, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "aaaaa", 5, collect, &c),
                   SK_EFRAMETOOBIG);
  assert_int_equal(c.count, 0);
  sk_decoder_free(&d);

  /* 16 bytes and a '\r' may still become a line: no error until a byte
   * other than '\n' follows. */
  sk_decoder_init(&d, &f);
  assert_int_equal(sk_decoder_feed(&d, "aaaaaaaaaaaaaaaa", 16, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "\r", 1, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "x", 1, collect, &c), SK_EFRAMETOOBIG);
  assert_int_equal(c.count, 0);
  sk_decoder_free(&d);

  /* A line of 17 bytes with its newline, in one feed and in two. */
  sk_decoder_init(&d, &f);
  assert_int_equal(sk_decoder_feed(&d, "aaaaaaaaaaaaaaaaa\n", 18, collect, &c),
                   SK_EFRAMETOOBIG);
  sk_decoder_free(&d);
  sk_decoder_init(&d, &f);
  rc = sk_decoder_feed(&d, "aaaaaaaaaaaaaaaaa", 17, collect, &c);
  if (rc == 0) /* 17 bytes might still have been 16 and a '\r' */
    rc = sk_decoder_feed(&d, "\n", 1, collect, &c);
  assert_int_equal(rc, SK_EFRAMETOOBIG);
  sk_decoder_free(&d);
  assert_int_equal(c.count, 0);
}

/* Lines of exactly max_frame bytes are accepted, whole or in pieces. */
static void test_decoder_line_max_exact(void **state) {
  (void)state;
  sk_framing f = framing("line", 16);
  static const char *const inputs[] = {"0123456789abcdef\n",
                                       "0123456789abcdef\r\n"};
  for (size_t i = 0; i < NELEMS(inputs); i++) {
    const char *in = inputs[i];
    size_t len = strlen(in);
    for (size_t step = 1; step <= len; step++) {
      sk_decoder d;
      collector c;
      sk_decoder_init(&d, &f);
      collector_init(&c);
      for (size_t off = 0; off < len; off += step) {
        size_t n = off + step > len ? len - off : step;
        int rc = sk_decoder_feed(&d, in + off, n, collect, &c);
        if (rc != 0)
          fail_msg("input %zu, step %zu: feed at %zu = %d", i, step, off, rc);
      }
      assert_int_equal(c.count, 1);
      expect_msg(&c, 0, "0123456789abcdef", 16);
      assert_int_equal(sk_decoder_pending(&d), 0);
      sk_decoder_free(&d);
    }
  }
}

/* The limit is per line, not per feed or per buffer. */
static void test_decoder_line_limit_per_line(void **state) {
  (void)state;
  sk_framing f = framing("line", 16);
  char in[10 * 11];
  for (size_t i = 0; i < 10; i++) {
    memcpy(in + i * 11, "0123456789", 10);
    in[i * 11 + 10] = '\n';
  }
  for (size_t step = 1; step <= sizeof in; step += 9) {
    sk_decoder d;
    collector c;
    sk_decoder_init(&d, &f);
    collector_init(&c);
    for (size_t off = 0; off < sizeof in; off += step) {
      size_t n = off + step > sizeof in ? sizeof in - off : step;
      assert_int_equal(sk_decoder_feed(&d, in + off, n, collect, &c), 0);
    }
    assert_int_equal(c.count, 10);
    for (size_t i = 0; i < 10; i++)
      expect_msg(&c, i, "0123456789", 10);
    sk_decoder_free(&d);
  }
}

/* A megabyte without a newline is refused without being buffered. */
static void test_decoder_line_huge_no_alloc(void **state) {
  (void)state;
  sk_framing f = framing("line", 16);
  size_t len = (size_t)1 << 20;
  char *in = malloc(len);
  assert_non_null(in);
  memset(in, 'a', len);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, in, len, collect, &c), SK_EFRAMETOOBIG);
  assert_int_equal(c.count, 0);
  if (d.cap > SMALL_CAP)
    fail_msg("cap %zu after refusing a 1 MiB line with max_frame 16", d.cap);
  sk_decoder_free(&d);
  free(in);
}

/* max_frame = SIZE_MAX ("no limit") must not wrap the line limit around:
 * a line cut after its '\r' was refused (found by fuzz/fuzz_decoder). */
static void test_decoder_line_unlimited(void **state) {
  (void)state;
  static const size_t maxes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 9};
  const char in[] = "ab\r\ncd\n";
  for (size_t i = 0; i < NELEMS(maxes); i++) {
    sk_framing f = framing("line", maxes[i]);
    sk_decoder d;
    collector c;
    sk_decoder_init(&d, &f);
    collector_init(&c);
    for (size_t k = 0; k < sizeof in - 1; k++) {
      int rc = sk_decoder_feed(&d, in + k, 1, collect, &c);
      if (rc != 0)
        fail_msg("max_frame SIZE_MAX - %zu: byte %zu gave %d",
                 SIZE_MAX - maxes[i], k, rc);
    }
    assert_int_equal(c.count, 2);
    expect_msg(&c, 0, "ab", 2);
    expect_msg(&c, 1, "cd", 2);
    assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
    sk_decoder_free(&d);
  }
}

/* With max_frame = SIZE_MAX, a header whose size with the header itself
 * does not fit a size_t is refused; the decoder used to size its buffer
 * from the wrapped sum and write the payload past it (found by
 * fuzz/fuzz_decoder under ASan). */
static void test_decoder_len_claim_past_size_max(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *hdr;
  } cases[] = {
      {"len:8be", "\xff\xff\xff\xff\xff\xff\xff\xff"},
      {"len:8le", "\xfa\xff\xff\xff\xff\xff\xff\xff"}, /* SIZE_MAX - 5 */
      {"len:8be", "\xff\xff\xff\xff\xff\xff\xff\xf8"}, /* SIZE_MAX - 7 */
  };
  char in[8 + 200];
  memset(in, 'p', sizeof in);
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_framing f = framing(cases[i].spec, SIZE_MAX);
    const char *msg = NULL;
    size_t msglen = 0;
    sk_decoder d;
    collector c;
    int rc;

    memcpy(in, cases[i].hdr, 8);
    assert_int_equal(sk_frame_decode(&f, in, sizeof in, &msg, &msglen),
                     SK_EFRAMETOOBIG);
    /* The header in two pieces, then the payload. */
    sk_decoder_init(&d, &f);
    collector_init(&c);
    assert_int_equal(sk_decoder_feed(&d, in, 3, collect, &c), 0);
    rc = sk_decoder_feed(&d, in + 3, 5, collect, &c);
    if (rc == 0)
      rc = sk_decoder_feed(&d, in + 8, sizeof in - 8, collect, &c);
    if (rc != SK_EFRAMETOOBIG)
      fail_msg("case %zu (%s): got %d, expected SK_EFRAMETOOBIG", i,
               cases[i].spec, rc);
    if (d.cap > SMALL_CAP)
      fail_msg("case %zu: cap %zu after a refused header", i, d.cap);
    assert_int_equal(c.count, 0);
    sk_decoder_free(&d);
  }
}

static void test_decoder_cb_stops(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *in;
    size_t len;
  } cases[] = {
      {"line", "one\ntwo\nthree\nfour\n", 19},
      {"len:1",
       "\x03one\x03two\x05three\x04"
       "four",
       19},
      {"len:4le", "\x03\0\0\0one\x03\0\0\0two\x05\0\0\0three", 23},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_framing f = framing(cases[i].spec, 0);
    sk_decoder d;
    collector c;
    sk_decoder_init(&d, &f);
    collector_init(&c);
    c.stop_at = 2;
    c.stop_rc = 7;
    int rc = sk_decoder_feed(&d, cases[i].in, cases[i].len, collect, &c);
    if (rc != 7 || c.count != 2)
      fail_msg("%s: feed = %d after %zu messages, expected 7 after 2",
               cases[i].spec, rc, c.count);
    expect_msg(&c, 0, "one", 3);
    expect_msg(&c, 1, "two", 3);
    sk_decoder_free(&d);

    /* A negative value is passed through as well. */
    sk_decoder_init(&d, &f);
    collector_init(&c);
    c.stop_at = 1;
    c.stop_rc = -42;
    rc = sk_decoder_feed(&d, cases[i].in, cases[i].len, collect, &c);
    if (rc != -42 || c.count != 1)
      fail_msg("%s: feed = %d after %zu messages, expected -42 after 1",
               cases[i].spec, rc, c.count);
    sk_decoder_free(&d);
  }

  sk_framing raw = framing("raw", 0);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &raw);
  collector_init(&c);
  c.stop_at = 1;
  c.stop_rc = 3;
  assert_int_equal(sk_decoder_feed(&d, "abc", 3, collect, &c), 3);
  assert_int_equal(c.count, 1);
  sk_decoder_free(&d);
}

/* max_frame + 1 bytes without '\r' are refused however the line is cut,
 * and a line left over at the end of the stream is checked too. */
static void test_decoder_line_limit_split(void **state) {
  (void)state;
  sk_framing f = framing("line", 4);
  sk_decoder d;
  collector c;

  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, "abcd", 4, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "e", 1, collect, &c), SK_EFRAMETOOBIG);
  assert_int_equal(c.count, 0);
  sk_decoder_free(&d);

  /* The fifth byte may be the '\r' of a line of exactly max_frame. */
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, "abcd", 4, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "\r", 1, collect, &c), 0);
  assert_int_equal(sk_decoder_feed(&d, "\n", 1, collect, &c), 0);
  assert_int_equal(c.count, 1);
  expect_msg(&c, 0, "abcd", 4);
  sk_decoder_free(&d);

  /* At the end of the stream: max_frame is fine, one more is not. */
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, "abcd\r", 5, collect, &c), 0);
  assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
  expect_msg(&c, 0, "abcd", 4);
  sk_decoder_free(&d);
}

static void test_decoder_finish_line(void **state) {
  (void)state;
  sk_framing f = framing("line", 0);
  sk_decoder d;
  collector c;

  /* A trailing line without '\n' is delivered by finish. */
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, "abc\ndef", 7, collect, &c), 0);
  assert_int_equal(c.count, 1);
  assert_int_equal(sk_decoder_pending(&d), 3);
  assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
  assert_int_equal(c.count, 2);
  expect_msg(&c, 0, "abc", 3);
  expect_msg(&c, 1, "def", 3);
  assert_int_equal(sk_decoder_pending(&d), 0);
  sk_decoder_free(&d);

  /* Complete lines only: finish adds no empty message. */
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d, "a\nb\r\n", 5, collect, &c), 0);
  assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
  assert_int_equal(c.count, 2);
  sk_decoder_free(&d);

  /* finish passes the callback's non-zero return through. */
  sk_decoder_init(&d, &f);
  collector_init(&c);
  c.stop_at = 1;
  c.stop_rc = 5;
  assert_int_equal(sk_decoder_feed(&d, "tail", 4, collect, &c), 0);
  assert_int_equal(sk_decoder_finish(&d, collect, &c), 5);
  assert_int_equal(c.count, 1);
  expect_msg(&c, 0, "tail", 4);
  sk_decoder_free(&d);
}

static void test_decoder_finish_truncated(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *in;
    size_t len;
  } cases[] = {
      {"len:4be",
       "\x00\x00\x00\x05"
       "ab",
       6},
      {"len:4be", "\x00\x00", 2},
      {"len:4be", "\x00\x00\x00\x05", 4},
      {"len:1", "\x05", 1},
      /* A whole frame, then a partial one. */
      {"len:2le",
       "\x01\x00"
       "a\x02\x00"
       "b",
       6},
      {"len:8le", "\x03\0\0\0\0\0\0", 7},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_framing f = framing(cases[i].spec, 0);
    sk_decoder d;
    collector c;
    sk_decoder_init(&d, &f);
    collector_init(&c);
    assert_int_equal(
        sk_decoder_feed(&d, cases[i].in, cases[i].len, collect, &c), 0);
    size_t before = c.count;
    int rc = sk_decoder_finish(&d, collect, &c);
    if (rc != SK_ETRUNCATED)
      fail_msg("%s, case %zu: finish = %d, expected SK_ETRUNCATED",
               cases[i].spec, i, rc);
    assert_int_equal(c.count, before);
    sk_decoder_free(&d);
  }
}

static void test_decoder_finish_empty(void **state) {
  (void)state;
  static const char *const specs[] = {"raw", "line", "len:1", "len:4be",
                                      "len:8le"};
  for (size_t i = 0; i < NELEMS(specs); i++) {
    sk_framing f = framing(specs[i], 0);
    sk_decoder d;
    collector c;
    sk_decoder_init(&d, &f);
    collector_init(&c);
    assert_int_equal(sk_decoder_pending(&d), 0);
    assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
    assert_int_equal(c.count, 0);
    sk_decoder_free(&d);

    /* Nor after an empty feed. */
    sk_decoder_init(&d, &f);
    assert_int_equal(sk_decoder_feed(&d, "", 0, collect, &c), 0);
    assert_int_equal(sk_decoder_finish(&d, collect, &c), 0);
    assert_int_equal(c.count, 0);
    sk_decoder_free(&d);
  }
}

/* sk_decoder_free drops the partial frame; the decoder then starts over. */
static void test_decoder_free_and_reuse(void **state) {
  (void)state;
  sk_framing f = framing("len:4be", 0);
  sk_decoder d;
  collector c;
  sk_decoder_init(&d, &f);
  collector_init(&c);
  assert_int_equal(sk_decoder_feed(&d,
                                   "\x00\x00\x00\x05"
                                   "ab",
                                   6, collect, &c),
                   0);
  assert_int_equal(sk_decoder_pending(&d), 6);
  sk_decoder_free(&d);
  assert_int_equal(sk_decoder_pending(&d), 0);
  assert_int_equal(sk_decoder_feed(&d,
                                   "\x00\x00\x00\x01"
                                   "x",
                                   5, collect, &c),
                   0);
  assert_int_equal(c.count, 1);
  expect_msg(&c, 0, "x", 1);
  sk_decoder_free(&d);
  sk_decoder_free(&d); /* twice is harmless */
}

/* --------------------------------------------------------------- sk_buf */

static void test_buf_len(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    size_t len;
    size_t framed;
  } cases[] = {
      {"raw", 5, 5},     {"line", 5, 6}, {"line", 0, 1},     {"len:1", 5, 6},
      {"len:2le", 5, 7}, {"len", 5, 9},  {"len:8be", 5, 13}, {"len:4be", 0, 4},
  };
  for (size_t i = 0; i < NELEMS(cases); i++) {
    sk_framing f = framing(cases[i].spec, 0);
    sk_buf *b = sk_buf_frame(&f, "hello", cases[i].len);
    assert_non_null(b);
    if (sk_buf_len(b) != cases[i].framed)
      fail_msg("%s: sk_buf_len of a %zu byte message = %zu, expected %zu",
               cases[i].spec, cases[i].len, sk_buf_len(b), cases[i].framed);
    sk_buf_unref(b);
  }
}

/* The framed bytes are header + payload + trailer, with the header as the
 * reference encoder (struct.pack) writes it. */
static void test_buf_bytes(void **state) {
  (void)state;
  static const char *const specs[] = {"raw",     "line",    "len:1",
                                      "len:2be", "len:2le", "len:4be",
                                      "len:4le", "len:8be", "len:8le"};
  static const size_t sizes[] = {0, 1, 7, 255};
  char msg[255];
  fill_msg(msg, sizeof msg, 5, 1);
  for (size_t i = 0; i < NELEMS(specs); i++) {
    for (size_t k = 0; k < NELEMS(sizes); k++) {
      sk_framing f = framing(specs[i], 0);
      char want[SK_FRAME_HEADER_MAX + sizeof msg + 1];
      size_t wlen = 0;
      if (f.mode == SK_FRAME_LEN) {
        put_uint(want, f.width, f.little_endian, sizes[k]);
        wlen = f.width;
      }
      memcpy(want + wlen, msg, sizes[k]);
      wlen += sizes[k];
      if (f.mode == SK_FRAME_LINE)
        want[wlen++] = '\n';

      sk_buf *b = sk_buf_frame(&f, msg, sizes[k]);
      assert_non_null(b);
      if (sk_buf_len(b) != wlen || b->len != wlen ||
          memcmp(b->data, want, wlen) != 0)
        fail_msg("%s: framed %zu byte message differs (%zu bytes, expected "
                 "%zu)",
                 specs[i], sizes[k], sk_buf_len(b), wlen);
      sk_buf_unref(b);
    }
  }
}

static void test_buf_too_big(void **state) {
  (void)state;
  char msg[300];
  memset(msg, 'm', sizeof msg);
  sk_framing f1 = framing("len:1", 0);
  assert_null(sk_buf_frame(&f1, msg, 300));
  sk_framing f4 = framing("len:4be", 100);
  assert_null(sk_buf_frame(&f4, msg, 101));
  sk_buf *b = sk_buf_frame(&f4, msg, 100);
  assert_non_null(b);
  assert_int_equal(sk_buf_len(b), 104);
  sk_buf_unref(b);
}

static void test_buf_ref_unref(void **state) {
  (void)state;
  sk_framing f = framing("line", 0);
  sk_buf *b = sk_buf_frame(&f, "hi", 2);
  assert_non_null(b);
  assert_int_equal(b->refs, 1);
  assert_ptr_equal(sk_buf_ref(b), b);
  assert_ptr_equal(sk_buf_ref(b), b);
  assert_int_equal(b->refs, 3);
  sk_buf_unref(b);
  sk_buf_unref(b);
  /* One reference left: still usable, bytes unchanged. */
  assert_int_equal(b->refs, 1);
  assert_int_equal(sk_buf_len(b), 3);
  assert_memory_equal(b->data, "hi\n", 3);
  sk_buf_unref(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_framing_parse_valid),
      cmocka_unit_test(test_framing_parse_invalid),
      cmocka_unit_test(test_framing_format),
      cmocka_unit_test(test_framing_format_truncates),
      cmocka_unit_test(test_header_bytes),
      cmocka_unit_test(test_header_too_big),
      cmocka_unit_test(test_header_raw_line),
      cmocka_unit_test(test_header_line_too_big),
      cmocka_unit_test(test_trailer),
      cmocka_unit_test(test_decode_len_complete),
      cmocka_unit_test(test_decode_len_incomplete),
      cmocka_unit_test(test_decode_len_zero),
      cmocka_unit_test(test_decode_line),
      cmocka_unit_test(test_decode_raw),
      cmocka_unit_test(test_decode_too_big_header),
      cmocka_unit_test(test_decode_max_frame_exact),
      cmocka_unit_test(test_decode_line_too_long),
      cmocka_unit_test(test_decode_streams),
      cmocka_unit_test(test_decoder_every_split),
      cmocka_unit_test(test_decoder_every_3split),
      cmocka_unit_test(test_decoder_bytewise),
      cmocka_unit_test(test_decoder_zero_copy),
      cmocka_unit_test(test_decoder_raw),
      cmocka_unit_test(test_decoder_too_big_header),
      cmocka_unit_test(test_decoder_too_big_after_message),
      cmocka_unit_test(test_decoder_max_frame_exact),
      cmocka_unit_test(test_decoder_line_too_long_pieces),
      cmocka_unit_test(test_decoder_line_max_exact),
      cmocka_unit_test(test_decoder_line_limit_per_line),
      cmocka_unit_test(test_decoder_line_huge_no_alloc),
      cmocka_unit_test(test_decoder_line_unlimited),
      cmocka_unit_test(test_decoder_len_claim_past_size_max),
      cmocka_unit_test(test_decoder_cb_stops),
      cmocka_unit_test(test_decoder_line_limit_split),
      cmocka_unit_test(test_decoder_finish_line),
      cmocka_unit_test(test_decoder_finish_truncated),
      cmocka_unit_test(test_decoder_finish_empty),
      cmocka_unit_test(test_decoder_free_and_reuse),
      cmocka_unit_test(test_buf_len),
      cmocka_unit_test(test_buf_bytes),
      cmocka_unit_test(test_buf_too_big),
      cmocka_unit_test(test_buf_ref_unref),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
