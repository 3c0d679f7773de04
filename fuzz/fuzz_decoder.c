/* fuzz_decoder.c -- libFuzzer harness for the framing decoder.
 *
 * An input is a small header that picks the framing and the limits, then
 * the byte stream to decode:
 *
 *   byte 0      the framing: raw, line, len:1be/le, 2be/le, 4be/le, 8be/le
 *   bytes 1-2   max_frame (see pick_max_frame)
 *   byte 3      the message at which the callback asks to stop, or never
 *   byte 4      how many cut lengths follow (0-15; 0 = one byte at a time)
 *   then        the cut lengths, one byte each (0 feeds an empty piece)
 *   the rest    the stream
 *
 * The stream is decoded twice, all at once and in pieces cut at the chosen
 * lengths (each piece in its own exactly sized heap copy, so that reading
 * past a piece is caught by ASan), and both runs are checked against a
 * plain reference decoder written from include/sockit.h: the same
 * messages in the same order, nothing over max_frame, errors at the
 * documented point ("as soon as the header, or for lines the bytes so
 * far, exceed max_frame"), the documented pending bytes after every feed
 * and the documented result of sk_decoder_finish.
 *
 * Every allocation the decoder makes goes through the __wrap_ functions
 * below (the harness is linked with -Wl,--wrap=malloc,...): a request
 * above max_frame + ALLOC_SLACK is a bug and aborts; a request above
 * ALLOC_GRANT that the limits allow is refused as if memory ran out, so
 * that a huge max_frame can be fuzzed too, and the decoder must then
 * report UV_ENOMEM.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

#define ALLOC_SLACK (SK_FRAME_HEADER_MAX + 64) /* header, '\r\n', minimum */
#define ALLOC_GRANT ((size_t)64 << 10)         /* larger: refused */
#define STOP_RC 4242 /* what the callback returns to stop; not an error */
/* Longer inputs are skipped: below half of ALLOC_GRANT, every frame that
 * needs more than ALLOC_GRANT is one the stream cannot complete, so the
 * two runs meet a refused allocation at the same point. */
#define INPUT_MAX (ALLOC_GRANT / 2)

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fuzz_decoder: " __VA_ARGS__);                             \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* ---------------------------------------------------------- allocations */

static struct {
  bool on;        /* the decoder is running: check its requests */
  size_t limit;   /* max_frame + ALLOC_SLACK, saturated */
  size_t refused; /* requests refused since reset */
} alloc;

/* Whether the decoder may have n bytes. */
static bool alloc_allowed(size_t n) {
  if (!alloc.on)
    return true;
  if (n > alloc.limit)
    FAIL("the decoder asked for %zu bytes, over max_frame + %d = %zu", n,
         ALLOC_SLACK, alloc.limit);
  if (n > ALLOC_GRANT) {
    alloc.refused++;
    return false;
  }
  return true;
}

void *__wrap_malloc(size_t n) {
  return alloc_allowed(n) ? __real_malloc(n) : NULL;
}

void *__wrap_calloc(size_t n, size_t m) {
  if (m != 0 && n > SIZE_MAX / m)
    return NULL;
  return alloc_allowed(n * m) ? __real_calloc(n, m) : NULL;
}

void *__wrap_realloc(void *p, size_t n) {
  return alloc_allowed(n) ? __real_realloc(p, n) : NULL;
}

/* --------------------------------------------------------- the input */

static const char *const specs[] = {
    "raw",     "line",    "len:1be", "len:1le", "len:2be",
    "len:2le", "len:4be", "len:4le", "len:8be", "len:8le",
};

typedef struct config {
  sk_framing f;
  size_t stop_at; /* 1-based message number; 0 = never stop */
  const uint8_t *cuts;
  size_t ncuts;
  const uint8_t *stream;
  size_t len;
} config;

/* Small limits, powers of two and their neighbours (the header widths'
 * edges among them), mid-sized ones, and the largest a size_t holds. */
static size_t pick_max_frame(uint8_t kind, uint8_t v) {
  switch (kind % 4) {
  case 0:
    return v;
  case 1: {
    size_t p = (size_t)1 << (v % 34);
    return p - 1 + (size_t)(v / 34) % 3;
  }
  case 2:
    return (size_t)v * 257;
  default:
    return SIZE_MAX - v % 20;
  }
}

