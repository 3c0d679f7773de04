/* frame.c -- the framing codec: pure, incremental, no I/O.
 *
 * The decoder hands out complete frames straight from the caller's buffer
 * and copies only a frame that is cut by the end of a read.  That copy is
 * the one allocation, it is sized from a length header only after the
 * header was checked against max_frame, and it is released as soon as the
 * frame completes, so an idle stream holds no decoder memory.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sk_framing_parse(sk_framing *out, const char *spec) {
  const char *p;

  memset(out, 0, sizeof(*out));
  out->max_frame = SK_MAX_FRAME_DEFAULT;
  if (spec == NULL)
    return SK_EBADFRAMING;
  if (strcmp(spec, "raw") == 0) {
    out->mode = SK_FRAME_RAW;
    return 0;
  }
  if (strcmp(spec, "line") == 0) {
    out->mode = SK_FRAME_LINE;
    return 0;
  }
  if (strncmp(spec, "len", 3) != 0)
    return SK_EBADFRAMING;
  out->mode = SK_FRAME_LEN;
  out->width = 4;
  p = spec + 3;
  if (*p == '\0')
    return 0;
  if (*p++ != ':')
    return SK_EBADFRAMING;
  switch (*p++) {
  case '1':
    out->width = 1;
    break;
  case '2':
    out->width = 2;
    break;
  case '4':
    out->width = 4;
    break;
  case '8':
    out->width = 8;
    break;
  default:
    return SK_EBADFRAMING;
  }
  if (*p == '\0' || strcmp(p, "be") == 0)
    return 0;
  if (strcmp(p, "le") == 0) {
    out->little_endian = 1;
    return 0;
  }
  return SK_EBADFRAMING;
}

int sk_framing_format(const sk_framing *f, char *buf, size_t size) {
  switch (f->mode) {
  case SK_FRAME_LINE:
    return snprintf(buf, size, "line");
  case SK_FRAME_LEN:
    return snprintf(buf, size, "len:%u%s", f->width,
                    f->little_endian ? "le" : "be");
  default:
    return snprintf(buf, size, "raw");
  }
}

static uint64_t header_value(const sk_framing *f, const char *buf) {
  const unsigned char *b = (const unsigned char *)buf;
  uint64_t v = 0;

  if (f->little_endian)
    for (unsigned i = f->width; i > 0; i--)
      v = (v << 8) | b[i - 1];
  else
    for (unsigned i = 0; i < f->width; i++)
      v = (v << 8) | b[i];
  return v;
}

/* The largest payload the decoder accepts: max_frame, lowered when it is
 * so close to SIZE_MAX that a header or a line's "\r\n" added to it would
 * wrap around (a caller may well set SIZE_MAX for "no limit").  A frame
 * bigger than that could not be held in memory anyway: such a header gives
 * SK_EFRAMETOOBIG. */
static size_t frame_limit(const sk_framing *f) {
  const size_t top = SIZE_MAX - SK_FRAME_HEADER_MAX - 2;
  return f->max_frame < top ? f->max_frame : top;
}

/* A line may grow to the limit plus the '\r' it may end with. */
static bool line_too_long(const sk_framing *f, const char *buf, size_t len) {
  size_t max = frame_limit(f);

  if (len <= max)
    return false;
  return len > max + 1 || buf[len - 1] != '\r';
}

/* ------------------------------------------------------------- codecs */

static long len_decode(const sk_framing *f, const char *buf, size_t len,
                       const char **msg, size_t *msglen) {
  uint64_t v;

  if (len < f->width)
    return 0;
  v = header_value(f, buf);
  if (v > frame_limit(f))
    return SK_EFRAMETOOBIG;
  if (len - f->width < v)
    return 0;
  *msg = buf + f->width;
  *msglen = (size_t)v;
  return (long)(f->width + v);
}

/* A line without its end ("\n" or "\r\n"): the one line-end stripper. */
static size_t line_strip(const char *buf, size_t n) {
  if (n > 0 && buf[n - 1] == '\n')
    n--;
  if (n > 0 && buf[n - 1] == '\r')
    n--;
  return n;
}

static long line_decode(const sk_framing *f, const char *buf, size_t len,
                        const char **msg, size_t *msglen) {
  const char *nl = memchr(buf, '\n', len);
  size_t n;

  if (nl == NULL)
    return line_too_long(f, buf, len) ? SK_EFRAMETOOBIG : 0;
  n = line_strip(buf, (size_t)(nl - buf) + 1);
  if (n > frame_limit(f))
    return SK_EFRAMETOOBIG;
  *msg = buf;
  *msglen = n;
  return (long)(nl - buf + 1);
}

static long raw_decode(const sk_framing *f, const char *buf, size_t len,
                       const char **msg, size_t *msglen) {
  (void)f;
  if (len == 0)
    return 0;
  *msg = buf;
  *msglen = len;
  return (long)len;
}

