/* internal.h -- what libsockit's modules share and users never see. */
#ifndef SOCKIT_INTERNAL_H
#define SOCKIT_INTERNAL_H

#include "sockit.h"

#include <stdarg.h>
#include <stdbool.h>

#define SK__CONTAINER_OF(ptr, type, member)                                    \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* Logging: sk__log formats only when the level is enabled. */
bool sk__log_enabled(sk_log_level level);
void sk__log(sk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

/* A bounded queue of bytes for one stream, written with uv_write.  Small
 * writes are appended to the tail chunk while it is private, so a burst
 * of small messages costs one allocation per 16 KiB, not one per message.
 * When nothing is queued, data is first offered to the kernel directly
 * (uv_try_write) and only the remainder is copied. */
typedef struct sk__wq {
  uv_stream_t *stream;
  sk__chunk *head, *tail;
  sk__chunk *unsent; /* first chunk not yet handed to uv_write */
  size_t queued;     /* bytes in the queue, in flight included */
  size_t cap;        /* soft cap: sk__wq_full() above it */
  bool in_flight;
  bool was_full; /* reached cap since the last drain callback */
  bool corked;   /* queue only; sk__wq_uncork() writes it all at once */
  struct sk__wq *batch_next; /* in the current batch's list */
  uv_write_t *req; /* while a uv_write is in flight: idle peers hold none */
  void (*on_error)(struct sk__wq *q, int err);
  void (*on_drain)(struct sk__wq *q); /* below cap/2 after being full */
  void (*on_empty)(struct sk__wq *q); /* everything written */
} sk__wq;

void sk__wq_init(sk__wq *q, uv_stream_t *stream, size_t cap);
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
/* Drops everything queued (the stream is closing). */
void sk__wq_clear(sk__wq *q);

/* ---------------------------------------------------------------- peers */

typedef struct sk__server sk__server_t;

typedef enum sk__peer_kind {
  SK__PEER_STREAM = 1,
  SK__PEER_UDP = 2,
} sk__peer_kind;

/* The read buffer of a loop's streams: reads are consumed synchronously
 * by the decoder, so one buffer serves every connection and an idle
 * connection holds none. */
#define SK__READ_BUF (256 * 1024)
void sk__read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void sk__read_release(const uv_buf_t *buf);

struct sk_peer {
  sk__peer_kind kind;
  sk_transport transport;
  const sk_handler *handler;
  void *ctx;
  void *data;
  sk_server *server;           /* NULL for a client */
  struct sk_peer *prev, *next; /* in the server's list, oldest activity first */
  uint64_t last_active;
  /* Streams of a server with a frame timeout: in the list of peers with a
   * frame begun, oldest first, while a frame is incomplete and read. */
  struct sk_peer *fprev, *fnext;
  uint64_t frame_started; /* ms, its frame's clock adjusted for pauses */
  uint64_t frame_used;    /* ms its frame has used, while held */
  bool in_frame;          /* in that list */
  bool frame_held;        /* a frame begun, but the peer is not read */
  bool got_frame;         /* a frame completed during the current read */
  sk_framing framing;
  size_t max_queue;
  int close_reason;
  bool opened;      /* on_open was called */
  bool closing;     /* close started; no more callbacks but on_close */
  bool ending;      /* sk_peer_end: shut down once the queue is empty */
  bool shut;        /* our write side is shut down */
  bool eof;         /* the peer's write side is done */
  bool user_paused; /* sk_peer_pause */
  bool self_paused; /* own queue over cap */
  bool reading;
  bool nodelay; /* TCP: Nagle's algorithm off */
  char name[64];
  /* Streams */
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_handle_t handle;
    uv_stream_t stream;
  } h;
  sk__wq wq;
  sk_decoder dec;
  uv_timer_t *connect_timer; /* client connect timeout */
  uv_connect_t *connect_req;
  struct sockaddr_storage *targets; /* client: addresses left to try */
  struct sockaddr_storage *local;   /* client: source address, or NULL */
  unsigned ntargets, target;
  bool retrying; /* client: handle closing to try the next address */
  /* UDP */
  uv_udp_t *udp;                     /* shared socket of the server */
  struct sockaddr_storage *udp_addr; /* UDP server: the remote address,
                                        allocated with the peer */
  struct sk_peer *hnext;             /* UDP server: next in hash bucket */
  size_t udp_queued;                 /* UDP client: bytes in uv_udp_send */
};