static bool config_read(config *c, const uint8_t *data, size_t size) {
  sk_framing g;
  char spec[16];
  size_t at = 5;

  if (size < at)
    return false;
  if (sk_framing_parse(&c->f, specs[data[0] % 10]) != 0)
    FAIL("sk_framing_parse(\"%s\") failed", specs[data[0] % 10]);
  /* The canonical spec parses back to the same framing. */
  sk_framing_format(&c->f, spec, sizeof spec);
  if (sk_framing_parse(&g, spec) != 0 || g.mode != c->f.mode ||
      g.width != c->f.width || g.little_endian != c->f.little_endian)
    FAIL("\"%s\" does not parse back to the framing of \"%s\"", spec,
         specs[data[0] % 10]);
  c->f.max_frame = pick_max_frame(data[1], data[2]);
  c->stop_at = data[3] < 128 ? 0 : (size_t)(data[3] - 128) % 16 + 1;
  c->ncuts = data[4] % 16;
  if (size < at + c->ncuts)
    return false;
  c->cuts = data + at;
  c->stream = data + at + c->ncuts;
  c->len = size - at - c->ncuts;
  return true;
}

/* ------------------------------------------------- the reference model */

typedef struct frame {
  size_t start; /* first byte of the frame in the stream */
  size_t off;   /* first byte of the message */
  size_t len;   /* message bytes */
  size_t end;   /* just past the frame */
} frame;

typedef struct model {
  frame *frames;  /* the complete frames, in order */
  size_t n;       /* how many */
  int err;        /* SK_EFRAMETOOBIG, or 0 */
  size_t err_at;  /* the shortest prefix of the stream that shows err */
  size_t tail;    /* where the partial frame at the end starts */
  size_t soft_at; /* a frame bigger than ALLOC_GRANT is announced here */
  bool soft_big;  /* ... and its size overflows a size_t with the header */
} model;

/* The header's value, read byte by byte as in Python's struct.unpack. */
static uint64_t ref_header(const sk_framing *f, const uint8_t *b) {
  uint64_t v = 0;
  for (unsigned i = 0; i < f->width; i++) {
    unsigned k = f->little_endian ? f->width - 1 - i : i;
    v = v << 8 | b[k];
  }
  return v;
}

static void model_add(model *m, size_t start, size_t off, size_t len,
                      size_t end) {
  m->frames[m->n++] = (frame){start, off, len, end};
}

/* One line starting at *s; false when the stream ends or fails there. */
static bool model_line(model *m, const config *c, size_t *s) {
  const uint8_t *b = c->stream;
  size_t max = c->f.max_frame;

  for (size_t p = *s; p < c->len; p++) {
    size_t so_far = p - *s + 1; /* bytes of the line up to b[p] */
    if (b[p] == '\n') {
      size_t n = so_far - 1;
      if (n > 0 && b[p - 1] == '\r')
        n--;
      if (n > max) {
        m->err = SK_EFRAMETOOBIG;
        m->err_at = p + 1;
        return false;
      }
      model_add(m, *s, *s, n, p + 1);
      *s = p + 1;
      return true;
    }
    /* A line may hold max bytes and then the '\r' that ends it. */
    if (so_far > max && (so_far - 1 > max || b[p] != '\r')) {
      m->err = SK_EFRAMETOOBIG;
      m->err_at = p + 1;
      return false;
    }
  }
  return false;
}

/* One length-prefixed frame starting at *s. */
static bool model_len(model *m, const config *c, size_t *s) {
  size_t w = c->f.width, left = c->len - *s;
  uint64_t v;

  if (left < w)
    return false;
  v = ref_header(&c->f, c->stream + *s);
  if (v > c->f.max_frame) {
    m->err = SK_EFRAMETOOBIG;
    m->err_at = *s + w;
    return false;
  }
  if (v > left - w) {
    if (v > ALLOC_GRANT - w) {
      m->soft_at = *s + w;
      m->soft_big = v > SIZE_MAX - w - ALLOC_SLACK;
    }
    return false;
  }
  model_add(m, *s, *s + w, (size_t)v, *s + w + (size_t)v);
  *s += w + (size_t)v;
  return true;
}

