/* internal.h -- what libsockit's modules share and users never see. */
#ifndef SOCKIT_INTERNAL_H
#define SOCKIT_INTERNAL_H

#include "sockit.h"

#include "core/list.h"
#include "stream/stream.h"

#include <stdarg.h>
#include <stdbool.h>

#define SK__CONTAINER_OF(ptr, type, member)                                    \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* Deferral (defer.c): fn(d) runs once from the loop's next idle phase
 * after sk__defer_arm, never inside the caller.  The handle inside must be
 * closed (sk__defer_close; cb gets &d->idle) before d's memory goes. */
typedef struct sk__defer {
  uv_idle_t idle;
  void (*fn)(struct sk__defer *d);
} sk__defer;

void sk__defer_init(uv_loop_t *loop, sk__defer *d, void (*fn)(sk__defer *d));
void sk__defer_arm(sk__defer *d);
void sk__defer_close(sk__defer *d, uv_close_cb cb);

/* Logging: sk__log formats only when the level is enabled. */
bool sk__log_enabled(sk_log_level level);
void sk__log(sk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* -------------------------------------------------------------- codecs */

/* One framing's operations (frame.c): the public sk_frame_* functions,
 * the decoder, UDP and the services all go through this table. */
typedef struct sk__codec {
  const char *name;
  /* sk_frame_decode for this framing. */
  long (*decode)(const sk_framing *f, const char *buf, size_t len,
                 const char **msg, size_t *msglen);
  /* The header before a payload of len bytes (len already checked against
   * max_frame); returns its length or SK_EFRAMETOOBIG. */
  int (*header)(const sk_framing *f, size_t len, char out[SK_FRAME_HEADER_MAX]);
  const char *trailer; /* after every payload */
  size_t trailer_len;
  /* The stream ended with rest[0..n) (n > 0) of a frame held: returns 1
   * with *msglen when it is a message (from rest), else an error. */
  int (*finish)(const sk_framing *f, const char *rest, size_t n,
                size_t *msglen);
  /* The message a datagram carries: its first len' bytes. */
  size_t (*datagram)(const sk_framing *f, const char *data, size_t len);
} sk__codec;

const sk__codec *sk__codec_of(const sk_framing *f);

/* The one frame builder: header, payload, trailer of msg[0..len) as up to
 * three buffers (hdr is the header's storage).  Returns how many (0 for
 * an empty raw message), or SK_EFRAMETOOBIG. */
int sk__frame_bufs(const sk_framing *f, const void *msg, size_t len,
                   char hdr[SK_FRAME_HEADER_MAX], uv_buf_t bufs[3]);

/* The message length of a datagram of len bytes (line framing drops one
 * final line end). */
size_t sk__frame_datagram(const sk_framing *f, const char *data, size_t len);

/* ------------------------------------------------------------- sk_buf */

struct sk_buf {
  unsigned refs;
  size_t len; /* bytes used */
  size_t cap; /* bytes allocated in data */
  char data[];
};

/* A buffer of cap bytes (len 0) with one reference, or NULL. */
sk_buf *sk__buf_new(size_t cap);

/* ---------------------------------------------------------- write queue */

/* A run of bytes waiting to be written: buf->data[off .. off+len). */
typedef struct sk__chunk {
  struct sk__chunk *next;
  sk_buf *buf;
  size_t off;
  size_t len;
} sk__chunk;

/* A bounded queue of bytes for one stream, written with its write.  Small
 * writes are appended to the tail chunk while it is private, so a burst
 * of small messages costs one allocation per 16 KiB, not one per message.
 * When nothing is queued, data is first offered to the kernel directly
 * (uv_try_write) and only the remainder is copied. */
typedef struct sk__wq {
  sk__stream *stream;
  sk__chunk *head, *tail;
  sk__chunk *unsent; /* first chunk not yet handed to uv_write */
  size_t queued;     /* bytes in the queue, in flight included */
  size_t cap;        /* soft cap: sk__wq_full() above it */
  bool in_flight;
  bool was_full; /* reached cap since the last drain callback */
  bool corked;   /* queue only; sk__wq_uncork() writes it all at once */
  bool dead;     /* cleared: its stream is closing */
  struct sk__wq *batch_next; /* in the current batch's list */
  sk__write_req *req; /* while a write is in flight: idle peers hold none */
  void (*on_error)(struct sk__wq *q, int err);
  void (*on_drain)(struct sk__wq *q); /* below cap/2 after being full */
  void (*on_empty)(struct sk__wq *q); /* everything written */
  void (*on_lower)(struct sk__wq *q); /* queued went down (any amount) */
} sk__wq;

void sk__wq_init(sk__wq *q, sk__stream *stream, size_t cap);
/* Queues the concatenation of bufs; copies what the kernel does not take
 * at once.  Returns 0 or UV_ENOMEM (or a write error). */
int sk__wq_write(sk__wq *q, const uv_buf_t *bufs, unsigned n);
/* Queues a shared buffer by reference. */
int sk__wq_write_buf(sk__wq *q, sk_buf *b);
bool sk__wq_full(const sk__wq *q);
/* Writes what was queued while corked, in one go. */
void sk__wq_uncork(sk__wq *q);

/* Batches: between begin and end (nested calls count), writes to any
 * queue are held, and each queue written to goes out in one write at the
 * end.  Used around the handling of one read. */
void sk__batch_begin(void);
void sk__batch_end(void);
/* Calls fn(arg) once at the end of the current batch (at once when there
 * is none), before its writes go out; the same pair is called once. */
void sk__batch_defer(void (*fn)(void *), void *arg);
/* Drops everything queued (the stream is closing); the queue takes no
 * more writes. */
void sk__wq_clear(sk__wq *q);

/* ---------------------------------------------------------------- peers */

/* The read buffer of a loop's streams: reads are consumed synchronously
 * by the decoder, so one buffer serves every connection and an idle
 * connection holds none. */
#define SK__READ_BUF (256 * 1024)
void sk__read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void sk__read_release(const uv_buf_t *buf);

/* A peer's life, one state at a time.  Legal transitions:
 *   OPENING -> OPEN      connected, handshake done: on_open
 *   OPEN    -> ENDING    sk_peer_end: the queue flushes first
 *   ENDING  -> SHUT      our direction shut down
 *   any     -> CLOSING   sk_peer_close, an error, or SHUT with the
 *                        other side's EOF; on_close follows, then free
 * The other side's EOF is a separate fact (conn's eof): it can come in any
 * state, and a half-closed peer still gets our replies. */
typedef enum sk__peer_state {
  SK__PEER_OPENING = 0,
  SK__PEER_OPEN,
  SK__PEER_ENDING,
  SK__PEER_SHUT,
  SK__PEER_CLOSING,
} sk__peer_state;

/* What each kind of peer (a stream connection, a UDP sender) does; the
 * public sk_peer_* functions call through it and hold no kind checks. */
typedef struct sk__peer_ops {
  /* Queues the concatenation of bufs (already framed); shared, when not
   * NULL, holds the same bytes and may be referenced instead of copied.
   * Returns 0 or an error; the peer is still usable after SK_ETOOSLOW. */
  int (*send)(sk_peer *p, const uv_buf_t *bufs, unsigned n, sk_buf *shared);
  size_t (*queued)(const sk_peer *p);
  /* p->user_paused changed. */
  void (*pause)(sk_peer *p, bool paused);
  /* Graceful end (state is ENDING when it returns, or CLOSING). */
  void (*end)(sk_peer *p);
  /* Starts closing; p->state is CLOSING and p->close_reason set. */
  void (*close)(sk_peer *p);
  /* Sends len bytes of fd from offset, then calls cb (see sk_peer_sendfile);
   * NULL when the kind cannot. */
  int (*sendfile)(sk_peer *p, int fd, int64_t offset, uint64_t len,
                  sk_sendfile_cb cb, void *arg);
  /* sk_peer_describe; NULL when there is nothing to say. */
  int (*describe)(const sk_peer *p, char *buf, size_t size);
  /* sk_peer_offer: queues b, which another peer caused, under the
   * slow-consumer rule (p is OPEN). */
  int (*offer)(sk_peer *p, sk_buf *b);
} sk__peer_ops;

typedef struct sk__door sk__door;     /* door.c */
typedef struct sk__source sk__source; /* door.c: one source of peers */

/* A clock that runs out a fixed time after its start, in one of a
 * server's lists of such clocks (server.c): a frame's, or a queue's above
 * its soft cap. */
typedef struct sk__clock {
  sk__list link;  /* in its list, earliest start first; or unlinked */
  uint64_t start; /* ms, loop time */
} sk__clock;

/* What every peer has.  The kinds extend it: sk__conn (conn.c) and the
 * UDP peer (udp.c) start with it. */
struct sk_peer {
  const sk__peer_ops *ops;
  sk__peer_state state;
  sk_transport transport;
  bool tls;
  bool opened;       /* on_open was called */
  bool user_paused;  /* sk_peer_pause */
  bool counted;      /* in its server's count of connections */
  bool transferring; /* sk_peer_sendfile runs: busy, never idle */
  const sk_handler *handler;
  void *ctx;
  void *data;
  sk_server *server; /* NULL for a client */
  sk__list link;     /* in the server's list, least recently active first */
  uint64_t last_active;
  sk__source *source; /* server: its entry in the door's sources, or NULL */
  sk_framing framing;
  size_t max_queue;      /* soft cap: reading pauses above it; fed peers'
                            clock starts (see sk_peer_offer) */
  size_t max_queue_hard; /* what sk_peer_offer never lets the queue pass */
  sk__clock slow;        /* running while a fed peer's queue is above
                            max_queue (server peers only) */
  uint64_t pace_window;  /* pace.c: start of its budget's window (ms) */
  uint64_t pace_spent;   /* pace.c: ms it held producers in that window */
  int close_reason;
  /* What went through it (sk_peer_stats): bytes read, bytes handed over
   * to send, and when on_open came (uv_hrtime). */
  uint64_t bytes_in, bytes_out;
  uint64_t opened_ns;
  sk_tap_fn tap; /* sk_peer_set_tap, or NULL */
  void *tap_arg;
  /* A client's idle timeout (sk_client_opts.idle_timeout_ms): its timer,
   * from on_open until the peer closes, or NULL.  It uses last_active. */
  uint64_t idle_ms;
  uv_timer_t *idle_timer;
  char *error; /* why it closed, in words, when more is known; or NULL */
  char name[64];
};

/* Whether a close reason is an ordinary end (the peer left, or we closed
 * it on purpose) rather than a failure to report. */
bool sk__close_is_orderly(int reason);

/* Common peer set-up, and the hand-off to on_close (peer.c). */
void sk__peer_init(sk_peer *p, const sk__peer_ops *ops, sk_transport t,
                   const sk_framing *f, size_t max_queue, const sk_handler *h,
                   void *ctx);
/* Calls on_close when due (a server's peer after on_open; a client's
 * always), unlinks it from its server and frees what the base holds; the
 * caller frees the peer's memory right after. */
void sk__peer_finish(sk_peer *p);
/* Records why p fails, in words, for sk_peer_error and the log. */
void sk__peer_set_error(sk_peer *p, const char *why);
/* Every kind calls these (peer.c): sk__peer_opened as p becomes OPEN,
 * just before on_open (starts its clock and a client's idle timer);
 * sk__peer_received with each chunk read, before decoding it (counts it
 * and shows it to the tap); sk__peer_touch when p completed a message or
 * was sent one (the server's activity list, or a client's idle clock). */
void sk__peer_opened(sk_peer *p, uv_loop_t *loop);
void sk__peer_received(sk_peer *p, const char *data, size_t len);
void sk__peer_touch(sk_peer *p);
/* Logs "NAME: SUMMARY" (sk_peer_stats_format) at SK_LOG_INFO: what the
 * services print for a peer that closes. */
void sk__log_peer_summary(const sk_peer *p);
/* Closes p with SK_ETOOSLOW, saying which limit it broke: the hard cap
 * (an offer would pass it), or the soft cap for the server's
 * slow_timeout_ms; counted in its server's stats. */
void sk__peer_drop_slow(sk_peer *p, bool hard);
/* The default hard cap for a soft cap: 16 times it. */
size_t sk__queue_hard_default(size_t max_queue);

/* A stream peer: stream, decoder, write queue (conn.c). */
typedef struct sk__conn sk__conn;
typedef struct sk__dial sk__dial;

/* A stream peer over stream (which it owns from now on), or NULL when
 * memory runs out (stream is then closed). */
sk__conn *sk__conn_new(sk__stream *stream, sk_transport t, const sk_framing *f,
                       size_t max_queue, const sk_handler *h, void *ctx);
/* A client's stream peer with no stream yet: dial connects it. */
sk__conn *sk__conn_new_dialing(sk_transport t, const sk_framing *f,
                               size_t max_queue, const sk_handler *h, void *ctx,
                               sk__dial *d);
static inline sk_peer *sk__conn_peer(sk__conn *c) {
  return (sk_peer *)c;
}
/* Gives a dialing conn its connected stream. */
void sk__conn_attach(sk__conn *c, sk__stream *stream);
/* Makes the conn usable: wraps its stream in TLS when tls is not NULL
 * (servername for the client's check), runs the stream's open (the
 * handshake) within timeout_ms (0: no limit), then on_open and reading. */
void sk__conn_open(sk__conn *c, sk_tls *tls, const char *servername,
                   uint64_t timeout_ms, bool nodelay);
/* Starts (or restarts) the conn's one time limit until it is usable: the
 * connect timeout of a client, the handshake timeout.  0: none. */
int sk__conn_open_timer(sk__conn *c, uv_loop_t *loop, uint64_t ms);
int sk__conn_peername(sk__conn *c, struct sockaddr_storage *ss);
int sk__conn_fileno(sk__conn *c);

/* Client dialing (client.c): conn.c calls it when the conn closes while
 * still dialing; the dial closes its attempt and then calls
 * sk__conn_dial_closed. */
void sk__dial_abort(sk__dial *d);
void sk__conn_dial_closed(sk__conn *c);

/* The frame timeout's per-peer state lives in the conn; server.c reads
 * and writes it through these. */
typedef struct sk__frame_clock {
  sk__clock clock;     /* in the server's list of frames begun; its start is
                          when the frame began, adjusted for pauses */
  sk_peer *peer;       /* whose clock it is */
  uint64_t frame_used; /* ms used, while held */
  bool frame_held;     /* a frame begun, but the peer is not read */
  bool got_frame;      /* a frame completed during the current read */
  bool reading;        /* the peer is being read */
} sk__frame_clock;

/* UDP peers (udp.c). */
int sk__udp_server_start(sk_server *s, const struct sockaddr *sa);
int sk__udp_client(uv_loop_t *loop, const struct sockaddr *sa,
                   const sk_client_opts *opts, const sk_handler *h, void *ctx,
                   sk_peer **out);
void sk__udp_server_close(sk_server *s);
void sk__udp_server_close_reaper(sk_server *s);
void sk__udp_server_free(sk_server *s);

/* Takes one more reference to t and returns it (tls_ctx.c). */
sk_tls *sk__tls_ref(sk_tls *t);

/* Server internals shared by server.c and udp.c. */
typedef struct sk__udp_table sk__udp_table;

/* A server's list of clocks that run out `limit` ms after their start,
 * with one timer for all of them: it only ever looks at the head. */
typedef struct sk__clocks {
  sk__list list; /* sk__clock, earliest start first */
  uv_timer_t timer;
  uint64_t limit; /* ms */
  sk_server *server;
  void (*expired)(sk__clock *c); /* c has already left the list */
} sk__clocks;

struct sk_server {
  uv_loop_t *loop;
  sk_addr addr; /* as bound */
  sk_server_opts opts;
  const sk_handler *handler;
  void *ctx;
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_udp_t udp;
    uv_handle_t handle;
    uv_stream_t stream;
  } h;
  uv_timer_t idle_timer;
  uv_timer_t stop_timer;
  sk__list peers;        /* open peers, least recently active first */
  sk__clocks frames;     /* sk__frame_clock of peers with a frame begun */
  sk__clocks slow;       /* peers' slow clocks: fed peers above their soft
                            cap, in the order they went over */
  unsigned npeers;       /* peers in the list, closing ones included */
  unsigned nactive;      /* peers opened and not yet closed */
  sk__udp_table *udp;    /* UDP: the senders' table and its reaper (udp.c) */
  unsigned handles_open; /* listener + timers still to close */
  unsigned next_id;      /* for naming Unix peers */
  uint64_t fd_limit;     /* RLIMIT_NOFILE, when last near it */
  int refusing;          /* why the last connection was refused, or 0 */
  sk_log_level refusing_level;      /* how that was logged */
  uint64_t warned_full, warned_fds; /* when last warned of each (ms) */
  sk__door *door;                   /* who may come in (door.c) */
  sk_server_stats stats;            /* what was let in, refused, dropped */
  bool stopping;
  bool unlink_path;
  void (*done)(void *arg);
  void *done_arg;
};

