/* sockit.h -- the public contract of libsockit.
 *
 * libsockit runs message-oriented servers and clients over TCP, UDP and
 * Unix-domain sockets on a caller's libuv loop.  Bytes from a socket pass
 * through a framing decoder (raw, line, or length-prefixed) and reach a
 * handler one message at a time; what a handler sends goes through the
 * same framing into a bounded per-peer write queue.
 *
 * Conventions (taken from libuv):
 * - Functions that can fail return 0 (or a non-negative count) on success
 *   and a negative error code on failure: libuv's UV_E* codes pass through
 *   unchanged, sockit adds its own SK_E* codes below.  sk_strerror() names
 *   any of them.
 * - A function that returns an error never calls its callback.
 * - Handles (sk_server, sk_peer) are owned by the library; their memory is
 *   released only after their close callback (handler.on_close) returned.
 * - Nothing here is thread-safe: use every object from its loop's thread.
 */
#ifndef SOCKIT_H
#define SOCKIT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SK_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* sockit's own error codes.  They lie below every UV_E* code. */
#define SK_EFRAMETOOBIG (-5001)  /* a message exceeds max_frame */
#define SK_EBADADDR (-5002)      /* an address does not parse */
#define SK_EBADFRAMING (-5003)   /* a framing spec does not parse */
#define SK_ETRUNCATED (-5004)    /* the peer closed in the middle of a frame */
#define SK_ETOOSLOW (-5005)      /* the peer's write queue overflowed */
#define SK_EIDLE (-5006)         /* the idle timeout passed */
#define SK_ECLOSED (-5007)       /* closed on purpose by this side */
#define SK_EFULL (-5008)         /* refused: --max-conns reached */
#define SK_EBADUDP (-5009)       /* the framing cannot be used over UDP */
#define SK_EFRAMETIMEOUT (-5010) /* a frame took longer than frame_timeout */
#define SK_ETLS (-5011)          /* the TLS handshake or session failed */
#define SK_EHANDSHAKETIMEOUT (-5012) /* the TLS handshake took too long */
#define SK_EBADNET (-5013) /* a network (address/prefix) does not parse */
#define SK_EDENIED (-5014) /* refused by an access rule */
#define SK_EPERIP (-5015)  /* refused: too many open from one source */
#define SK_ERATE (-5016)   /* refused: new ones from one source too fast */

/* Returns a static, human-readable description of err (an SK_E* or UV_E*
 * code).  Never returns NULL. */
const char *sk_strerror(int err);

/* --------------------------------------------------------------- numbers */

/* Reads the decimal digits at the start of s[0..n) into *out (0 when
 * there are none), saturating at UINT64_MAX instead of wrapping.  Returns
 * how many digits it read.  No sign, no blanks, no base prefix. */
size_t sk_parse_u64(const char *s, size_t n, uint64_t *out);

/* ------------------------------------------------------------------ text */

/* Copies in[0..len) into out as text a terminal shows as it is: valid
 * UTF-8 is copied unchanged, while C0 controls other than tab, DEL, the
 * C1 controls (U+0080 to U+009F) and every byte that is not part of valid
 * UTF-8 (overlong forms, surrogates, code points past U+10FFFF, truncated
 * sequences) are written as \xNN per byte, in lower-case hex.  An escape
 * or a character is never cut: when out is too small the text ends at the
 * last one that fits.  out is always NUL-terminated when size > 0.
 * Returns the length written, without the NUL.  A backslash in the input
 * is copied as it is, so the result is for people, not for parsing back.
 * sockit uses it for every peer-controlled text it prints. */
size_t sk_escape(const char *in, size_t len, char *out, size_t size);

/* The length of the longest prefix of in[0..len) that sk_escape copies
 * unchanged: len when nothing in it needs escaping.  It lets a caller
 * write text that needs no escaping from where it is, without a copy. */
size_t sk_escape_span(const char *in, size_t len);

/* ------------------------------------------------------------- addresses */

typedef enum sk_transport {
  SK_TCP = 1,
  SK_UDP = 2,
  SK_UNIX = 3,
} sk_transport;

#define SK_HOST_MAX 256
#define SK_PATH_MAX 108 /* sizeof(sun_path) on Linux */
#define SK_ADDR_STRLEN (SK_HOST_MAX + 32)

/* An address as a user writes it.  A plain value: copy it freely. */
typedef struct sk_addr {
  sk_transport transport;
  int tls;                /* TCP or Unix: TLS over the stream (tls://) */
  char host[SK_HOST_MAX]; /* TCP/UDP: name or literal, without brackets */
  uint16_t port;          /* TCP/UDP: 0 means "pick a free port" */
  /* Unix: a file system path, or "@NAME" for the abstract socket NAME
   * (Linux: no file, gone with its last descriptor; a file whose name
   * starts with '@' is reached as "./@x"). */
  char path[SK_PATH_MAX];
  /* TCP/UDP: the families the host may resolve to: AF_UNSPEC (0, what
   * sk_addr_parse gives) for both, AF_INET or AF_INET6 for that one
   * only.  Unix addresses ignore it. */
  int family;
} sk_addr;

/* The accepted forms, for usage messages. */
extern const char sk_addr_forms[];