static void model_build(model *m, const config *c) {
  size_t s = 0;

  memset(m, 0, sizeof *m);
  m->frames = malloc((c->len + 1) * sizeof *m->frames);
  if (m->frames == NULL)
    abort();
  if (c->f.mode == SK_FRAME_RAW) {
    m->tail = c->len; /* raw messages are the pieces themselves */
    return;
  }
  while (s < c->len && (c->f.mode == SK_FRAME_LINE ? model_line(m, c, &s)
                                                   : model_len(m, c, &s)))
    ;
  m->tail = s;
}

/* Bytes the decoder holds after the first p bytes, before any error.
 * Calls come with p growing: *next is the first frame not yet ended. */
static size_t model_pending(const model *m, const config *c, size_t p,
                            size_t *next) {
  size_t last = 0;

  if (c->f.mode == SK_FRAME_RAW)
    return 0;
  while (*next < m->n && m->frames[*next].end <= p)
    (*next)++;
  if (*next > 0)
    last = m->frames[*next - 1].end;
  return p - last;
}

/* ------------------------------------------------------------- a run */

typedef struct run {
  const config *c;
  const char *name;
  size_t count;     /* messages delivered */
  size_t *msg_off;  /* message i is bytes[msg_off[i] .. +msg_len[i]) */
  size_t *msg_len;  /* ... */
  const char **msg; /* where the decoder handed it over */
  uint8_t *bytes;   /* every delivered byte, in order */
  size_t used;      /* bytes in it */
  size_t max_count; /* room in the arrays */
  bool stopped;     /* the callback asked to stop */
  int rc;           /* the first non-zero feed result, else finish's */
  bool rc_from_finish;
  size_t rc_from, rc_to; /* the stream bytes of the feed that gave rc */
  size_t refused;        /* allocations refused during the run */
} run;

static void run_init(run *r, const config *c, const char *name) {
  memset(r, 0, sizeof *r);
  r->c = c;
  r->name = name;
  r->max_count = c->len + 2;
  r->msg_off = malloc(r->max_count * sizeof *r->msg_off);
  r->msg_len = malloc(r->max_count * sizeof *r->msg_len);
  r->msg = malloc(r->max_count * sizeof *r->msg);
  r->bytes = malloc(c->len + 1);
  if (!r->msg_off || !r->msg_len || !r->msg || !r->bytes)
    abort();
}

static void run_free(run *r) {
  free(r->msg_off);
  free(r->msg_len);
  free(r->msg);
  free(r->bytes);
}

static int on_message(void *arg, const char *msg, size_t len) {
  run *r = arg;
  const sk_framing *f = &r->c->f;

  if (r->stopped)
    FAIL("%s: a message after the callback asked to stop", r->name);
  if (len > 0 && msg == NULL)
    FAIL("%s: a %zu-byte message at NULL", r->name, len);
  /* Raw messages are whatever one read brings: max_frame bounds the
   * framed modes only (sk_frame_decode's comment). */
  if (f->mode != SK_FRAME_RAW && len > f->max_frame)
    FAIL("%s: a %zu-byte message, over max_frame %zu", r->name, len,
         f->max_frame);
  if (r->count >= r->max_count || len > r->c->len - r->used)
    FAIL("%s: more messages or bytes than the %zu-byte stream holds", r->name,
         r->c->len);
  if (len > 0)
    memcpy(r->bytes + r->used, msg, len);
  r->msg_off[r->count] = r->used;
  r->msg_len[r->count] = len;
  r->msg[r->count] = msg;
  r->used += len;
  r->count++;
  if (r->c->stop_at != 0 && r->count == r->c->stop_at) {
    r->stopped = true;
    return STOP_RC;
  }
  return 0;
}

static void alloc_track(const config *c) {
  alloc.limit = c->f.max_frame > SIZE_MAX - ALLOC_SLACK
                    ? SIZE_MAX
                    : c->f.max_frame + ALLOC_SLACK;
  alloc.refused = 0;
  alloc.on = true;
}

static void alloc_untrack(run *r) {
  alloc.on = false;
  r->refused += alloc.refused;
}