/* The door (door.c): the access list and the per-source limits.
 * sk__door_admit decides on a new peer from sa before anything is read:
 * 0 (let in; *src, when not NULL, is its source entry, to hand back to
 * sk__door_leave when the peer closes), or SK_EDENIED, SK_EPERIP or
 * SK_ERATE with the reason in why[0..whylen).  sk__door_refused counts and
 * logs a refusal of `what` ("connection", "datagram") from name. */
int sk__door_init(sk_server *s);
void sk__door_free(sk_server *s);
int sk__door_admit(sk_server *s, const struct sockaddr *sa, sk__source **src,
                   char *why, size_t whylen);
void sk__door_leave(sk_server *s, sk__source *src);
/* Gives back the rate token sk__door_admit took for a peer refused later
 * (at max_conns, out of descriptors): it never came in. */
void sk__door_refund(sk_server *s, sk__source *src);
void sk__door_refused(sk_server *s, int reason, const char *what,
                      const char *name, const char *why);

/* Connections are refused once a new descriptor's number reaches the open
 * file limit less this many. */
#define SK__FD_SPARE 8

void sk__server_link(sk_server *s, sk_peer *p);
void sk__server_arm_idle(sk_server *s);
/* The frame timeout: after each read of a conn (pending: bytes of an
 * incomplete frame are held), and when it stops or starts being read. */