/* Parses text into *out.  Accepted: tcp://HOST:PORT, tls://HOST:PORT,
 * udp://HOST:PORT, unix:PATH, unix:///abs/path, unix:@NAME (an abstract
 * socket, Linux), tls+unix:PATH, and the TCP shorthands HOST:PORT, :PORT
 * and PORT.  IPv6 literals go in brackets ([::1]:PORT).  A missing host
 * becomes 127.0.0.1.
 *
 * PORT is a decimal number or a service name looked up here, at parse
 * time, in the services database (/etc/services, through
 * getservbyname_r) for the transport ("tcp" for tcp:// and tls://, "udp"
 * for udp://): localhost:http is port 80.  Only the number is kept, so
 * sk_addr_format writes 80 back; a name the database does not know is a
 * bad address.  A service name is letters, digits, '-' and '_', with at
 * least one letter.
 *
 * Returns 0, or SK_EBADADDR with *out unspecified. */
int sk_addr_parse(sk_addr *out, const char *text);

/* Why text is not an address, as a short phrase for messages ("port out
 * of range (0-65535)", "empty Unix socket path", ...), or NULL when
 * sk_addr_parse accepts it.  The phrase is static, except the one naming
 * an unknown service ("unknown tcp service 'htp' (see /etc/services)"),
 * which is valid until the calling thread's next call. */
const char *sk_addr_problem(const char *text);

/* Flags for sk_addr_parse_ex. */
#define SK_ADDR_IPV4 0x1  /* IPv4 only: out->family is AF_INET */
#define SK_ADDR_IPV6 0x2  /* IPv6 only: AF_INET6; a missing host is ::1 */
#define SK_ADDR_LOCAL 0x4 /* a local address to bind a client to, below */

/* sk_addr_parse and sk_addr_problem in one, with flags (0 is
 * sk_addr_parse).  SK_ADDR_IPV4 or SK_ADDR_IPV6 (not both) restricts a
 * TCP or UDP address to one family: out->family says so for resolution,
 * and a literal of the other family is a bad address.  SK_ADDR_LOCAL
 * reads a source address instead, HOST, HOST:PORT, [V6], [V6]:PORT, a
 * bare IPv6 literal, or :PORT (any address: 0.0.0.0, or :: with
 * SK_ADDR_IPV6); a missing port is 0, services are looked up as for TCP,
 * and there is no scheme (the transport is SK_TCP).  Returns 0, or
 * SK_EBADADDR with *why (when why is not NULL) set as sk_addr_problem
 * says. */
int sk_addr_parse_ex(sk_addr *out, const char *text, unsigned flags,
                     const char **why);

/* Writes the canonical form of addr ("tcp://127.0.0.1:8000", "unix:/x",
 * "unix:@name") into buf (always NUL-terminated when size > 0).  The
 * port is written as a number, also when it was given by name.  Returns
 * the length the full string has, like snprintf. */
int sk_addr_format(const sk_addr *addr, char *buf, size_t size);

/* Writes what err (from listening on or connecting to addr) means, into
 * buf, in more precise words than sk_strerror when addr tells more: for a
 * Unix socket file, UV_ENOENT and UV_ENOTDIR become "directory D does not
 * exist" or "D is not a directory" when the file's directory is missing,
 * else "no such socket file"; UV_ECONNREFUSED on a socket file becomes
 * "connection refused (a stale socket file: nothing listens on it)".  It
 * looks at the file system when called.  Anything else is sk_strerror(err).
 * Returns the length, like snprintf. */
int sk_addr_strerror(const sk_addr *addr, int err, char *buf, size_t size);

/* Resolves a TCP or UDP address to a socket address of addr->family (any
 * when AF_UNSPEC), synchronously (it blocks the calling thread for the
 * look-up).  Returns 0 or a UV_EAI_* error. */
int sk_addr_resolve(const sk_addr *addr, struct sockaddr_storage *out);

/* Resolves a TCP or UDP address to every socket address its host has, in
 * the resolver's order (localhost: ::1, then 127.0.0.1), synchronously.
 * On success returns the count (at least 1) and sets *out to an array the
 * caller releases with free(); else returns a UV_EAI_* error and leaves
 * *out alone.  With sk_client_opts.targets, a caller that connects to
 * many ports of one host (a port scan) looks the name up once. */
int sk_addr_resolve_all(const sk_addr *addr, struct sockaddr_storage **out);

/* Formats a socket address as "127.0.0.1:40022" or "[::1]:40022" into buf.
 * Returns the length, like snprintf. */
int sk_sockaddr_format(const struct sockaddr *sa, char *buf, size_t size);

/* ------------------------------------------------------------- networks */

/* An IP network: an address and a prefix length, as in 10.0.0.0/8 or
 * fe80::/10.  A plain value.  IPv4 is always held as AF_INET, also when it
 * was written or seen as an IPv4-mapped IPv6 address (::ffff:10.0.0.1). */
typedef struct sk_net {
  int family;       /* AF_INET or AF_INET6 */
  uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
  unsigned prefix;  /* 0-32 (AF_INET) or 0-128 (AF_INET6) */
} sk_net;

/* The longest sk_net_format output, NUL included. */
#define SK_NET_STRLEN 64

/* Parses "ADDR", "ADDR/PREFIX" or, for IPv4, "ADDR/MASK" (a dotted,
 * contiguous mask: 10.0.0.0/255.0.0.0) into *out.  ADDR is an IPv4 or IPv6
 * literal, an IPv6 one optionally in brackets; without a prefix the
 * network is that one address (/32, /128).  An IPv4-mapped network
 * (::ffff:0:0/96 and longer) becomes the IPv4 network it covers.  Bits
 * set after the prefix are kept as written (see sk_net_is_network).
 * Returns 0 or SK_EBADNET. */
int sk_net_parse(sk_net *out, const char *text);

