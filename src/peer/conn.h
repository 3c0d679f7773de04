/* conn.h -- the stream peer's insides, shared by conn.c and sendfile.c. */
#ifndef SOCKIT_CONN_H
#define SOCKIT_CONN_H

#include "internal.h"

typedef struct sk__sendfile sk__sendfile;
typedef struct sk__pace sk__pace;

struct sk__conn {
  sk_peer base;       /* first: an sk__conn is an sk_peer */
  sk__stream *stream; /* NULL while a client dials */
  sk__wq wq;
  sk_decoder dec;
  sk__frame_clock fc;
  bool eof;               /* the other side finished sending */
  bool self_paused;       /* own queue over its cap */
  bool yielded;           /* its turn ended (pace.c) */
  sk__pace *pace;         /* pace.c's state, once it was needed */
  uv_timer_t *open_timer; /* connect or handshake time limit */
  sk__dial *dial;         /* the client's connect attempts, or NULL */
  sk__sendfile *job;      /* a sk_peer_sendfile transfer, or NULL */
  bool closed;            /* the stream closed; freed once job is done */
};

static inline sk__conn *sk__conn_of(sk_peer *p) {
  return (sk__conn *)p;
}

/* Re-evaluates whether the conn is read (pauses, queue, EOF). */
void sk__conn_update_reading(sk__conn *c);
/* Frees the conn once its stream closed and no transfer runs. */
void sk__conn_maybe_free(sk__conn *c);

/* pace.c: the turns of a conn whose reads feed others (sk_peer_offer). */
/* Around the handling of one read of a conn. */
void sk__pace_read_begin(void);
void sk__pace_read_end(sk__conn *c);
/* An offer left consumer's queue above its soft cap. */
void sk__pace_offered(sk_peer *consumer);
/* A consumer's queue is back to its soft cap (its slow clock still
 * runs: its start says since when it was over). */
void sk__pace_drained(sk_peer *consumer);
/* The conn closes. */
void sk__pace_forget(sk__conn *c);

/* sendfile.c */
int sk__conn_sendfile(sk_peer *p, int fd, int64_t offset, uint64_t len,
                      sk_sendfile_cb cb, void *arg);
/* The conn closes: stops the transfer (its callback gets UV_EPIPE
 * unless it is over). */
void sk__sendfile_cancel(sk__conn *c);
/* The queue drained or emptied: a transfer waiting for room (or for
 * the queue to empty before it starts) may go on. */
void sk__sendfile_room(sk__conn *c);

#endif
