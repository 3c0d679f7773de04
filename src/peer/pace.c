/* pace.c -- the turns of a conn whose reads feed other peers.
 *
 * A chat talker's one read of 256 KiB fans out a burst of the same size
 * to every member, and libuv reads a stream that fills the read buffer
 * up to 32 times in a row before it polls again: 8 MiB per member at
 * once, before any member's write can complete.  A member that reads as
 * fast as the talker writes, but was off its CPU for a few milliseconds,
 * would pass its hard cap and be dropped although it keeps up.
 *
 * So a read that leaves a fed peer (a consumer) above its soft cap ends
 * its producer's turn: the producer is read again from the loop's next
 * turn, after the writes that completed meanwhile.  And while that
 * consumer went over only now (within PACE_MS), the producer waits for it
 * to drain back to its soft cap, for PACE_MS at most.  Two bounds keep a
 * consumer from holding the room back: a consumer that has been over for
 * longer (a stalled one) paces nobody, and a consumer may hold producers
 * for PACE_BUDGET_MS per PACE_WINDOW_MS at most (10 %), so one that
 * drains, but slower than the room talks, costs the others 10 % at most
 * and then falls behind and is dropped by the slow-consumer rule.
 */
#include "conn.h"

#include <stdlib.h>

#define PACE_MS 200         /* the longest wait for one consumer */
#define PACE_WINDOW_MS 2000 /* the budget's window */
#define PACE_BUDGET_MS 200  /* 10 %: the most one consumer holds others */
#define PACE_CONSUMERS 8    /* consumers one read can wait for */

struct sk__pace {
  uv_timer_t timer; /* first: the handle is the start of the malloc */
  sk__conn *conn;
  sk__list link; /* in `paced`, while it waits */
};

/* What the read being handled left above a soft cap: consumers that went
 * over within PACE_MS, and whether any did at all. */
static _Thread_local struct {
  sk_peer *recent[PACE_CONSUMERS];
  unsigned nrecent;
  bool overfull;
} reading;

/* Producers waiting for a consumer to drain.  Few at a time: only the
 * producers of the reads that overfilled someone in the last turns. */
static _Thread_local sk__list paced;

void sk__pace_read_begin(void) {
  reading.nrecent = 0;
  reading.overfull = false;
}

/* The budget a consumer has left in its window. */
static uint64_t budget_left(sk_peer *p, uint64_t now) {
  if (now - p->pace_window >= PACE_WINDOW_MS) {
    p->pace_window = now;
    p->pace_spent = 0;
  }
  return p->pace_spent < PACE_BUDGET_MS ? PACE_BUDGET_MS - p->pace_spent : 0;
}

/* How much longer producers may wait for consumer: 0 when it is not
 * over its soft cap, has been for PACE_MS, or spent its budget.  Listed
 * only on a server with a slow timeout: a consumer that is not has no
 * clock to say since when it is over. */
static uint64_t allowance(sk_peer *p, uint64_t now) {
  uint64_t over, left;

  if (!sk__list_linked(&p->slow.link))
    return 0;
  over = now - p->slow.start;
  left = budget_left(p, now);
  if (over >= PACE_MS || over >= left)
    return 0;
  return (PACE_MS < left ? PACE_MS : left) - over;
}

void sk__pace_offered(sk_peer *consumer) {
  reading.overfull = true;
  if (allowance(consumer, sk__now(consumer->server->loop)) == 0)
    return;
  for (unsigned i = 0; i < reading.nrecent; i++)
    if (reading.recent[i] == consumer)
      return;
  if (reading.nrecent < PACE_CONSUMERS)
    reading.recent[reading.nrecent++] = consumer;
}

static void turn_cb(uv_timer_t *t) {
  sk__pace *pc = t->data;
  sk__conn *c = pc->conn;

  sk__list_remove(&pc->link);
  c->yielded = false;
  sk__conn_update_reading(c);
}

static sk__pace *pace_of(sk__conn *c) {
  if (c->pace == NULL && (c->pace = calloc(1, sizeof(*c->pace))) != NULL) {
    uv_timer_init(c->stream->loop, &c->pace->timer);
    c->pace->timer.data = c->pace;
    c->pace->conn = c;
    sk__list_init(&c->pace->link);
  }
  return c->pace;
}

void sk__pace_read_end(sk__conn *c) {
  uint64_t now, wait = 0;
  sk__pace *pc;

  if (!reading.overfull || c->base.state == SK__PEER_CLOSING || c->yielded)
    return;
  if ((pc = pace_of(c)) == NULL)
    return; /* not pacing costs fairness only */
  now = sk__now(c->stream->loop);
  /* The batch's writes are out: who is still above its soft cap? */
  for (unsigned i = 0; i < reading.nrecent; i++) {
    uint64_t a = allowance(reading.recent[i], now);
    wait = a > wait ? a : wait;
  }
  if (paced.next == NULL)
    sk__list_init(&paced);
  if (wait > 0)
    sk__list_push_back(&paced, &pc->link);
  c->yielded = true;
  uv_timer_start(&pc->timer, turn_cb, wait, 0);
}

void sk__pace_drained(sk_peer *consumer) {
  uint64_t now = sk__now(consumer->server->loop), over;
  sk__list *n, *next;

  /* What it could have held producers for is charged to its budget. */
  over = now - consumer->slow.start;
  budget_left(consumer, now);
  consumer->pace_spent += over < PACE_MS ? over : PACE_MS;
  if (paced.next == NULL)
    return;
  sk__list_each(n, next, &paced) {
    sk__pace *pc = sk__list_entry(n, sk__pace, link);
    sk__list_remove(&pc->link);
    uv_timer_start(&pc->timer, turn_cb, 0, 0);
  }
}

void sk__pace_forget(sk__conn *c) {
  if (c->pace == NULL)
    return;
  sk__list_remove(&c->pace->link);
  uv_close((uv_handle_t *)&c->pace->timer, sk__free_handle);
  c->pace = NULL;
}