/* Why text is not a network, as a short static phrase ("prefix out of
 * range (0-32)", "mask is not contiguous", ...), or NULL when sk_net_parse
 * accepts it. */
const char *sk_net_problem(const char *text);

/* Writes "10.0.0.0/8", "fe80::/10", or a lone address without its full
 * prefix ("10.1.2.3", "::1"), into buf.  Returns the length, like
 * snprintf. */
int sk_net_format(const sk_net *n, char *buf, size_t size);

/* The one-address network (/32, /128) of a socket address's IP; an
 * IPv4-mapped IPv6 address becomes its IPv4 address.  Returns 0, or
 * SK_EBADNET for a family without IP addresses (AF_UNIX). */
int sk_net_from_sockaddr(sk_net *out, const struct sockaddr *sa);

/* Non-zero when sa's IP lies in n (an IPv4-mapped IPv6 sa is matched as
 * the IPv4 address it is).  O(1). */
int sk_net_contains(const sk_net *n, const struct sockaddr *sa);

/* Non-zero when no bit is set after the prefix (10.0.0.0/8, not
 * 10.1.2.3/8). */
int sk_net_is_network(const sk_net *n);

/* The network's first address (host bits cleared) and last address (host
 * bits set: the IPv4 broadcast address), with n's prefix. */
void sk_net_network(const sk_net *n, sk_net *out);
void sk_net_broadcast(const sk_net *n, sk_net *out);

/* The prefix length of a contiguous mask of family's width (4 or 16
 * bytes at mask), or SK_EBADNET when its ones are not contiguous. */
int sk_net_prefix_from_mask(int family, const uint8_t *mask);

/* ------------------------------------------------------- access lists */

/* An access list: allow and deny rules by network.  Deny wins over allow;
 * once any allow rule is in the list, an address no allow rule covers is
 * refused; an empty list allows everyone.  Reference-counted, so that a
 * server keeps the list it checks while a new one is built and swapped in
 * (sk_server_set_acl).
 *
 * A check costs one hash probe per distinct prefix length in the list (at
 * most 33 for IPv4, 129 for IPv6), whatever the number of rules. */
typedef struct sk_acl sk_acl;

typedef enum sk_acl_action {
  SK_ACL_ALLOW = 1,
  SK_ACL_DENY = 2,
} sk_acl_action;

/* An empty list holding one reference, or NULL when memory runs out. */
sk_acl *sk_acl_new(void);

/* Adds a rule for n's network (host bits cleared).  label (copied) names
 * where the rule came from, for logs: "--deny 10.0.0.0/8",
 * "allow.txt:12"; NULL names it by its network.  Adding the same network
 * and action twice keeps the first label.  Returns 0, SK_EBADNET (n is
 * no network sk_net_parse could give, or action is neither), or
 * UV_ENOMEM (a is unchanged). */
int sk_acl_add(sk_acl *a, const sk_net *n, sk_acl_action action,
               const char *label);

/* SK_ACL_ALLOW or SK_ACL_DENY for sa.  *why (may be NULL) is set to the
 * label of the deciding rule -- the longest matching prefix among the deny
 * rules, else among the allow rules -- or to a static phrase when no rule
 * decided ("no allow rule matches", "not an IP address").  A non-IP sa
 * (AF_UNIX) is allowed.  Valid as long as a. */
sk_acl_action sk_acl_check(const sk_acl *a, const struct sockaddr *sa,
                           const char **why);

/* Rules of each kind in the list. */
size_t sk_acl_count(const sk_acl *a, sk_acl_action action);

/* Takes one more reference / drops one (the last frees a; NULL is
 * ignored). */
sk_acl *sk_acl_ref(sk_acl *a);
void sk_acl_unref(sk_acl *a);

/* --------------------------------------------------------------- framing */

typedef enum sk_frame_mode {
  SK_FRAME_RAW = 0,  /* bytes as they come: no boundaries */
  SK_FRAME_LINE = 1, /* messages end at '\n'; a '\r' before it is dropped */
  SK_FRAME_LEN = 2,  /* an unsigned length header, then the payload */
} sk_frame_mode;

#define SK_FRAME_HEADER_MAX 8
#define SK_MAX_FRAME_DEFAULT ((size_t)1 << 20)

typedef struct sk_framing {
  sk_frame_mode mode;
  unsigned width;    /* SK_FRAME_LEN: header bytes, 1, 2, 4 or 8 */
  int little_endian; /* SK_FRAME_LEN: 0 = big-endian (network order) */
  size_t max_frame;  /* largest payload accepted or sent, in bytes; values
                      * over SIZE_MAX - 10 act as SIZE_MAX - 10 */
} sk_framing;

/* Parses "raw", "line", "len", or "len:N[be|le]" (N in 1, 2, 4, 8) into
 * *out.  max_frame is set to SK_MAX_FRAME_DEFAULT.  Returns 0 or
 * SK_EBADFRAMING. */
int sk_framing_parse(sk_framing *out, const char *spec);

/* Writes the canonical spec ("line", "len:4be") into buf.  Returns the
 * length, like snprintf. */
int sk_framing_format(const sk_framing *f, char *buf, size_t size);

/* Decodes the first message at the start of buf[0..len).  Pure: it keeps
 * no state and allocates nothing.  On success sets *msg (pointing into buf)
 * and *msglen and returns the bytes the frame occupies (> 0).  Returns 0
 * when buf holds no complete frame yet, SK_EFRAMETOOBIG as soon as the
 * header (or, for lines, the bytes so far) exceeds f->max_frame.  For
 * SK_FRAME_RAW the whole buffer is one message. */
