/* chat.c -- a multi-client chat room.
 *
 * Members are kept in join order.  A message is formatted and framed once
 * into a shared sk_buf that every recipient's queue references, so a line
 * to N members costs one allocation, not N.  Everything a member is sent
 * goes through sk_peer_offer, the slow-consumer rule: nobody is paused
 * for a member that falls behind; it is dropped ("too slow") when its
 * queue would pass its hard cap, or stays above its soft cap (--max-queue)
 * for --slow-timeout.  A member that reads as fast as the room talks is
 * never dropped, however large the burst one read fans out.
 */
#include "core/escape.h"
#include "internal.h"
#include "services/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chat chat;

typedef struct member {
  sk__list link; /* in the room, in join order */
  sk_peer *peer;
  chat *room;
  bool in_room;
  unsigned long refused; /* lines that were not text */
  char name[SK__CHAT_NAME_MAX + 1];
} member;

static member *member_at(sk__list *n) {
  return n != NULL ? sk__list_entry(n, member, link) : NULL;
}

static member *first_member(chat *c);
static member *next_member(chat *c, member *m);

struct chat {
  sk_framing framing;
  sk__list members;
  unsigned long next_guest;
  sk_buf *said;      /* framed lines of one member, not yet sent */
  member *said_from; /* their author */
  sk_framing lines;  /* how a raw datagram's line end is read */
};

static member *first_member(chat *c) {
  return member_at(sk__list_first(&c->members));
}

static member *next_member(chat *c, member *m) {
  return member_at(sk__list_next(&c->members, &m->link));
}

/* -------------------------------------------------------------- parsing */