/* Feeds the stream in one call, then finishes.  The decoder is reused
 * after sk_decoder_free, which the header allows. */
static void run_whole(run *r, sk_decoder *d) {
  const config *c = r->c;

  alloc_track(c);
  r->rc = sk_decoder_feed(d, (const char *)c->stream, c->len, on_message, r);
  r->rc_to = c->len;
  if (r->rc == 0) {
    r->rc = sk_decoder_finish(d, on_message, r);
    r->rc_from_finish = true;
  }
  alloc_untrack(r);
  sk_decoder_free(d);
}

/* The length of piece i (cycling through the cuts). */
static size_t piece_len(const config *c, size_t i, bool any_cut) {
  if (c->ncuts == 0 || !any_cut)
    return 1;
  return c->cuts[i % c->ncuts];
}

/* Feeds the stream in pieces, each in its own heap copy, checking the
 * pending bytes after each; records the pieces for raw framing. */
static void run_pieces(run *r, sk_decoder *d, const model *m, frame *pieces,
                       size_t *npieces) {
  const config *c = r->c;
  bool any_cut = false;
  size_t at = 0, next = 0, want;

  for (size_t i = 0; i < c->ncuts; i++)
    any_cut |= c->cuts[i] != 0;
  *npieces = 0;
  for (size_t i = 0; at < c->len; i++) {
    size_t n = piece_len(c, i, any_cut);
    char *copy;
    int rc;

    n = n < c->len - at ? n : c->len - at;
    copy = malloc(n);
    if (copy == NULL)
      abort();
    memcpy(copy, c->stream + at, n);
    if (n > 0)
      pieces[(*npieces)++] = (frame){at, at, n, at + n};
    alloc_track(c);
    rc = sk_decoder_feed(d, copy, n, on_message, r);
    alloc_untrack(r);
    free(copy);
    if (rc != 0) {
      r->rc = rc;
      r->rc_from = at;
      r->rc_to = at + n;
      sk_decoder_free(d);
      return;
    }
    at += n;
    want = model_pending(m, c, at, &next);
    if (sk_decoder_pending(d) != want)
      FAIL("pieces: %zu bytes pending after %zu stream bytes, expected %zu",
           sk_decoder_pending(d), at, want);
  }
  alloc_track(c);
  r->rc = sk_decoder_finish(d, on_message, r);
  r->rc_from_finish = true;
  alloc_untrack(r);
  if (sk_decoder_pending(d) != 0)
    FAIL("pieces: %zu bytes pending after finish", sk_decoder_pending(d));
  sk_decoder_free(d);
}

/* ------------------------------------------------------------ checking */

/* Message i of r is exactly the bytes expected[i] of the stream. */
static void check_message(const run *r, size_t i, const frame *want) {
  if (r->msg_len[i] != want->len ||
      memcmp(r->bytes + r->msg_off[i], r->c->stream + want->off, want->len))
    FAIL("%s: message %zu has %zu bytes, expected the %zu bytes at stream "
         "offset %zu",
         r->name, i, r->msg_len[i], want->len, want->off);
}

/* The frames a run should deliver in order, what follows them, and what
 * the run reports. */
typedef struct expect {
  const frame *frames;
  size_t n;
  bool final_line; /* finish delivers the unterminated line at tail */
  int finish_rc;
} expect;

static void check_stop(const run *r, const expect *e) {
  size_t k = r->c->stop_at;

  if (r->count != k || r->rc != STOP_RC)
    FAIL("%s: the callback stopped at message %zu, but the run delivered "
         "%zu and returned %d, not %d",
         r->name, k, r->count, r->rc, STOP_RC);
  if (k <= e->n && (r->rc_from_finish || e->frames[k - 1].end <= r->rc_from ||
                    e->frames[k - 1].end > r->rc_to))
    FAIL("%s: the stop came from stream bytes [%zu, %zu), not from the feed "
         "that completed message %zu",
         r->name, r->rc_from, r->rc_to, k);
  if (k == e->n + 1 && !r->rc_from_finish)
    FAIL("%s: the stop on the final line did not come from finish", r->name);
}