/* Stream peers (conn.c). */
sk_peer *sk__conn_new(uv_loop_t *loop, sk_transport t, const sk_framing *f,
                      size_t max_queue, const sk_handler *h, void *ctx);
void sk__conn_start(sk_peer *p);       /* on_open, then start reading */
void sk__conn_closed(uv_handle_t *h);  /* the close callback of a stream */
int sk__peer_fileno(const sk_peer *p); /* a stream's descriptor, or -1 */

/* UDP peers (udp.c).  Pausing a UDP peer stops reading the socket it
 * shares until no peer of that socket is paused: the kernel then drops
 * what does not fit, as UDP may. */
void sk__udp_peer_close(sk_peer *p, int reason);
void sk__udp_pause(sk_peer *p, bool paused);
int sk__udp_peer_send(sk_peer *p, const uv_buf_t *bufs, unsigned n,
                      sk_buf *shared);

/* Server hooks the peers call (server.c). */
void sk__server_peer_closed(sk_peer *p);
void sk__server_touch(sk_peer *p);

/* Server internals shared by server.c and udp.c. */
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
  uv_timer_t frame_timer;
  sk_peer *first, *last;   /* open peers, least recently active first */
  sk_peer *ffirst, *flast; /* peers with a frame begun, oldest first */
  unsigned npeers;         /* peers in the list, closing ones included */
  unsigned nactive;        /* peers opened and not yet closed */
  sk_peer **udp_table;     /* UDP: peers by remote address (udp.c) */
  unsigned udp_buckets;
  sk_peer *udp_reap; /* UDP: closed peers awaiting on_close */
  uv_idle_t udp_reaper;
  size_t udp_queued;           /* UDP: bytes in uv_udp_send requests */
  unsigned udp_paused;         /* UDP: peers paused; no receiving while > 0 */
  unsigned handles_open;       /* listener + timers still to close */
  unsigned next_id;            /* for naming Unix peers */
  uint64_t fd_limit;           /* RLIMIT_NOFILE, when last near it */
  int refusing;                /* why the last connection was refused, or 0 */
  sk_log_level refusing_level; /* how that was logged */
  uint64_t warned_full, warned_fds; /* when last warned of each (ms) */
  bool stopping;
  bool unlink_path;
  void (*done)(void *arg);
  void *done_arg;
};

/* Connections are refused once a new descriptor's number reaches the open
 * file limit less this many. */
#define SK__FD_SPARE 8

void sk__server_link(sk_server *s, sk_peer *p);
void sk__server_unlink(sk_server *s, sk_peer *p);
void sk__server_arm_idle(sk_server *s);
/* The frame timeout: after each read of p (pending: bytes of an incomplete
 * frame are held), and when p stops or starts being read. */
void sk__server_frame_read(sk_peer *p, bool pending);
void sk__server_frame_pause(sk_peer *p, bool reading);
void sk__server_handle_closed(uv_handle_t *h);

/* UDP servers and clients (udp.c). */
int sk__udp_server_start(sk_server *s, const struct sockaddr *sa);
int sk__udp_client(uv_loop_t *loop, const struct sockaddr *sa,
                   const sk_client_opts *opts, const sk_handler *h, void *ctx,
                   sk_peer **out);
void sk__udp_server_close(sk_server *s);

uint64_t sk__now(uv_loop_t *loop);

/* Sets SIGPIPE to be ignored unless the application chose what it does:
 * a write to a peer that reset would otherwise kill the process. */
void sk__ignore_sigpipe(void);

/* Resolves every address of a TCP or UDP address, in the resolver's
 * order, into a malloc'd array the caller frees.  Returns the count (> 0)
 * or an error. */
int sk__addr_resolve_all(const sk_addr *a, struct sockaddr_storage **out);

/* Sets a's host and port to the numeric address a socket is bound to. */
void sk__addr_set_bound(sk_addr *a, const struct sockaddr *sa);

/* A close callback for a handle that is the start of its own malloc. */
void sk__free_handle(uv_handle_t *h);

#endif