long sk_frame_decode(const sk_framing *f, const char *buf, size_t len,
                     const char **msg, size_t *msglen);

/* Writes the header that precedes a payload of len bytes into
 * out[0..SK_FRAME_HEADER_MAX).  Returns the header's length (0 for raw and
 * line), or SK_EFRAMETOOBIG when len exceeds max_frame or the width. */
int sk_frame_header(const sk_framing *f, size_t len,
                    char out[SK_FRAME_HEADER_MAX]);

/* The bytes that follow a payload: "\n" for line framing, "" otherwise. */
const char *sk_frame_trailer(const sk_framing *f, size_t *len);

/* An incremental decoder: feed it a byte stream cut anywhere, get the
 * same messages.  The struct is public so it can be embedded; treat the
 * fields as private. */
typedef struct sk_decoder {
  sk_framing framing;
  char *buf;  /* the partial frame carried between feeds, or NULL */
  size_t len; /* bytes in buf */
  size_t cap; /* bytes allocated for buf */
} sk_decoder;

/* Called once per message.  msg is valid only during the call.  Return 0
 * to go on, anything else to stop decoding (feed returns that value). */
typedef int (*sk_message_cb)(void *arg, const char *msg, size_t len);

/* Prepares d to decode f (copied); it holds no memory until a frame is
 * cut by the end of a feed.  Release with sk_decoder_free. */
void sk_decoder_init(sk_decoder *d, const sk_framing *f);

/* Feeds data[0..len) and calls cb for every message it completes, in
 * order.  Complete frames are passed straight from data without copying;
 * only a partial frame at the end is copied into the decoder, and its
 * length is checked against max_frame before anything is allocated.
 * Returns 0, cb's non-zero return, SK_EFRAMETOOBIG, or UV_ENOMEM.  After
 * an error the decoder must not be fed again. */
int sk_decoder_feed(sk_decoder *d, const char *data, size_t len,
                    sk_message_cb cb, void *arg);

/* Ends the stream: a line without its final '\n' is delivered as a
 * message (a final '\r' dropped); a partial length-prefixed frame gives
 * SK_ETRUNCATED.  Returns 0, cb's non-zero return, SK_EFRAMETOOBIG, or
 * SK_ETRUNCATED. */
int sk_decoder_finish(sk_decoder *d, sk_message_cb cb, void *arg);

/* Bytes of a partial frame held by the decoder. */
size_t sk_decoder_pending(const sk_decoder *d);

/* Releases the decoder's buffer.  The decoder may be fed again after. */
void sk_decoder_free(sk_decoder *d);

/* ------------------------------------------------------- shared buffers */

/* An immutable, reference-counted, already framed message, for sending the
 * same bytes to many peers without copying them per peer. */
typedef struct sk_buf sk_buf;

/* Frames msg[0..len) with f into a new buffer holding one reference.
 * Returns NULL when len is too large for f or memory runs out. */
sk_buf *sk_buf_frame(const sk_framing *f, const void *msg, size_t len);
/* Appends one framed message, the concatenation of parts[0..n), to *b,
 * growing it (doubling, so a burst of appends costs O(total)); *b may be
 * NULL (a new buffer) and must be held by the caller alone (one
 * reference): it may move.  On error *b is unchanged.  Returns 0,
 * SK_EFRAMETOOBIG, or UV_ENOMEM. */
int sk_buf_append_frame(sk_buf **b, const sk_framing *f, const uv_buf_t *parts,
                        unsigned n);

/* Takes one more reference to b and returns it. */
sk_buf *sk_buf_ref(sk_buf *b);
/* Drops one reference; the last frees b.  NULL is ignored. */
void sk_buf_unref(sk_buf *b);
/* The bytes b holds (framing included). */
size_t sk_buf_len(const sk_buf *b);

/* ------------------------------------------------------------------ TLS */

/* What a TLS context is made from.  Every string is a file name or text
 * the caller owns; sk_tls_new copies what it needs.  Zero (or NULL) means
 * the default named beside each field. */
typedef struct sk_tls_opts {
  /* PEM certificate chain and private key.  Server: without them a fresh
   * self-signed ECDSA P-256 certificate is made (see sk_tls_fingerprint).
   * Client: presented when the server asks for one. */
  const char *cert_file;
  const char *key_file;
  /* Client: trust these CAs instead of the system store. */
  const char *ca_file;
  /* Server: require a client certificate signed by these CAs. */
  const char *client_ca_file;
  /* Client: accept exactly the certificate with this fingerprint,
   * "sha256:HEX" (colons allowed between byte pairs), whatever signed it
   * and whatever names it has. */
  const char *pin;
  /* Client: no verification at all (sockit says so on stderr). */
  int insecure;
  /* Comma-separated ALPN protocols to offer (client) or accept (server),
   * in order of preference; NULL for none. */
  const char *alpn;
} sk_tls_opts;

/* A TLS configuration (an OpenSSL context), shared by any number of
 * servers and clients.  Reference-counted: servers and peers that use it
 * hold a reference, so it may be released right after being passed. */
typedef struct sk_tls sk_tls;

/* Makes a server (server != 0) or client context from opts.  TLS 1.2 at
 * least, 1.3 preferred, OpenSSL's default ciphers.  Reads every file now
 * and blocks for it.  Returns 0 with *out holding one reference, or
 * SK_ETLS with a one-line reason naming the file and the problem in
 * err[0..errlen) (always NUL-terminated when errlen > 0). */
int sk_tls_new(const sk_tls_opts *opts, int server, sk_tls **out, char *err,
               size_t errlen);

