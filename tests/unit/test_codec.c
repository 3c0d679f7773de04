/* test_codec.c -- the codec table: each framing's entry, the one frame
 * builder (sk__frame_bufs), what a datagram carries, a stream's end, and
 * sk_buf_append_frame, which frames into a growing shared buffer.
 *
 * The decoder itself is tested in test_frame.c; here, that every user of
 * a framing (peers, shared buffers, UDP, the services) gets the same bytes
 * from the one table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static sk_framing framing(const char *spec) {
  sk_framing f;

  assert_int_equal(sk_framing_parse(&f, spec), 0);
  return f;
}

/* The bytes the builder makes for msg, joined. */
static size_t built(const sk_framing *f, const char *msg, size_t len,
                    char *out) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  int n = sk__frame_bufs(f, msg, len, hdr, bufs);
  size_t total = 0;

  assert_true(n >= 0 && n <= 3);
  for (int i = 0; i < n; i++) {
    memcpy(out + total, bufs[i].base, bufs[i].len);
    total += bufs[i].len;
  }
  return total;
}

static void test_table_names(void **state) {
  (void)state;
  sk_framing raw = framing("raw"), line = framing("line"),
             len = framing("len:2le");
  assert_string_equal(sk__codec_of(&raw)->name, "raw");
  assert_string_equal(sk__codec_of(&line)->name, "line");
  assert_string_equal(sk__codec_of(&len)->name, "len");
}

static void test_builder(void **state) {
  char out[64];
  sk_framing f;

  (void)state;
  f = framing("raw");
  assert_int_equal(built(&f, "abc", 3, out), 3);
  assert_memory_equal(out, "abc", 3);
  assert_int_equal(built(&f, "", 0, out), 0); /* nothing on a stream */
  f = framing("line");
  assert_int_equal(built(&f, "abc", 3, out), 4);
  assert_memory_equal(out, "abc\n", 4);
  assert_int_equal(built(&f, "", 0, out), 1);
  assert_memory_equal(out, "\n", 1);
  f = framing("len");
  assert_int_equal(built(&f, "abc", 3, out), 7);
  assert_memory_equal(out, "\0\0\0\3abc", 7);
  f = framing("len:2le");
  assert_int_equal(built(&f, "abc", 3, out), 5);
  assert_memory_equal(out, "\3\0abc", 5);
  f = framing("len:8");
  assert_int_equal(built(&f, "", 0, out), 8);
  assert_memory_equal(out, "\0\0\0\0\0\0\0\0", 8);
}

static void test_builder_refuses(void **state) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  sk_framing f = framing("len:1");

  (void)state;
  f.max_frame = 1000; /* over the header's width: 256 does not fit */
  assert_int_equal(sk__frame_bufs(&f, "x", 256, hdr, bufs), SK_EFRAMETOOBIG);
  f = framing("line");
  f.max_frame = 3;
  assert_int_equal(sk__frame_bufs(&f, "abcd", 4, hdr, bufs), SK_EFRAMETOOBIG);
  f.max_frame = SIZE_MAX;
  assert_int_equal(sk__frame_bufs(&f, "x", (size_t)UINT_MAX + 1, hdr, bufs),
                   SK_EFRAMETOOBIG);
}

/* Every user of a framing gets the builder's bytes: a shared buffer too. */
static void test_buf_frame_matches_builder(void **state) {
  static const char *const specs[] = {"raw",   "line",    "len",
                                      "len:1", "len:2le", "len:8be"};
  char out[64];

  (void)state;
  for (size_t i = 0; i < sizeof(specs) / sizeof(*specs); i++) {
    sk_framing f = framing(specs[i]);
    sk_buf *b = sk_buf_frame(&f, "hello", 5);
    size_t n = built(&f, "hello", 5, out);
    assert_non_null(b);
    assert_int_equal(sk_buf_len(b), n);
    assert_memory_equal(b->data, out, n);
    sk_buf_unref(b);
  }
}

static void test_append_frame(void **state) {
  sk_framing f = framing("len:2");
  sk_buf *b = NULL;
  uv_buf_t parts[3] = {uv_buf_init("bob", 3), uv_buf_init(": ", 2),
                       uv_buf_init("hi", 2)};
  char want[9 * 1000];
  size_t wlen = 0;

  (void)state;
  /* Many appends: the buffer grows and keeps every frame in order. */
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(sk_buf_append_frame(&b, &f, parts, 3), 0);
    memcpy(want + wlen, "\0\7bob: hi", 9);
    wlen += 9;
  }
  assert_int_equal(sk_buf_len(b), wlen);
  assert_memory_equal(b->data, want, wlen);
  /* A refused frame leaves the buffer as it was. */
  f.max_frame = 4;
  assert_int_equal(sk_buf_append_frame(&b, &f, parts, 3), SK_EFRAMETOOBIG);
  assert_int_equal(sk_buf_len(b), wlen);
  sk_buf_unref(b);
  /* Line framing puts the trailer after all the parts. */
  b = NULL;
  f = framing("line");
  assert_int_equal(sk_buf_append_frame(&b, &f, parts, 3), 0);
  assert_int_equal(sk_buf_len(b), 8);
  assert_memory_equal(b->data, "bob: hi\n", 8);
  sk_buf_unref(b);
}

static void test_datagram(void **state) {
  sk_framing line = framing("line"), raw = framing("raw");

  (void)state;
  assert_int_equal(sk__frame_datagram(&line, "abc\n", 4), 3);
  assert_int_equal(sk__frame_datagram(&line, "abc\r\n", 5), 3);
  assert_int_equal(sk__frame_datagram(&line, "abc", 3), 3);
  assert_int_equal(sk__frame_datagram(&line, "\n", 1), 0);
  assert_int_equal(sk__frame_datagram(&line, "a\n\n", 3), 2); /* one only */
  assert_int_equal(sk__frame_datagram(&raw, "abc\n", 4), 4);
}

static void test_finish(void **state) {
  sk_framing line = framing("line"), len = framing("len");
  size_t n = 0;

  (void)state;
  assert_int_equal(sk__codec_of(&line)->finish(&line, "tail\r", 5, &n), 1);
  assert_int_equal(n, 4);
  assert_int_equal(sk__codec_of(&len)->finish(&len, "\0\0", 2, &n),
                   SK_ETRUNCATED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_names),
      cmocka_unit_test(test_builder),
      cmocka_unit_test(test_builder_refuses),
      cmocka_unit_test(test_buf_frame_matches_builder),
      cmocka_unit_test(test_append_frame),
      cmocka_unit_test(test_datagram),
      cmocka_unit_test(test_finish),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