void sk__server_frame_read(sk_peer *p, sk__frame_clock *fc, bool pending);
void sk__server_frame_pause(sk_peer *p, sk__frame_clock *fc, bool reading);
void sk__server_frame_forget(sk_peer *p, sk__frame_clock *fc);
/* The slow-consumer rule's clock: p's queue went above its soft cap
 * (over: the clock starts, unless it runs already) or back to it or
 * below (it stops).  Nothing for a client's peer or slow_timeout_ms 0. */
void sk__server_slow(sk_peer *p, bool over);
void sk__server_handle_closed(uv_handle_t *h);
/* The peer's server-side close is done; called from sk__peer_finish. */
void sk__server_peer_closed(sk_peer *p);
/* Moves p to the end of the activity list (it did something). */
void sk__server_touch(sk_peer *p);
/* The peer with the oldest activity, or NULL. */
sk_peer *sk__server_oldest(sk_server *s);

uint64_t sk__now(uv_loop_t *loop);

/* Sets SIGPIPE to be ignored unless the application chose what it does:
 * a write to a peer that reset would otherwise kill the process. */
void sk__ignore_sigpipe(void);

/* Fills *sun for a Unix socket path, or for "@NAME", an abstract socket
 * (sun_path[0] is NUL, and the length counts the name's bytes only).
 * path fits (sk_addr_parse checked it).  Returns the length to give to
 * bind(2) or connect(2). */
struct sockaddr_un;
socklen_t sk__addr_unix(const char *path, struct sockaddr_un *sun);

/* Sets a's host and port to the numeric address a socket is bound to. */
void sk__addr_set_bound(sk_addr *a, const struct sockaddr *sa);

/* A close callback for a handle that is the start of its own malloc. */
void sk__free_handle(uv_handle_t *h);

#endif