/* Drops one reference; the context is freed with the last. */
void sk_tls_unref(sk_tls *t);

/* Writes this side's own certificate's fingerprint, "sha256:HEX" with
 * lower-case hex and no colons, into buf.  Returns its length, like
 * snprintf, or SK_ETLS when the context has no certificate. */
int sk_tls_fingerprint(const sk_tls *t, char *buf, size_t size);

/* ---------------------------------------------------------------- peers */

/* One remote party: an accepted or connected stream (TCP, Unix), or for
 * UDP one remote address.  Owned by the library: a handler may use it from
 * on_open until on_close returns, never after. */
typedef struct sk_peer sk_peer;

/* What a server or client calls back.  ctx is the pointer given at start.
 * Any member may be NULL. */
typedef struct sk_handler {
  /* The peer is ready: connected, and for TLS the handshake is done. */
  void (*on_open)(sk_peer *p, void *ctx);
  /* One decoded message; msg is valid only during the call. */
  void (*on_message)(sk_peer *p, const char *msg, size_t len, void *ctx);
  /* The peer will send nothing more (it half-closed).  When NULL the
   * library calls sk_peer_end(p). */
  void (*on_eof)(sk_peer *p, void *ctx);
  /* The write queue fell to half its cap after having reached it. */
  void (*on_drain)(sk_peer *p, void *ctx);
  /* The peer is gone; reason is 0 for an orderly close, else an error
   * code (SK_EFRAMETOOBIG, SK_ETOOSLOW, UV_ECONNRESET, ...).  Also called,
   * without on_open, when a client's connect fails. */
  void (*on_close)(sk_peer *p, int reason, void *ctx);
} sk_handler;

/* Frames msg[0..len) and queues it for the peer.  The bytes are copied
 * (or written at once); the caller keeps msg.  A stream peer always
 * queues, even above the cap: the library pauses reading from a peer
 * whose own queue is over its cap, which bounds what a request/response
 * service can queue.  Use sk_peer_writable() first when the data comes
 * from somewhere else.  A UDP peer sends the datagram at once or drops it
 * when the socket is backed up (SK_ETOOSLOW); a UDP client whose send
 * meets an ICMP port unreachable is closed (UV_ECONNREFUSED).  Returns 0,
 * SK_EFRAMETOOBIG (over max_frame, or over 4 GiB - 1, the most one libuv
 * buffer holds), UV_EPIPE when the peer is closing, UV_EBUSY while a
 * sk_peer_sendfile transfer runs, SK_ETOOSLOW or another send error for
 * UDP, or UV_ENOMEM.  Only a message it took is counted in
 * sk_peer_stats and shown to the tap. */
int sk_peer_send(sk_peer *p, const void *msg, size_t len);

/* Queues a shared, already framed buffer; takes its own reference. */
int sk_peer_send_buf(sk_peer *p, sk_buf *b);

/* Queues b, which someone else produced (a chat line), for p: the
 * slow-consumer rule of a fan-out.  The producer is never paused for p;
 * instead p is closed with SK_ETOOSLOW when its queue would pass its hard
 * cap, or once it has stayed above its soft cap (max_queue) for the
 * server's slow_timeout_ms without draining below it.  A reader that
 * keeps up is never dropped, whatever the size of one burst under the
 * hard cap.  Takes its own reference to b.  Returns 0, SK_ETOOSLOW (p is
 * now closing), or as sk_peer_send_buf.  A client's peer has the hard cap
 * only (16 x its max_queue).  A UDP peer has no queue: the offer is a
 * send, and a datagram its backed-up socket cannot take is lost (0). */
int sk_peer_offer(sk_peer *p, sk_buf *b);

/* Non-zero when len more bytes fit under the peer's queue cap (or its
 * queue is empty). */
int sk_peer_writable(const sk_peer *p, size_t len);

/* Bytes queued and not yet accepted by the kernel. */
size_t sk_peer_queued(const sk_peer *p);

/* Stops / resumes reading from the peer (for backpressure from another
 * destination).  Reading also pauses by itself while the peer's own queue
 * is over its cap.  A UDP server's peers share one socket: while any of
 * them is paused, the socket is not read (the kernel drops the excess). */
void sk_peer_pause(sk_peer *p);
/* Undoes sk_peer_pause (reading may still wait for the peer's own queue to
 * drain).  Both are no-ops on a closing peer and when already so. */
void sk_peer_resume(sk_peer *p);

/* Graceful end: flush the queue, then half-close (TCP/Unix shutdown) and
 * close once the peer has finished too.  Messages still arrive until then.
 * For UDP peers, the same as sk_peer_close(p, 0). */
void sk_peer_end(sk_peer *p);

/* Closes at once, dropping the queue.  on_close follows with reason. */
void sk_peer_close(sk_peer *p, int reason);

/* Called once a sk_peer_sendfile transfer ended: status is 0 when every
 * byte was handed to the stream; UV_EPIPE when the peer went first (it
 * closed, or its socket failed: then it is closed with that reason, as
 * for a failed queued write); else the file's error.  sent is the count
 * that went out. */
typedef void (*sk_sendfile_cb)(sk_peer *p, int status, uint64_t sent,
                               void *arg);

/* Sends len bytes of file descriptor fd, from offset (-1: from fd's
 * current position, which then moves; a pipe or a regular file), after
 * whatever is queued, then calls cb.  Zero-copy (sendfile(2) off the
 * loop's thread) when the stream is a plain socket; through the stream
 * (read, then queued as sk_peer_send does, bounded by max_queue) when it
 * is not, as for TLS.  UINT64_MAX as len means to the end of the file.
 * No message framing is added: use it with raw framing, or frame the
 * header yourself.  The caller keeps fd open until cb; nothing else may be
 * sent to p meanwhile.  Returns 0, or UV_ENOTSUP for UDP peers, UV_EBUSY
 * while another transfer runs, UV_EPIPE when the peer is closing,
 * without calling cb. */