static int len_header(const sk_framing *f, size_t len,
                      char out[SK_FRAME_HEADER_MAX]) {
  uint64_t v = len;

  if (f->width < 8 && v >> (8 * f->width) != 0)
    return SK_EFRAMETOOBIG;
  for (unsigned i = 0; i < f->width; i++) {
    unsigned shift = 8 * (f->little_endian ? i : f->width - 1 - i);
    out[i] = (char)(unsigned char)(v >> shift);
  }
  return (int)f->width;
}

static int no_header(const sk_framing *f, size_t len,
                     char out[SK_FRAME_HEADER_MAX]) {
  (void)f;
  (void)len;
  (void)out;
  return 0;
}

/* A stream's end with bytes of a frame still held: a line without its
 * "\n" is a line; part of a length-prefixed frame is a truncation. */
static int line_finish(const sk_framing *f, const char *rest, size_t n,
                       size_t *msglen) {
  if (rest[n - 1] == '\r')
    n--;
  if (n > frame_limit(f))
    return SK_EFRAMETOOBIG;
  *msglen = n;
  return 1;
}

static int truncated_finish(const sk_framing *f, const char *rest, size_t n,
                            size_t *msglen) {
  (void)f;
  (void)rest;
  (void)n;
  (void)msglen;
  return SK_ETRUNCATED;
}

static size_t line_datagram(const sk_framing *f, const char *data, size_t len) {
  (void)f;
  return line_strip(data, len);
}

static size_t whole_datagram(const sk_framing *f, const char *data,
                             size_t len) {
  (void)f;
  (void)data;
  return len;
}

/* The framings, one table each.  A new message format is one more entry
 * here (and its mode in sockit.h); nothing else switches on the mode. */
static const sk__codec codecs[] = {
    [SK_FRAME_RAW] =
        {
            .name = "raw",
            .decode = raw_decode,
            .header = no_header,
            .trailer = "",
            .trailer_len = 0,
            .finish = truncated_finish,
            .datagram = whole_datagram,
        },
    [SK_FRAME_LINE] =
        {
            .name = "line",
            .decode = line_decode,
            .header = no_header,
            .trailer = "\n",
            .trailer_len = 1,
            .finish = line_finish,
            .datagram = line_datagram,
        },
    [SK_FRAME_LEN] =
        {
            .name = "len",
            .decode = len_decode,
            .header = len_header,
            .trailer = "",
            .trailer_len = 0,
            .finish = truncated_finish,
            .datagram = whole_datagram,
        },
};

const sk__codec *sk__codec_of(const sk_framing *f) {
  return &codecs[(unsigned)f->mode < 3 ? f->mode : SK_FRAME_RAW];
}

long sk_frame_decode(const sk_framing *f, const char *buf, size_t len,
                     const char **msg, size_t *msglen) {
  return sk__codec_of(f)->decode(f, buf, len, msg, msglen);
}

int sk_frame_header(const sk_framing *f, size_t len,
                    char out[SK_FRAME_HEADER_MAX]) {
  if (len > f->max_frame)
    return SK_EFRAMETOOBIG;
  return sk__codec_of(f)->header(f, len, out);
}

const char *sk_frame_trailer(const sk_framing *f, size_t *len) {
  *len = sk__codec_of(f)->trailer_len;
  return sk__codec_of(f)->trailer;
}

int sk__frame_bufs(const sk_framing *f, const void *msg, size_t len,
                   char hdr[SK_FRAME_HEADER_MAX], uv_buf_t bufs[3]) {
  const sk__codec *c = sk__codec_of(f);
  int hlen = sk_frame_header(f, len, hdr), n = 0;

  if (hlen < 0)
    return hlen;
  if (len > UINT_MAX) /* a uv_buf_t holds at most that */
    return SK_EFRAMETOOBIG;
  if (hlen > 0)
    bufs[n++] = uv_buf_init(hdr, (unsigned)hlen);
  if (len > 0)
    bufs[n++] = uv_buf_init((char *)msg, (unsigned)len);
  if (c->trailer_len > 0)
    bufs[n++] = uv_buf_init((char *)c->trailer, (unsigned)c->trailer_len);
  return n;
}

size_t sk__frame_datagram(const sk_framing *f, const char *data, size_t len) {
  return sk__codec_of(f)->datagram(f, data, len);
}

/* ------------------------------------------------------------- decoder */

void sk_decoder_init(sk_decoder *d, const sk_framing *f) {
  memset(d, 0, sizeof(*d));
  d->framing = *f;
}

void sk_decoder_free(sk_decoder *d) {
  free(d->buf);
  d->buf = NULL;
  d->len = 0;
  d->cap = 0;
}

size_t sk_decoder_pending(const sk_decoder *d) {
  return d->len;
}

/* Makes room for want bytes in total.  Callers check want against
 * max_frame first, so what a peer claims never sizes an allocation. */
