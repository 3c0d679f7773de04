/* services.h -- the built-in services, found through sk_service_find(). */
#ifndef SOCKIT_SERVICES_H
#define SOCKIT_SERVICES_H

#include "sockit.h"

extern const sk_service sk__service_stdio;
extern const sk_service sk__service_echo;
extern const sk_service sk__service_upper;
extern const sk_service sk__service_discard;
extern const sk_service sk__service_chat;

/* The chat room's command parser: pure, for tests and fuzzing. */
typedef enum sk__chat_op {
  SK__CHAT_SAY,     /* text for the others */
  SK__CHAT_EMPTY,   /* nothing to do */
  SK__CHAT_NICK,    /* arg: a valid name */
  SK__CHAT_BADNAME, /* /nick with an invalid name */
  SK__CHAT_WHO,
  SK__CHAT_QUIT,
  SK__CHAT_UNKNOWN, /* arg: the command word, '/' included */
  SK__CHAT_BADTEXT, /* not UTF-8 text: arg is the first bad byte, arglen 1 */
  SK__CHAT_NOPS     /* the number of ops */
} sk__chat_op;

typedef struct sk__chat_cmd {
  sk__chat_op op;
  const char *arg; /* points into the message */
  size_t arglen;
} sk__chat_cmd;

#define SK__CHAT_NAME_MAX 32

/* Classifies one message.  A message must be UTF-8 text (no overlong forms,
 * surrogates or code points past U+10FFFF) without control characters other
 * than tab; anything else is SK__CHAT_BADTEXT whatever it starts with. */
void sk__chat_parse(const char *msg, size_t len, sk__chat_cmd *out);

/* Why a message is not chat text ("invalid UTF-8", "control character"),
 * or NULL when it is; *at is the offset of the first bad byte. */
const char *sk__chat_text_problem(const char *msg, size_t len, size_t *at);

#endif
