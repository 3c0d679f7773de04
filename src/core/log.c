/* log.c -- the library's log sink, set by the application. */
#include "internal.h"

#include <stdio.h>

static sk_log_fn log_fn;
static sk_log_level log_level = SK_LOG_WARN;
static void *log_arg;

void sk_log_set(sk_log_fn fn, sk_log_level level, void *arg) {
  log_fn = fn;
  log_level = level;
  log_arg = arg;
}

bool sk__log_enabled(sk_log_level level) {
  return log_fn != NULL && level <= log_level;
}

void sk__log(sk_log_level level, const char *fmt, ...) {
  char line[512];
  va_list ap;

  if (!sk__log_enabled(level))
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  log_fn(level, line, log_arg);
}
