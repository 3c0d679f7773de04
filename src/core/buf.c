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
  uv_buf_t bufs[3];
  int n = sk__frame_bufs(f, msg, len, hdr, bufs);
  size_t total = 0;
  sk_buf *b;

  if (n < 0)
    return NULL;
  for (int i = 0; i < n; i++)
    total += bufs[i].len;
  b = sk__buf_new(total);
  if (b == NULL)
    return NULL;
  for (int i = 0; i < n; i++) {
    memcpy(b->data + b->len, bufs[i].base, bufs[i].len);
    b->len += bufs[i].len;
  }
  return b;
}

/* Stands for the payload in the frame's buffers: the parts go there. */
static const char payload_mark;

int sk_buf_append_frame(sk_buf **bp, const sk_framing *f, const uv_buf_t *parts,
                        unsigned n) {
  char hdr[SK_FRAME_HEADER_MAX];
  uv_buf_t bufs[3];
  size_t len = 0, need = 0, cap;
  sk_buf *b = *bp;
  int nb;

  for (unsigned i = 0; i < n; i++)
    len += parts[i].len;
  nb = sk__frame_bufs(f, &payload_mark, len, hdr, bufs);
  if (nb < 0)
    return nb;
  for (int i = 0; i < nb; i++)
    need += bufs[i].len;
  if (b == NULL || b->len + need > b->cap) {
    cap = b != NULL ? b->cap * 2 : 4096;
    while (cap < (b != NULL ? b->len : 0) + need)
      cap *= 2;
    b = realloc(b, sizeof(*b) + cap);
    if (b == NULL)
      return UV_ENOMEM;
    if (*bp == NULL) {
      b->refs = 1;
      b->len = 0;
    }
    b->cap = cap;
    *bp = b;
  }
  for (int i = 0; i < nb; i++) {
    if (bufs[i].base != &payload_mark) {
      memcpy(b->data + b->len, bufs[i].base, bufs[i].len);
      b->len += bufs[i].len;
      continue;
    }
    for (unsigned k = 0; k < n; k++) {
      memcpy(b->data + b->len, parts[k].base, parts[k].len);
      b->len += parts[k].len;
    }
  }
  return 0;
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
