/* suggest.c -- "did you mean ...?": the known name nearest to a word the
 * user mistyped, for commands, services, framings, modes and long
 * options. */
#include "cli.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Longer words get no suggestion: nobody mistypes those. */
#define WORD_MAX 64

/* The optimal-string-alignment distance (Damerau-Levenshtein where a
 * transposed pair is one edit), case-insensitive.  O(|a| * |b|), both at
 * most WORD_MAX, on the stack: three rows of the table. */
static unsigned distance(const char *a, size_t na, const char *b, size_t nb) {
  unsigned rows[3][WORD_MAX + 1];
  unsigned *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *t;

  for (size_t j = 0; j <= nb; j++)
    prev[j] = (unsigned)j;
  for (size_t i = 1; i <= na; i++) {
    cur[0] = (unsigned)i;
    for (size_t j = 1; j <= nb; j++) {
      int ca = tolower((unsigned char)a[i - 1]);
      int cb = tolower((unsigned char)b[j - 1]);
      unsigned best = prev[j - 1] + (ca != cb);

      if (prev[j] + 1 < best)
        best = prev[j] + 1;
      if (cur[j - 1] + 1 < best)
        best = cur[j - 1] + 1;
      if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
          cb == tolower((unsigned char)a[i - 2]) && prev2[j - 2] + 1 < best)
        best = prev2[j - 2] + 1;
      cur[j] = best;
    }
    t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[nb];
}

void cli_suggest_init(cli_suggest *s, const char *word, size_t len) {
  memset(s, 0, sizeof(*s));
  s->word = word;
  s->len = len;
  /* Two edits turn a short word into another ("send" into "deny"); a
   * word of six letters or more still shows through two. */
  s->limit = len < 6 ? 1 : 2;
}

/* Whether name is the word with a negation in front ("insecure" for
 * "secure", "no-delay" for "delay"): the opposite of what was asked. */
static bool negates(const cli_suggest *s, const char *name, size_t n) {
  static const char *const negations[] = {"in", "no-", "un", NULL};

  for (const char *const *p = negations; *p != NULL; p++) {
    size_t k = strlen(*p);
    if (n == k + s->len && strncasecmp(name, *p, k) == 0 &&
        strncasecmp(name + k, s->word, s->len) == 0)
      return true;
  }
  return false;
}

void cli_suggest_add(cli_suggest *s, const char *name) {
  size_t n = strlen(name);
  unsigned d;

  if (s->len == 0 || s->len > WORD_MAX || n > WORD_MAX || negates(s, name, n))
    return;
  if (n > s->len && strncasecmp(name, s->word, s->len) == 0 && s->len >= 2) {
    s->prefixed = s->nprefixed == 0 ? name : s->prefixed;
    s->nprefixed++;
  }
  /* A name that begins the word ("key" in "key-file"): the longest. */
  if (n >= 2 && n < s->len && strncasecmp(name, s->word, n) == 0 &&
      (s->head == NULL || n > strlen(s->head)))
    s->head = name;
  d = distance(s->word, s->len, name, n);
  if (d <= s->limit && (s->best == NULL || d < s->best_d)) {
    s->best = name;
    s->best_d = d;
  }
}

const char *cli_suggest_result(const cli_suggest *s) {
  if (s->nprefixed == 1)
    return s->prefixed;
  if (s->head != NULL)
    return s->head;
  return s->best;
}

const char *cli_suggest_one(const char *word, const char *const *names) {
  cli_suggest s;

  cli_suggest_init(&s, word, strlen(word));
  for (; *names != NULL; names++)
    cli_suggest_add(&s, *names);
  return cli_suggest_result(&s);
}