int sk_peer_sendfile(sk_peer *p, int fd, int64_t offset, uint64_t len,
                     sk_sendfile_cb cb, void *arg);

/* Why the peer closed, in words: during on_close, a line a user can act
 * on when more is known than the reason code (a failed TLS handshake:
 * "certificate verify failed: unknown CA ..."), else sk_strerror of the
 * reason.  Never NULL; valid until on_close returns. */
const char *sk_peer_error(const sk_peer *p);

/* Describes the session for logs: for TLS the protocol, cipher and the
 * peer certificate; "" for plain streams and UDP.  Returns the length,
 * like snprintf. */
int sk_peer_describe(const sk_peer *p, char *buf, size_t size);

/* What went through a peer so far.  Bytes are counted as they are on
 * the wire, framing included (for TLS: the plaintext, as the application
 * sends and reads it). */
typedef struct sk_peer_stats {
  uint64_t received; /* bytes read from the peer */
  /* Bytes the peer's stream (or UDP socket) took: everything handed to
   * it, by sk_peer_send and its kin and by sk_peer_sendfile, less what
   * still waits in its write queue.  During on_close that is what left,
   * since a closing peer's queue is dropped unsent. */
  uint64_t sent;
  uint64_t open_ns; /* time since on_open, in nanoseconds (0 before) */
} sk_peer_stats;

/* Fills *out for p.  O(1). */
void sk_peer_stats_get(const sk_peer *p, sk_peer_stats *out);

/* Writes the one summary line of sockit's -v, without a newline, into
 * buf: "1,234 bytes sent, 5,678 received in 2.31 s (534 B/s up, 2.4
 * KiB/s down)".  Counts are exact, with thousands separated by commas;
 * the duration has two decimals; rates are bytes per second over the
 * whole duration (at least 1 ms), in B/s below 1 KiB/s and else in KiB/s,
 * MiB/s or GiB/s with one decimal.  Returns the length, like snprintf. */
int sk_peer_stats_format(const sk_peer_stats *st, char *buf, size_t size);

/* Which way a tapped chunk went. */
typedef enum sk_tap_dir {
  SK_TAP_RECEIVED = 0, /* read from the peer */
  SK_TAP_SENT = 1,     /* handed to the peer to send */
} sk_tap_dir;

/* Sees every byte of a peer as it is on the wire (framing included; TLS:
 * the plaintext), in the order it is read or queued: data[0..len) in
 * direction dir, whose first byte is byte number offset of that direction
 * (counted from 0 at on_open).  data is valid only during the call. */
typedef void (*sk_tap_fn)(sk_peer *p, sk_tap_dir dir, uint64_t offset,
                          const char *data, size_t len, void *arg);

/* Calls fn with arg for every chunk p reads or is handed from now on
 * (NULL: no more).  Bytes that go by sk_peer_sendfile are counted but not
 * shown to the tap: a caller that needs to see them sends otherwise. */
void sk_peer_set_tap(sk_peer *p, sk_tap_fn fn, void *arg);

/* Attaches the caller's pointer to p / returns it (NULL at first). */
void sk_peer_set_data(sk_peer *p, void *data);
void *sk_peer_data(const sk_peer *p);

/* "127.0.0.1:40022", "[::1]:40022", or "unix#7" (Unix peers are numbered
 * per server).  Valid as long as the peer. */
const char *sk_peer_name(const sk_peer *p);

/* The transport under the peer (TLS peers: SK_TCP or SK_UNIX). */
sk_transport sk_peer_transport(const sk_peer *p);

/* Non-zero when the peer's stream is TLS. */
int sk_peer_is_tls(const sk_peer *p);

/* -------------------------------------------------------------- servers */

typedef struct sk_server sk_server;