static void check_error(const run *r, const model *m) {
  if (r->rc != m->err || r->rc_from_finish || r->rc_from >= m->err_at ||
      r->rc_to < m->err_at)
    FAIL("%s: expected SK_EFRAMETOOBIG from the feed holding stream byte "
         "%zu; got %d from [%zu, %zu)%s",
         r->name, m->err_at - 1, r->rc, r->rc_from, r->rc_to,
         r->rc_from_finish ? " (finish)" : "");
}

/* A frame too big to allocate here was announced at m->soft_at: the
 * decoder may report UV_ENOMEM (or SK_EFRAMETOOBIG when its size does
 * not fit a size_t) from then on, or keep it as a partial frame. */
static bool check_soft(const run *r, const model *m) {
  if (m->soft_at == 0 || r->rc_from_finish || r->rc == 0)
    return false;
  if (r->rc == UV_ENOMEM && r->refused == 0)
    FAIL("%s: UV_ENOMEM without a refused allocation", r->name);
  if (r->rc != UV_ENOMEM && !(r->rc == SK_EFRAMETOOBIG && m->soft_big))
    FAIL("%s: %d after a frame of a size the limits allow", r->name, r->rc);
  if (r->rc_to < m->soft_at)
    FAIL("%s: %d before the big frame's header was complete", r->name, r->rc);
  return true;
}

static void check_run(const run *r, const model *m, const expect *e) {
  size_t total = e->n + (e->final_line ? 1 : 0);
  size_t k = r->c->stop_at;

  for (size_t i = 0; i < r->count && i < e->n; i++)
    check_message(r, i, &e->frames[i]);
  if (r->count == e->n + 1 && e->final_line) {
    const uint8_t *t = r->c->stream + m->tail;
    size_t n = r->c->len - m->tail;
    if (t[n - 1] == '\r')
      n--;
    frame last = {m->tail, m->tail, n, r->c->len};
    check_message(r, e->n, &last);
  }
  if (k != 0 && k <= total) {
    check_stop(r, e);
    return;
  }
  if (r->rc == 0 && r->refused != 0 && m->soft_at == 0)
    FAIL("%s: allocations refused, yet no error", r->name);
  if (m->err != 0) {
    if (r->count != e->n)
      FAIL("%s: %zu messages before the error, expected %zu", r->name, r->count,
           e->n);
    check_error(r, m);
    return;
  }
  if (check_soft(r, m)) {
    if (r->count != e->n)
      FAIL("%s: %zu messages before the big frame, expected %zu", r->name,
           r->count, e->n);
    return;
  }
  if (r->count != total || r->rc != e->finish_rc || !r->rc_from_finish)
    FAIL("%s: %zu messages and %d%s, expected %zu and %d from finish", r->name,
         r->count, r->rc, r->rc_from_finish ? " from finish" : "", total,
         e->finish_rc);
}

/* What finish gives when the stream ends without an error. */
static expect expect_framed(const model *m, const config *c) {
  expect e = {m->frames, m->n, false, 0};

  if (m->err != 0 || m->tail == c->len)
    return e;
  if (c->f.mode == SK_FRAME_LINE)
    e.final_line = true;
  else
    e.finish_rc = SK_ETRUNCATED;
  return e;
}

/* Every message decoded in one call is handed over from the caller's
 * buffer itself, not copied (the header's promise). */
static void check_zero_copy(const run *r, const expect *e) {
  for (size_t i = 0; i < r->count && i < e->n; i++)
    if (r->msg[i] != (const char *)r->c->stream + e->frames[i].off)
      FAIL("whole: message %zu was copied, not passed from the input", i);
}

/* The two runs agree with each other, beyond agreeing with the model. */
static void check_same(const run *a, const run *b) {
  if (a->used != b->used || memcmp(a->bytes, b->bytes, a->used) != 0)
    FAIL("whole and pieces delivered different bytes (%zu and %zu)", a->used,
         b->used);
  if (a->c->f.mode == SK_FRAME_RAW)
    return;
  if (a->count != b->count || a->rc != b->rc)
    FAIL("whole: %zu messages and %d; pieces: %zu messages and %d", a->count,
         a->rc, b->count, b->rc);
  for (size_t i = 0; i < a->count; i++)
    if (a->msg_len[i] != b->msg_len[i])
      FAIL("message %zu: %zu bytes whole, %zu in pieces", i, a->msg_len[i],
           b->msg_len[i]);
}

