/* snprintf_check.h -- one check for the harnesses whose formatter writes
 * like snprintf (sk_addr_format, sk_net_format). */
#ifndef SOCKIT_FUZZ_SNPRINTF_CHECK_H
#define SOCKIT_FUZZ_SNPRINTF_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats obj into a buffer of size bytes. */
typedef int (*fuzz_format_fn)(const void *obj, char *buf, size_t size);

/* fmt into size bytes gives the full length len and a NUL-terminated
 * prefix of full, and writes nothing into 0 bytes; else it names what
 * and aborts. */
static inline void check_snprintf_like(const char *what, fuzz_format_fn fmt,
                                       const void *obj, const char *full,
                                       size_t len, size_t size) {
  char *buf = malloc(size > 0 ? size : 1);
  const char *bad = NULL;
  int got;

  if (buf == NULL)
    abort();
  buf[0] = 'X';
  got = fmt(obj, buf, size);
  if (got != (int)len)
    bad = "returned another length";
  else if (size == 0 && buf[0] != 'X')
    bad = "wrote to a buffer of 0 bytes";
  else if (size > 0) {
    size_t keep = len < size - 1 ? len : size - 1;
    if (memcmp(buf, full, keep) != 0 || buf[keep] != '\0')
      bad = "did not write a prefix of the full form";
  }
  if (bad != NULL) {
    fprintf(stderr, "%s into %zu bytes %s (got %d, full \"%s\", %zu bytes)\n",
            what, size, bad, got, full, len);
    abort();
  }
  free(buf);
}

/* The sizes every harness tries: none, one byte, half, all but the NUL,
 * and enough. */
static inline void check_snprintf_sizes(const char *what, fuzz_format_fn fmt,
                                        const void *obj, const char *full,
                                        size_t len) {
  const size_t sizes[] = {0, 1, len / 2 + 1, len, len + 1};

  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    check_snprintf_like(what, fmt, obj, full, len, sizes[i]);
}

#endif