typedef struct sk_server_opts {
  sk_framing framing;
  size_t max_queue;   /* write queue cap per peer, bytes (1 MiB) */
  unsigned max_conns; /* 0 = no limit; UDP: peers kept (4096) */
  int backlog;        /* listen(2) backlog (511) */
  /* Peers that neither complete a message nor are sent anything for this
   * many ms are closed with SK_EIDLE (UDP peers are forgotten): bytes of a
   * message still incomplete do not count.  0 = never. */
  uint64_t idle_timeout_ms;
  /* A frame (a line, a length-prefixed message) must arrive whole within
   * this many ms of its first byte, or its peer is closed with
   * SK_EFRAMETIMEOUT: a client that trickles bytes to hold a connection
   * (slowloris) is cut although it is never idle.  The clock runs only
   * while the server reads the peer.  0 = never; streams only. */
  uint64_t frame_timeout_ms;
  /* TCP_NODELAY on accepted connections (1, the default): replies leave
   * at once.  0 leaves Nagle's algorithm on, so that many small writes
   * merge into fewer packets: a chat room fanning lines out to many
   * members gains half again in deliveries/s. */
  int nodelay;
  /* The server context for tls:// addresses (sk_tls_new with server 1);
   * the server takes its own reference.  Required when addr->tls. */
  sk_tls *tls;
  /* A TLS handshake must finish within this many ms or the connection is
   * closed with SK_EHANDSHAKETIMEOUT (10 s by default). */
  uint64_t handshake_timeout_ms;

  /* The door: who may come in.  Checked on each accepted TCP or TLS
   * connection before any byte is read or sent (a refused one is closed
   * with no handshake) and on each datagram from a new UDP source (a
   * refused one is dropped unread).  Unix peers have no IP address: none
   * of these apply to them.  Refusals are counted (sk_server_stats) and
   * logged with -v level INFO, with one WARN summary a minute at most. */
  sk_acl *acl; /* NULL: everyone; the server takes its own reference */
  /* Open connections (UDP: peers) from one source; 0 = no limit.  A
   * source is an IPv4 address, or an IPv6 network of per_ip_prefix6
   * bits. */
  unsigned max_conns_per_ip;
  unsigned per_ip_prefix6; /* 1-128; 0 or the default: 64 (more than 128
                              is UV_EINVAL from sk_server_start) */
  /* New connections (UDP: new peers) from one source: at most rate_burst
   * at once, refilled at rate_burst per rate_period_ms (a token bucket).
   * 0 = no limit. */
  unsigned rate_burst;
  uint64_t rate_period_ms; /* 1000 by default */

  /* Peers fed by others (sk_peer_offer: chat members) are dropped with
   * SK_ETOOSLOW when their queue passes max_queue_hard, or stays above
   * max_queue for slow_timeout_ms without draining below it.
   * max_queue_hard 0 means 16 x max_queue (one below max_queue makes
   * sk_server_start fail with UV_EINVAL); slow_timeout_ms 0 means never
   * (10 s by default). */
  size_t max_queue_hard;
  uint64_t slow_timeout_ms;
} sk_server_opts;

/* Fills opts with the defaults named above and line framing. */
void sk_server_opts_init(sk_server_opts *opts);

/* Binds and listens on addr (TCP with SO_REUSEADDR, a Unix socket file
 * replacing a stale one, or UDP) and serves peers through handler.  handler
 * and ctx must stay valid until the server is closed.  On success *out is
 * the server; on error nothing is left behind and the code is returned
 * (UV_EADDRINUSE, UV_EACCES, SK_EBADUDP, SK_ETLS when addr->tls without
 * opts->tls, ...).  A host name is looked up synchronously: the call blocks
 * the loop's thread until the resolver answers (give a numeric address to
 * avoid that).  Like sk_client_connect, it sets SIGPIPE to be ignored if
 * its disposition is still the default. */
int sk_server_start(uv_loop_t *loop, const sk_addr *addr,
                    const sk_server_opts *opts, const sk_handler *handler,
                    void *ctx, sk_server **out);

/* The address actually bound (the real port when 0 was asked). */
const sk_addr *sk_server_addr(const sk_server *s);

/* Peers currently open. */
unsigned sk_server_peer_count(const sk_server *s);

/* What the server has turned away or dropped since it started. */
typedef struct sk_server_stats {
  uint64_t accepted; /* connections (UDP: peers) let in */
  uint64_t denied;   /* refused by the access list */
  uint64_t full;     /* refused at max_conns or out of descriptors */
  uint64_t per_ip;   /* refused at max_conns_per_ip */
  uint64_t rate;     /* refused by the per-source rate */
  uint64_t slow;     /* fed peers dropped as too slow */
} sk_server_stats;

void sk_server_stats_get(const sk_server *s, sk_server_stats *out);

/* Replaces the server's access list (NULL: everyone) for the connections
 * and datagrams that arrive from now on; the server takes a reference to
 * acl and drops the old one.  Peers already in stay. */
void sk_server_set_acl(sk_server *s, sk_acl *acl);

/* Stops accepting, ends every peer gracefully (sk_peer_end), and closes
 * those still open after flush_ms.  done (may be NULL) runs once the last
 * handle is closed; the server's memory is released before that call, and
 * a Unix socket file is removed.  Called again before done ran (a second
 * Ctrl-C), it cuts the flush short: the peers still open are closed from
 * the loop at once, and the second call's flush_ms, done and arg are
 * ignored.  After done ran, s is gone. */
void sk_server_stop(sk_server *s, uint64_t flush_ms, void (*done)(void *arg),
                    void *arg);

/* -------------------------------------------------------------- clients */

typedef struct sk_client_opts {
  sk_framing framing;
  size_t max_queue;            /* write queue cap, bytes (1 MiB) */
  uint64_t connect_timeout_ms; /* 0 = none (10 s by default) */
  /* TCP, TLS and UDP: bind to this local address (AF_INET or AF_INET6,
   * its port usually 0) before connecting, to pick the source address;
   * NULL for any.  Only the resolved addresses of its family are tried
   * (UV_EAFNOSUPPORT when there is none).  A source in use or not of
   * this host fails the connect with UV_EADDRINUSE or UV_EADDRNOTAVAIL
   * (UDP: from sk_client_connect).  Unix addresses refuse it (UV_EINVAL).
   * Copied at connect time. */
  const struct sockaddr *local_addr;
  /* The client context for tls:// addresses (sk_tls_new with server 0);
   * the peer takes its own reference.  Required when addr->tls.  The
   * connect timeout then covers the handshake too. */
  sk_tls *tls;
  /* The name sent as SNI and checked against the certificate; NULL: the
   * address's host.  Copied at connect time. */
  const char *servername;
  /* Addresses of addr's host resolved already (sk_addr_resolve_all): the
   * client tries these, in order, instead of looking the host up again.
   * Their ports are ignored: each is tried at addr->port.  NULL with
   * ntargets 0 (the default): look addr's host up.  Copied at connect
   * time.  UDP uses the first. */
  const struct sockaddr_storage *targets;
  unsigned ntargets;
  /* Once open, the peer is closed with SK_EIDLE when it neither completes
   * a message nor is sent anything for this many ms: a server's
   * idle_timeout_ms, for a client (a sk_peer_sendfile transfer keeps it
   * busy).  The connect itself is bounded by connect_timeout_ms alone.
   * 0 = never (the default). */
  uint64_t idle_timeout_ms;
} sk_client_opts;