/* The pure decoder on each frame alone, and on the frame less its last
 * byte; and the encoder frames each message so that it decodes back. */
static void check_pure(const config *c, const model *m) {
  const sk_framing *f = &c->f;
  char hdr[SK_FRAME_HEADER_MAX], *buf;
  const char *msg;
  size_t msglen, tlen;
  const char *trailer = sk_frame_trailer(f, &tlen);

  for (size_t i = 0; i < m->n; i++) {
    const frame *fr = &m->frames[i];
    const char *s = (const char *)c->stream + fr->start;
    size_t n = fr->end - fr->start;
    long got = sk_frame_decode(f, s, n, &msg, &msglen);
    int h;

    if (got != (long)n || msg != (const char *)c->stream + fr->off ||
        msglen != fr->len)
      FAIL("sk_frame_decode of frame %zu alone: %ld, expected %zu", i, got, n);
    if (sk_frame_decode(f, s, n - 1, &msg, &msglen) != 0)
      FAIL("sk_frame_decode of frame %zu less a byte is not 0", i);
    if (f->mode == SK_FRAME_LINE && fr->len > 0 &&
        c->stream[fr->off + fr->len - 1] == '\r')
      continue; /* a line cannot carry a final '\r' */
    h = sk_frame_header(f, fr->len, hdr);
    if (h != (f->mode == SK_FRAME_LEN ? (int)f->width : 0))
      FAIL("sk_frame_header(%zu) = %d", fr->len, h);
    buf = malloc((size_t)h + fr->len + tlen);
    if (buf == NULL)
      abort();
    memcpy(buf, hdr, (size_t)h);
    memcpy(buf + h, c->stream + fr->off, fr->len);
    memcpy(buf + h + fr->len, trailer, tlen);
    got = sk_frame_decode(f, buf, (size_t)h + fr->len + tlen, &msg, &msglen);
    if (got != (long)((size_t)h + fr->len + tlen) || msglen != fr->len ||
        memcmp(msg, c->stream + fr->off, fr->len) != 0)
      FAIL("message %zu framed by sk_frame_header does not decode back", i);
    free(buf);
  }
  if (f->max_frame < SIZE_MAX &&
      sk_frame_header(f, f->max_frame + 1, hdr) != SK_EFRAMETOOBIG)
    FAIL("sk_frame_header accepts max_frame + 1");
  if (f->mode == SK_FRAME_LEN && f->width < 8 &&
      sk_frame_header(f, (size_t)1 << 8 * f->width, hdr) != SK_EFRAMETOOBIG)
    FAIL("sk_frame_header accepts a length wider than the header");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  config c;
  model m;
  run whole, pieces;
  sk_decoder d;
  frame *cuts, all;
  size_t ncut;
  expect e;

  if (size > INPUT_MAX || !config_read(&c, data, size))
    return 0;
  model_build(&m, &c);
  all = (frame){0, 0, c.len, c.len}; /* the one raw message of "whole" */
  cuts = malloc((c.len + 1) * sizeof *cuts);
  if (cuts == NULL)
    abort();

  run_init(&pieces, &c, "pieces");
  sk_decoder_init(&d, &c.f);
  run_pieces(&pieces, &d, &m, cuts, &ncut);
  run_init(&whole, &c, "whole");
  run_whole(&whole, &d);

  if (c.f.mode == SK_FRAME_RAW) {
    expect ew = {&all, c.len > 0 ? 1 : 0, false, 0};
    expect ep = {cuts, ncut, false, 0};
    check_run(&whole, &m, &ew);
    check_run(&pieces, &m, &ep);
    e = ew;
  } else {
    e = expect_framed(&m, &c);
    check_run(&whole, &m, &e);
    check_run(&pieces, &m, &e);
    check_pure(&c, &m);
  }
  check_zero_copy(&whole, &e);
  if (!whole.stopped && !pieces.stopped)
    check_same(&whole, &pieces);

  run_free(&whole);
  run_free(&pieces);
  free(cuts);
  free(m.frames);
  return 0;
}