static bool name_valid(const char *s, size_t n) {
  if (n == 0 || n > SK__CHAT_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static bool word_is(const char *s, size_t n, const char *word) {
  return n == strlen(word) && memcmp(s, word, n) == 0;
}

const char *sk__chat_text_problem(const char *msg, size_t len, size_t *at) {
  const unsigned char *s = (const unsigned char *)msg;
  size_t i = 0, k;

  while (i < len) {
    if (s[i] >= 0x20 && s[i] < 0x7F) { /* the common case */
      i++;
      continue;
    }
    *at = i;
    if (s[i] < 0x80) {
      if (s[i] != '\t')
        return "control character";
      i++;
      continue;
    }
    k = sk__utf8_seq(s + i, len - i);
    if (k == 0)
      return "invalid UTF-8";
    if (k == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0)
      return "control character"; /* C1: U+0080-U+009F */
    i += k;
  }
  return NULL;
}

void sk__chat_parse(const char *msg, size_t len, sk__chat_cmd *out) {
  size_t w = 0, a, at;

  out->arg = msg;
  out->arglen = len;
  if (sk__chat_text_problem(msg, len, &at) != NULL) {
    out->op = SK__CHAT_BADTEXT;
    out->arg = msg + at;
    out->arglen = 1;
    return;
  }
  if (len == 0) {
    out->op = SK__CHAT_EMPTY;
    return;
  }
  if (msg[0] != '/') {
    out->op = SK__CHAT_SAY;
    return;
  }
  while (w < len && msg[w] != ' ')
    w++;
  for (a = w; a < len && msg[a] == ' ';)
    a++;
  out->arg = msg + a;
  out->arglen = len - a;
  while (out->arglen > 0 && out->arg[out->arglen - 1] == ' ')
    out->arglen--;
  if (word_is(msg, w, "/nick")) {
    out->op =
        name_valid(out->arg, out->arglen) ? SK__CHAT_NICK : SK__CHAT_BADNAME;
  } else if (word_is(msg, w, "/who")) {
    out->op = SK__CHAT_WHO;
  } else if (word_is(msg, w, "/quit")) {
    out->op = SK__CHAT_QUIT;
  } else {
    out->op = SK__CHAT_UNKNOWN;
    out->arg = msg;
    out->arglen = w;
  }
}

/* -------------------------------------------------------------- sending */

/* Sends framed text to one member under the slow-consumer rule: a member
 * that does not keep up is closed (SK_ETOOSLOW), and its on_close comes
 * later, from the loop, never inside this call. */
static void send_to(member *m, sk_buf *b) {
  sk_peer_offer(m->peer, b);
}

/* ------------------------------------------------------------- saying */

#define SAID_MAX (256 * 1024) /* send it once it holds this much */

/* Lines a member says during one read wait in c->said, framed, and reach
 * the room at the end of that read as one shared buffer: each member's
 * queue takes a reference, not a copy, and one write carries them all.
 * Anything else sent to the room flushes them first, to keep the order. */
static void flush_said(void *arg) {
  chat *c = arg;
  sk_buf *b = c->said;

  if (b == NULL)
    return;
  c->said = NULL;
  for (member *m = first_member(c); m != NULL; m = next_member(c, m))
    if (m != c->said_from && m->in_room)
      send_to(m, b);
  c->said_from = NULL;
  sk_buf_unref(b);
}

static void say(chat *c, member *m, const char *msg, size_t len) {
  uv_buf_t parts[3] = {uv_buf_init(m->name, (unsigned)strlen(m->name)),
                       uv_buf_init(": ", 2), uv_buf_init((char *)msg, len)};

  /* Lines of one author gather in one buffer, up to SAID_MAX. */
  if (c->said != NULL &&
      (c->said_from != m ||
       sk_buf_len(c->said) + parts[0].len + 2 + len + SK_FRAME_HEADER_MAX + 1 >
           SAID_MAX))
    flush_said(c);
  if (sk_buf_append_frame(&c->said, &c->framing, parts, 3) != 0)
    return;
  c->said_from = m;
  sk__batch_defer(flush_said, c); /* at once when no read is batching */
}

static void broadcast(chat *c, member *except, const char *text, size_t len) {
  sk_buf *b;

  flush_said(c);
  b = sk_buf_frame(&c->framing, text, len);

  if (b == NULL)
    return; /* longer than max_frame: nobody could take it */
  for (member *m = first_member(c); m != NULL; m = next_member(c, m))
    if (m != except && m->in_room)
      send_to(m, b);
  sk_buf_unref(b);
}

/* A reply to one member's own request (/who, /nick, errors) goes by the
 * same rule as the room's lines, not by sk_peer_send.  Pausing the member
 * as echo does would be fair too, and it happens anyway: the library stops
 * reading a member whose queue is above its soft cap.  But a pause comes
 * only after the read that caused it, and one 256 KiB read of "/who" is
 * 50,000 requests whose replies, in a full room, are hundreds of times
 * their size: the hard cap is what bounds that.  A member that sends /who in a
 * loop and never reads is dropped as too slow, like one that never reads the
 * room. */
static void reply(member *m, const char *text, size_t len) {
  sk_buf *b = sk_buf_frame(&m->room->framing, text, len);

  if (b == NULL)
    return; /* longer than max_frame: nobody could take it */
  send_to(m, b);
  sk_buf_unref(b);
}

/* A notice is short: names are at most 32 bytes. */
typedef struct notice {
  char text[512];
  size_t len;
} notice;

static void notice_vformat(notice *n, const char *fmt, va_list ap) {
  int r = vsnprintf(n->text, sizeof(n->text), fmt, ap);

  n->len = r < 0                         ? 0
           : (size_t)r < sizeof(n->text) ? (size_t)r
                                         : sizeof(n->text) - 1;
}

/* Sends a notice to m alone. */
static void tell(member *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tell(member *m, const char *fmt, ...) {
  notice n = {.len = 0};
  va_list ap;

  va_start(ap, fmt);
  notice_vformat(&n, fmt, ap);
  va_end(ap);
  reply(m, n.text, n.len);
}

/* Sends a notice to everyone but except. */
static void announce(chat *c, member *except, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void announce(chat *c, member *except, const char *fmt, ...) {
  notice n = {.len = 0};
  va_list ap;

  va_start(ap, fmt);
  notice_vformat(&n, fmt, ap);
  va_end(ap);
  broadcast(c, except, n.text, n.len);
}

/* Sends "* PREFIX a, b, c" to m, the list cut to fit one frame. */
static void tell_present(chat *c, member *m, const char *prefix) {
  size_t cap = c->framing.max_frame < 65536 ? c->framing.max_frame : 65536;
  size_t want = 2 + strlen(prefix);
  const char *sep = "";
  char *line;
  size_t n;

  /* Sized to the room, not to the cap: O(members) twice, one allocation. */
  for (member *o = first_member(c); o != NULL; o = next_member(c, o))
    if (o->in_room)
      want += strlen(o->name) + 2;
  cap = want < cap ? want : cap;
  line = malloc(cap + 1);
  if (line == NULL)
    return;
  n = (size_t)snprintf(line, cap + 1, "* %s", prefix);
  for (member *o = first_member(c); o != NULL && n < cap;
       o = next_member(c, o)) {
    if (!o->in_room)
      continue;
    n += (size_t)snprintf(line + n, cap + 1 - n, "%s%s", sep, o->name);
    sep = ", ";
  }
  reply(m, line, n < cap ? n : cap);
  free(line);
}

/* ----------------------------------------------------------- membership */

static const char *leave_reason(int reason) {
  switch (reason) {
  case 0:
  case UV_EOF:
  case SK_ECLOSED:
  case UV_ECONNRESET: /* a client that closed with replies unread */
  case UV_EPIPE:
    return NULL;
  case SK_ETOOSLOW:
    return "too slow";
  case SK_EIDLE:
    return "idle";
  case SK_EFRAMETIMEOUT:
    return "frame timeout";
  default:
    return sk_strerror(reason);
  }
}

static void leave(chat *c, member *m, int reason) {
  const char *why = leave_reason(reason);

  if (!m->in_room)
    return;
  m->in_room = false;
  if (why != NULL)
    announce(c, m, "* %s left (%s)", m->name, why);
  else
    announce(c, m, "* %s left", m->name);
}

static member *find_name(chat *c, const char *name, size_t n) {
  for (member *m = first_member(c); m != NULL; m = next_member(c, m))
    if (m->in_room && strlen(m->name) == n && memcmp(m->name, name, n) == 0)
      return m;
  return NULL;
}

static void chat_open(sk_peer *p, void *ctx) {
  chat *c = ctx;
  member *m = calloc(1, sizeof(*m));
  char prefix[80];

  if (m == NULL) {
    sk_peer_close(p, UV_ENOMEM);
    return;
  }
  m->peer = p;
  m->room = c;
  m->in_room = true;
  do /* someone may have taken a guest name with /nick */
    snprintf(m->name, sizeof(m->name), "guest%lu", ++c->next_guest);
  while (find_name(c, m->name, strlen(m->name)) != NULL);
  sk__list_push_back(&c->members, &m->link);
  sk_peer_set_data(p, m);
  snprintf(prefix, sizeof(prefix), "you are %s; here: ", m->name);
  tell_present(c, m, prefix);
  announce(c, m, "* %s joined", m->name);
}

static void rename_member(chat *c, member *m, const char *name, size_t n) {
  char old[sizeof(m->name)];

  if (strlen(m->name) == n && memcmp(m->name, name, n) == 0) {
    tell(m, "* you are already %s", m->name);
    return;
  }
  if (find_name(c, name, n) != NULL) {
    tell(m, "* error: name taken: %.*s", (int)n, name);
    return;
  }
  memcpy(old, m->name, sizeof(old));
  memcpy(m->name, name, n);
  m->name[n] = '\0';
  tell(m, "* you are now %s", m->name);
  announce(c, m, "* %s is now %s", old, m->name);
}

/* A line that is not text is refused, not relayed: the sender is told
 * why and where, and the log says so (the first time per member as a
 * warning, after that with -v). */
static void refuse_text(member *m, const char *msg, size_t len,
                        const char *bad) {
  size_t at = (size_t)(bad - msg);
  const char *why = sk__chat_text_problem(msg, len, &at);
  unsigned byte = (unsigned char)*bad;

  m->refused++;
  sk__log(m->refused == 1 ? SK_LOG_WARN : SK_LOG_INFO,
          "%s (%s): line refused: %s (byte 0x%02X at offset %zu)%s",
          sk_peer_name(m->peer), m->name, why, byte, at,
          m->refused == 1 ? "; more are logged with -v" : "");
  tell(m, "* error: line refused: %s (byte 0x%02X at offset %zu)", why, byte,
       at);
}

static void chat_message(sk_peer *p, const char *msg, size_t len, void *ctx) {
  chat *c = ctx;
  member *m = sk_peer_data(p);
  sk__chat_cmd cmd;

  if (m == NULL || !m->in_room)
    return;
  /* A raw datagram ("echo hi | nc -u") carries its line end. */
  if (c->framing.mode == SK_FRAME_RAW) /* a raw datagram: one line */
    len = sk__frame_datagram(&c->lines, msg, len);
  sk__chat_parse(msg, len, &cmd);
  switch (cmd.op) {
  case SK__CHAT_EMPTY:
    break;
  case SK__CHAT_SAY: {
    size_t total = strlen(m->name) + 2 + len;
    if (total > c->framing.max_frame) {
      tell(m,
           "* error: message too long (%zu bytes with your name; at most "
           "%zu)",
           total, c->framing.max_frame);
      break;
    }
    say(c, m, msg, len);
    break;
  }
  case SK__CHAT_NICK:
    rename_member(c, m, cmd.arg, cmd.arglen);
    break;
  case SK__CHAT_BADNAME:
    tell(m, "* error: bad name (1-%d of A-Z a-z 0-9 _ -)", SK__CHAT_NAME_MAX);
    break;
  case SK__CHAT_WHO:
    tell_present(c, m, "here: ");
    break;
  case SK__CHAT_QUIT:
    tell(m, "* bye");
    leave(c, m, 0);
    sk_peer_end(p);
    break;
  case SK__CHAT_UNKNOWN: {
    size_t n = cmd.arglen > 64 ? 64 : cmd.arglen;
    while (n < cmd.arglen && ((unsigned char)cmd.arg[n] & 0xC0) == 0x80)
      n--; /* not inside a UTF-8 sequence */
    tell(m, "* error: unknown command: %.*s (try /who, /nick NAME, /quit)",
         (int)n, cmd.arg);
    break;
  }
  case SK__CHAT_BADTEXT:
    refuse_text(m, msg, len, cmd.arg);
    break;
  case SK__CHAT_NOPS:
    break;
  }
}

/* A member that stops sending has left, even before its socket closes. */
static void chat_eof(sk_peer *p, void *ctx) {
  member *m = sk_peer_data(p);

  if (m != NULL)
    leave(ctx, m, 0);
  sk_peer_end(p);
}

static void chat_close(sk_peer *p, int reason, void *ctx) {
  chat *c = ctx;
  member *m = sk_peer_data(p);

  if (m == NULL)
    return;
  leave(c, m, reason);
  sk__list_remove(&m->link);
  free(m);
}

static int chat_create(uv_loop_t *loop, const sk_service_opts *o,
                       void **state) {
  chat *c = calloc(1, sizeof(*c));

  (void)loop;
  if (c == NULL)
    return UV_ENOMEM;
  c->framing = o->framing;
  sk__list_init(&c->members);
  sk_framing_parse(&c->lines, "line");
  *state = c;
  return 0;
}

static void chat_destroy(void *state) {
  chat *c = state;

  sk_buf_unref(c->said); /* flushed at every read's end: NULL here */
  free(c);
}

/* The server is about to end every member: tell them, so that a person
 * sees why the room went away.  What they said before arrives first. */
static void chat_stopping(void *state) {
  chat *c = state;

  announce(c, NULL, "* server stopping");
}

static const sk_handler chat_handler = {
    .on_open = chat_open,
    .on_message = chat_message,
    .on_eof = chat_eof,
    .on_close = chat_close,
};

const sk_service sk__service_chat = {
    .name = "chat",
    .summary = "a chat room: every message to every other client",
    .default_mode = SK_FRAME_LINE,
    .nodelay = 0,
    .create = chat_create,
    .destroy = chat_destroy,
    .handler = &chat_handler,
    .stopping = chat_stopping,
};