/* Fills opts with the defaults named above and raw framing. */
void sk_client_opts_init(sk_client_opts *opts);

/* Connects to addr and reports through handler: on_open when connected,
 * then as for a server's peers.  A connect that fails or times out calls
 * on_close(p, err) without on_open; sk_peer_error(p) then says why in
 * words (a TLS verification failure, for one).  For TLS, on_open comes
 * after the handshake and the certificate checks.  UDP "connects" at once
 * (the socket is bound to the remote address).  A host name is looked up
 * synchronously, blocking the calling thread until the resolver answers,
 * unless opts->targets gives its addresses.
 * Returns 0 with *out set to the peer, or an error (bad address, failed
 * resolution) without any callback.  Like
 * sk_server_start, it sets SIGPIPE to be ignored if it is still at its
 * default. */
int sk_client_connect(uv_loop_t *loop, const sk_addr *addr,
                      const sk_client_opts *opts, const sk_handler *handler,
                      void *ctx, sk_peer **out);

/* --------------------------------------------------------------- logging */

typedef enum sk_log_level {
  SK_LOG_ERROR = 0,
  SK_LOG_WARN = 1, /* a peer dropped for cause */
  SK_LOG_INFO = 2, /* connects and disconnects */
  SK_LOG_DEBUG = 3,
} sk_log_level;

/* Where the library's log lines go (a line without its '\n'); NULL, the
 * default, drops them.  Lines above level are not even formatted. */
typedef void (*sk_log_fn)(sk_log_level level, const char *line, void *arg);
/* Sets the process-wide log sink (fn with arg) and the highest level that
 * reaches it. */
void sk_log_set(sk_log_fn fn, sk_log_level level, void *arg);

/* -------------------------------------------------------------- services */

/* A built-in service: a handler with its own state.  Services see only
 * peers and messages, never sockets. */
typedef struct sk_service_opts {
  sk_framing framing; /* for the stdio service's own input and output */
  size_t max_queue;
  int keep_open; /* stdio: go on after the first peer left; stdin goes to
                    every peer */
  /* stdio: the peer is this program's own connection (sockit connect).
   * After the peer's EOF, stdin still goes out until it ends, as netcat
   * does; a listener stops there unless its stdin is a file.  A listener
   * logs, at SK_LOG_INFO, one line per peer as it closes: its name and
   * sk_peer_stats_format's summary; in connect_mode that line is the
   * caller's to print (sockit connect prints it last). */
  int connect_mode;
  /* stdio over UDP: after stdin ended, finish once no datagram came for
   * this long (0: never; a UDP peer never "leaves"). */
  uint64_t linger_ms;
  /* stdio: peer messages written to stdout have control characters and
   * invalid UTF-8 escaped (for a terminal), as \xNN per byte; C0 controls
   * other than tab, DEL, C1 controls and bytes that are not valid UTF-8
   * are escaped, valid UTF-8 text is not.  Line and len framing only: raw
   * data is written as it came, since a read may split a character. */
  int escape_output;
  /* stdio: line ends of stdin go out as "\r\n" (for SMTP, HTTP and the
   * like by hand).  Raw framing: every "\n" not already after a "\r"
   * becomes "\r\n", as netcat's -C does.  Line framing: each line goes
   * out with "\r\n" for its "\n" (a "\r\n" on stdin stays one).  Not
   * for len framing, whose messages have no line ends. */
  int crlf;
  /* stdio: every peer's bytes both ways go to tap with tap_arg (see
   * sk_peer_set_tap).  A regular file on stdin is then read and sent
   * rather than handed to sk_peer_sendfile, so that the tap sees it. */
  sk_tap_fn tap;
  void *tap_arg;
  /* stdio: called once the service has nothing more to do (its one peer
   * left, or stdin or stdout failed), after stdout was flushed and every
   * peer closed; the caller then stops its server and destroys the
   * service.  status is 0 or the error that ended it. */
  void (*on_done)(int status, void *arg);
  void *arg;
} sk_service_opts;

typedef struct sk_service {
  const char *name;
  const char *summary;
  sk_frame_mode default_mode;
  /* The sk_server_opts.nodelay this service wants: 1 for request and
   * response (replies leave at once), 0 for fan-out (chat: many small
   * writes merge into fewer packets). */
  int nodelay;
  /* Creates the state; returns 0 or an error. */
  int (*create)(uv_loop_t *loop, const sk_service_opts *opts, void **state);
  /* Releases it; called after every peer closed.  May close handles. */
  void (*destroy)(void *state);
  const sk_handler *handler;
  /* Called once, outside any of the service's callbacks, when its servers
   * are about to stop gracefully (before sk_server_stop): the last word
   * to the peers, which then leave with what is queued (chat: "* server
   * stopping").  NULL when the service has nothing to say. */
  void (*stopping)(void *state);
} sk_service;

/* The service named name, or NULL. */
const sk_service *sk_service_find(const char *name);

/* The NULL-terminated list of every service, for help texts. */
const sk_service *const *sk_service_list(void);

#ifdef __cplusplus
}
#endif
#endif /* SOCKIT_H */