static int reserve(sk_decoder *d, size_t want) {
  size_t cap, limit = frame_limit(&d->framing) + 2;
  char *p;

  if (want <= d->cap)
    return 0;
  if (d->framing.mode == SK_FRAME_LEN) {
    cap = want < 64 ? 64 : want; /* the header told the exact size */
  } else {
    cap = d->cap < 64 ? 64 : d->cap;
    while (cap < want)
      cap *= 2;
    if (cap > limit)
      cap = want > limit ? want : limit;
  }
  p = realloc(d->buf, cap);
  if (p == NULL)
    return UV_ENOMEM;
  d->buf = p;
  d->cap = cap;
  return 0;
}

static int append(sk_decoder *d, const char *data, size_t n) {
  int err = reserve(d, d->len + n);
  if (err)
    return err;
  memcpy(d->buf + d->len, data, n);
  d->len += n;
  return 0;
}

/* Hands the completed pending frame to cb and forgets it. */
static int deliver_pending(sk_decoder *d, sk_message_cb cb, void *arg) {
  const char *msg = NULL;
  size_t msglen = 0;
  long r = sk_frame_decode(&d->framing, d->buf, d->len, &msg, &msglen);
  int rc;

  if (r <= 0)
    return r < 0 ? (int)r : 0;
  rc = cb(arg, msg, msglen);
  sk_decoder_free(d);
  return rc;
}

/* Moves bytes of data into the pending frame until it is complete or data
 * runs out.  Returns bytes used, or a negative error. */
static long fill_pending(sk_decoder *d, const char *data, size_t len,
                         bool *complete) {
  const sk_framing *f = &d->framing;
  size_t take, max = frame_limit(f);
  int err;

  *complete = false;
  if (f->mode == SK_FRAME_LINE) {
    const char *nl = memchr(data, '\n', len);
    take = nl != NULL ? (size_t)(nl - data) + 1 : len;
    if (nl == NULL && d->len + take > max &&
        (d->len + take > max + 1 || data[take - 1] != '\r'))
      return SK_EFRAMETOOBIG; /* the same rule as line_too_long() */
    if (nl != NULL && d->len + take > max + 2)
      return SK_EFRAMETOOBIG;
    err = append(d, data, take);
    if (err)
      return err;
    *complete = nl != NULL;
    return (long)take;
  }
  /* Length-prefixed: first the header, then exactly the payload. */
  if (d->len < f->width) {
    take = f->width - d->len;
    take = take < len ? take : len;
    err = append(d, data, take);
    if (err)
      return err;
    if (d->len < f->width)
      return (long)take;
    uint64_t v = header_value(f, d->buf);
    if (v > max)
      return SK_EFRAMETOOBIG;
    err = reserve(d, f->width + (size_t)v);
    if (err)
      return err;
    data += take;
    len -= take;
    size_t more = f->width + (size_t)v - d->len;
    more = more < len ? more : len;
    memcpy(d->buf + d->len, data, more);
    d->len += more;
    *complete = d->len == f->width + (size_t)v;
    return (long)(take + more);
  }
  {
    uint64_t v = header_value(f, d->buf);
    take = f->width + (size_t)v - d->len;
    take = take < len ? take : len;
    memcpy(d->buf + d->len, data, take);
    d->len += take;
    *complete = d->len == f->width + (size_t)v;
    return (long)take;
  }
}

/* Copies a frame cut by the end of data into the decoder. */
static int keep_partial(sk_decoder *d, const char *data, size_t len) {
  const sk_framing *f = &d->framing;
  int err;

  if (f->mode == SK_FRAME_LEN && len >= f->width) {
    /* sk_frame_decode already checked the header against max_frame. */
    err = reserve(d, f->width + (size_t)header_value(f, data));
    if (err)
      return err;
  }
  return append(d, data, len);
}

int sk_decoder_feed(sk_decoder *d, const char *data, size_t len,
                    sk_message_cb cb, void *arg) {
  const sk_framing *f = &d->framing;

  if (f->mode == SK_FRAME_RAW)
    return len > 0 ? cb(arg, data, len) : 0;
  while (d->len > 0 && len > 0) {
    bool complete;
    long used = fill_pending(d, data, len, &complete);
    if (used < 0)
      return (int)used;
    data += used;
    len -= (size_t)used;
    if (complete) {
      int rc = deliver_pending(d, cb, arg);
      if (rc)
        return rc;
    }
  }
  while (len > 0) {
    const char *msg = NULL;
    size_t msglen = 0;
    long r = sk_frame_decode(f, data, len, &msg, &msglen);
    int rc;
    if (r < 0)
      return (int)r;
    if (r == 0)
      return keep_partial(d, data, len);
    rc = cb(arg, msg, msglen);
    if (rc)
      return rc;
    data += r;
    len -= (size_t)r;
  }
  return 0;
}

int sk_decoder_finish(sk_decoder *d, sk_message_cb cb, void *arg) {
  size_t n = 0;
  int rc;

  if (d->len == 0)
    return 0;
  rc = sk__codec_of(&d->framing)->finish(&d->framing, d->buf, d->len, &n);
  if (rc == 1)
    rc = cb(arg, d->buf, n);
  sk_decoder_free(d);
  return rc;
}
