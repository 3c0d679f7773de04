/* test_chat.c -- unit tests for the chat room's parser: the text check
 * (sk__chat_text_problem) against UTF-8 tables, and the commands
 * (sk__chat_parse). */
/* cmocka needs these first, in this order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "services/services.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct text_case {
  const char *bytes;
  size_t len;
  const char *problem; /* NULL: it is text */
  size_t at;
} text_case;

#define T(s) s, sizeof(s) - 1

static const text_case texts[] = {
    {T(""), NULL, 0},
    {T("plain ascii ~!@#$%^&*()"), NULL, 0},
    {T("tab\there"), NULL, 0},
    {T("caf\xc3\xa9"), NULL, 0},                  /* U+00E9 */
    {T("\xc2\xa0nbsp"), NULL, 0},                 /* U+00A0, first after C1 */
    {T("\xdf\xbf"), NULL, 0},                     /* U+07FF */
    {T("\xe0\xa0\x80"), NULL, 0},                 /* U+0800 */
    {T("\xed\x9f\xbf"), NULL, 0},                 /* U+D7FF */
    {T("\xee\x80\x80"), NULL, 0},                 /* U+E000 */
    {T("\xef\xbf\xbf"), NULL, 0},                 /* U+FFFF */
    {T("\xf0\x90\x80\x80"), NULL, 0},             /* U+10000 */
    {T("\xf4\x8f\xbf\xbf"), NULL, 0},             /* U+10FFFF */
    {T("\xe2\x98\x95\xf0\x9f\x98\x80"), NULL, 0}, /* a cup, a face */
    {"a\0b", 3, "control character", 1},
    {T("\n"), "control character", 0},
    {T("x\r"), "control character", 1},
    {T("\x1f"), "control character", 0},
    {T("\x7f"), "control character", 0},
    {T("ok \xc2\x80"), "control character", 3}, /* U+0080 */
    {T("\xc2\x9f"), "control character", 0},    /* U+009F */
    {T("\x80"), "invalid UTF-8", 0},
    {T("ab\xbf"), "invalid UTF-8", 2},
    {T("\xc0\x80"), "invalid UTF-8", 0},         /* overlong NUL */
    {T("\xc1\xbf"), "invalid UTF-8", 0},         /* overlong */
    {T("\xe0\x9f\xbf"), "invalid UTF-8", 0},     /* overlong */
    {T("\xed\xa0\x80"), "invalid UTF-8", 0},     /* U+D800 */
    {T("\xed\xbf\xbf"), "invalid UTF-8", 0},     /* U+DFFF */
    {T("\xf0\x8f\xbf\xbf"), "invalid UTF-8", 0}, /* overlong */
    {T("\xf4\x90\x80\x80"), "invalid UTF-8", 0}, /* U+110000 */
    {T("\xf5\x80\x80\x80"), "invalid UTF-8", 0},
    {T("\xff"), "invalid UTF-8", 0},
    {T("cut \xe2\x82"), "invalid UTF-8", 4}, /* truncated at the end */
    {T("\xe2\x82x"), "invalid UTF-8", 0},    /* bad continuation */
    {T("\xf0\x9f\x98"), "invalid UTF-8", 0},
    {T("\xc3\xa9\xc3"), "invalid UTF-8", 2},
};

static void test_text_problem(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(texts); i++) {
    const text_case *c = &texts[i];
    size_t at = 12345;
    const char *why = sk__chat_text_problem(c->bytes, c->len, &at);
    if (c->problem == NULL) {
      if (why != NULL)
        fail_msg("case %zu: text refused: %s at %zu", i, why, at);
      continue;
    }
    if (why == NULL)
      fail_msg("case %zu: accepted, expected %s", i, c->problem);
    assert_string_equal(why, c->problem);
    if (at != c->at)
      fail_msg("case %zu: bad byte at %zu, expected %zu", i, at, c->at);
  }
}

/* Every code point encodes to text, but for controls and surrogates. */
static void test_every_code_point(void **state) {
  unsigned char b[4];
  size_t n, at;

  (void)state;
  for (unsigned cp = 0; cp <= 0x10FFFF; cp++) {
    if (cp < 0x80) {
      b[0] = (unsigned char)cp, n = 1;
    } else if (cp < 0x800) {
      b[0] = (unsigned char)(0xC0 | cp >> 6);
      b[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
      b[0] = (unsigned char)(0xE0 | cp >> 12);
      b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
      b[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
      b[0] = (unsigned char)(0xF0 | cp >> 18);
      b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
      b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
      b[3] = (unsigned char)(0x80 | (cp & 0x3F)), n = 4;
    }
    bool control = (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp < 0xA0);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    const char *why = sk__chat_text_problem((const char *)b, n, &at);
    if (control || surrogate) {
      if (why == NULL)
        fail_msg("U+%04X accepted", cp);
    } else if (why != NULL) {
      fail_msg("U+%04X refused: %s", cp, why);
    }
  }
}

typedef struct parse_case {
  const char *msg;
  sk__chat_op op;
  const char *arg; /* NULL: not checked */
} parse_case;

static const parse_case parses[] = {
    {"", SK__CHAT_EMPTY, NULL},
    {"hello", SK__CHAT_SAY, "hello"},
    {" /nick x", SK__CHAT_SAY, " /nick x"},
    {"/nick alice", SK__CHAT_NICK, "alice"},
    {"/nick   alice  ", SK__CHAT_NICK, "alice"},
    {"/nick", SK__CHAT_BADNAME, ""},
    {"/nick ", SK__CHAT_BADNAME, ""},
    {"/nick a b", SK__CHAT_BADNAME, "a b"},
    {"/nick 0123456789012345678901234567890xy", SK__CHAT_BADNAME, NULL},
    {"/nick 0123456789012345678901234567890x", SK__CHAT_NICK, NULL},
    {"/nick caf\xc3\xa9", SK__CHAT_BADNAME, NULL},
    {"/nickalice", SK__CHAT_UNKNOWN, "/nickalice"},
    {"/who", SK__CHAT_WHO, NULL},
    {"/who cares", SK__CHAT_WHO, NULL},
    {"/quit", SK__CHAT_QUIT, NULL},
    {"/QUIT", SK__CHAT_UNKNOWN, "/QUIT"},
    {"/", SK__CHAT_UNKNOWN, "/"},
    {"/frob x y", SK__CHAT_UNKNOWN, "/frob"},
    {"/nick ev\x01il", SK__CHAT_BADTEXT, "\x01"},
    {"\xff/who", SK__CHAT_BADTEXT, "\xff"},
};

static void test_parse(void **state) {
  (void)state;
  for (size_t i = 0; i < NELEMS(parses); i++) {
    const parse_case *c = &parses[i];
    size_t len = strlen(c->msg);
    sk__chat_cmd cmd;

    sk__chat_parse(c->msg, len, &cmd);
    if (cmd.op != c->op)
      fail_msg("case %zu (%s): op %d, expected %d", i, c->msg, cmd.op, c->op);
    assert_true(cmd.arg >= c->msg && cmd.arg + cmd.arglen <= c->msg + len);
    if (c->arg != NULL) {
      if (cmd.arglen != strlen(c->arg) ||
          memcmp(cmd.arg, c->arg, cmd.arglen) != 0)
        fail_msg("case %zu (%s): arg '%.*s', expected '%s'", i, c->msg,
                 (int)cmd.arglen, cmd.arg, c->arg);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_problem),
      cmocka_unit_test(test_every_code_point),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
