/* fuzz_chat.c -- libFuzzer harness for the chat room's command parser.
 *
 * The input is one message, passed to sk__chat_parse in an exactly sized
 * heap copy without a NUL after it, so that reading past the message is
 * caught by ASan.  The result is checked against the rules the README and
 * services.h give, restated here independently:
 *
 * - the op is within the enum (below SK__CHAT_NOPS), arg..arg+arglen lies
 *   inside the message;
 * - a message that is not UTF-8 text (decoded here code point by code
 *   point: no overlong forms, surrogates or code points past U+10FFFF; no
 *   control characters but tab, C1 included) is SK__CHAT_BADTEXT with arg
 *   at its first bad byte, and sk__chat_text_problem agrees;
 * - otherwise "" is EMPTY, a message not starting with '/' is SAY of the
 *   whole message, and a command word (up to the first space) of "/nick",
 *   "/who" or "/quit" gives NICK with arg a valid name (1-32 of
 *   A-Z a-z 0-9 _ -: the rest of the message without its outer spaces),
 *   BADNAME when that rest is not a valid name, WHO, QUIT; any other word
 *   is UNKNOWN with arg the word itself, or an op this harness does not
 *   know (one added to the enum later, for a new command).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/services.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fuzz_chat: " __VA_ARGS__);                                \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

/* --------------------------------------------------------- reference */

/* Decodes the UTF-8 sequence at s[0..n) into *cp; returns its length, or
 * 0 when it is malformed. */
static size_t ref_utf8(const uint8_t *s, size_t n, uint32_t *cp) {
  static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t k;
  uint32_t v;

  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if ((s[0] & 0xE0) == 0xC0) {
    k = 2;
    v = s[0] & 0x1F;
  } else if ((s[0] & 0xF0) == 0xE0) {
    k = 3;
    v = s[0] & 0x0F;
  } else if ((s[0] & 0xF8) == 0xF0) {
    k = 4;
    v = s[0] & 0x07;
  } else {
    return 0;
  }
  if (n < k)
    return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < least[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return k;
}

static bool ref_control(uint32_t cp) {
  return (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F);
}

/* The first bad byte's offset and why, or NULL when s is chat text. */
static const char *ref_text_problem(const uint8_t *s, size_t n, size_t *at) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = ref_utf8(s + i, n - i, &cp);
    *at = i;
    if (k == 0)
      return "invalid UTF-8";
    if (ref_control(cp))
      return "control character";
    i += k;
  }
  return NULL;
}

static bool ref_name_ok(const char *s, size_t n) {
  static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz"
                                "0123456789_-";
  if (n < 1 || n > 32)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
      return false;
  return true;
}

static bool is_word(const char *s, size_t n, const char *word) {
  return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* ------------------------------------------------------------ checks */

static void check_text(const char *msg, size_t len, const sk__chat_cmd *c) {
  size_t at = 0, ref_at = 0;
  const char *why = sk__chat_text_problem(msg, len, &at);
  const char *ref = ref_text_problem((const uint8_t *)msg, len, &ref_at);

  if ((why == NULL) != (ref == NULL) ||
      (ref != NULL && (at != ref_at || strcmp(why, ref) != 0)))
    FAIL("sk__chat_text_problem: \"%s\" at %zu; expected \"%s\" at %zu",
         why ? why : "(text)", at, ref ? ref : "(text)", ref_at);
  if ((c->op == SK__CHAT_BADTEXT) != (ref != NULL))
    FAIL("op %d for a message that is %s", (int)c->op,
         ref ? ref : "valid text");
  if (ref != NULL && (c->arg != msg + ref_at || c->arglen != 1))
    FAIL("BADTEXT: arg at %td (%zu bytes), expected the byte at %zu",
         c->arg - msg, c->arglen, ref_at);
}

/* The ops this harness knows the rules of. */
static bool known_op(sk__chat_op op) {
  switch (op) {
  case SK__CHAT_SAY:
  case SK__CHAT_EMPTY:
  case SK__CHAT_NICK:
  case SK__CHAT_BADNAME:
  case SK__CHAT_WHO:
  case SK__CHAT_QUIT:
  case SK__CHAT_UNKNOWN:
  case SK__CHAT_BADTEXT:
    return true;
  default:
    return false;
  }
}

/* A command: the word up to the first space, then its argument. */
static void check_command(const char *msg, size_t len, const sk__chat_cmd *c) {
  size_t w = 0, a, e = len;

  while (w < len && msg[w] != ' ')
    w++;
  for (a = w; a < len && msg[a] == ' ';)
    a++;
  while (e > a && msg[e - 1] == ' ')
    e--;
  if (is_word(msg, w, "/nick")) {
    bool ok = ref_name_ok(msg + a, e - a);
    if (c->op != (ok ? SK__CHAT_NICK : SK__CHAT_BADNAME))
      FAIL("/nick with \"%.*s\": op %d, expected %s", (int)(e - a), msg + a,
           (int)c->op, ok ? "NICK" : "BADNAME");
    if (ok && (c->arg != msg + a || c->arglen != e - a))
      FAIL("NICK: arg is not the name that follows /nick");
    if (c->op == SK__CHAT_NICK && !ref_name_ok(c->arg, c->arglen))
      FAIL("NICK with an invalid name");
  } else if (is_word(msg, w, "/who")) {
    if (c->op != SK__CHAT_WHO)
      FAIL("/who: op %d", (int)c->op);
  } else if (is_word(msg, w, "/quit")) {
    if (c->op != SK__CHAT_QUIT)
      FAIL("/quit: op %d", (int)c->op);
  } else if (c->op == SK__CHAT_UNKNOWN) {
    if (c->arg != msg || c->arglen != w)
      FAIL("unknown command \"%.*s\": arg at %td (%zu bytes)", (int)w, msg,
           c->arg - msg, c->arglen);
  } else if (known_op(c->op)) {
    /* An op added after this harness may stand for a new command. */
    FAIL("unknown command \"%.*s\": op %d", (int)w, msg, (int)c->op);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *msg = malloc(size > 0 ? size : 1);
  sk__chat_cmd c;

  if (msg == NULL)
    abort();
  memcpy(msg, data, size);
  memset(&c, 0xA5, sizeof c); /* what the parser leaves unset shows */
  sk__chat_parse(msg, size, &c);

  /* Whatever ops the enum gains, one below SK__CHAT_NOPS is set, and the
   * argument lies inside the message. */
  if ((unsigned)c.op >= (unsigned)SK__CHAT_NOPS)
    FAIL("op %u out of the enum (SK__CHAT_NOPS = %u)", (unsigned)c.op,
         (unsigned)SK__CHAT_NOPS);
  if ((uintptr_t)c.arg < (uintptr_t)msg || c.arglen > size ||
      (uintptr_t)c.arg - (uintptr_t)msg > size - c.arglen)
    FAIL("arg outside the %zu-byte message", size);

  check_text(msg, size, &c);
  if (c.op == SK__CHAT_BADTEXT)
    goto done;
  if (size == 0) {
    if (c.op != SK__CHAT_EMPTY)
      FAIL("empty message: op %d", (int)c.op);
  } else if (msg[0] != '/') {
    if (c.op != SK__CHAT_SAY || c.arg != msg || c.arglen != size)
      FAIL("plain text: op %d, arglen %zu of %zu", (int)c.op, c.arglen, size);
  } else {
    check_command(msg, size, &c);
  }
done:
  free(msg);
  return 0;
}
