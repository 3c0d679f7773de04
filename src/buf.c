/* buf.c -- immutable, reference-counted byte buffers shared by queues. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

sk_buf *sk__buf_new(size_t cap) {
  sk_buf *b = malloc(sizeof(*b) + cap);

  if (b == NULL)
    return NULL;
  b->refs = 1;
  b->len = 0;
  b->cap = cap;
  return b;
}

sk_buf *sk_buf_frame(const sk_framing *f, const void *msg, size_t len) {
  char hdr[SK_FRAME_HEADER_MAX];
  size_t tlen;
  const char *trailer = sk_frame_trailer(f, &tlen);
  int hlen = sk_frame_header(f, len, hdr);
  sk_buf *b;

  if (hlen < 0)
    return NULL;
  b = sk__buf_new((size_t)hlen + len + tlen);
  if (b == NULL)
    return NULL;
  memcpy(b->data, hdr, (size_t)hlen);
  if (len > 0)
    memcpy(b->data + hlen, msg, len);
  memcpy(b->data + hlen + len, trailer, tlen);
  b->len = (size_t)hlen + len + tlen;
  return b;
}

sk_buf *sk_buf_ref(sk_buf *b) {
  b->refs++;
  return b;
}

void sk_buf_unref(sk_buf *b) {
  if (b != NULL && --b->refs == 0)
    free(b);
}

size_t sk_buf_len(const sk_buf *b) {
  return b->len;
}
