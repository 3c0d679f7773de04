/* error.c -- one strerror for sockit's and libuv's error codes. */
#include "internal.h"

const char *sk_strerror(int err) {
  switch (err) {
  case SK_EFRAMETOOBIG:
    return "frame too large";
  case SK_EBADADDR:
    return "bad address";
  case SK_EBADFRAMING:
    return "bad framing";
  case SK_ETRUNCATED:
    return "connection closed in the middle of a frame";
  case SK_ETOOSLOW:
    return "too slow";
  case SK_EIDLE:
    return "idle";
  case SK_ECLOSED:
    return "closed";
  case SK_EFULL:
    return "too many connections";
  case SK_ETLS:
    return "TLS failure";
  case SK_EHANDSHAKETIMEOUT:
    return "TLS handshake timeout";
  case SK_EFRAMETIMEOUT:
    return "frame timeout (a message arrived too slowly)";
  case SK_EBADUDP:
    return "length-prefixed framing needs a stream (UDP keeps datagram "
           "boundaries)";
  case SK_EBADNET:
    return "bad network (ADDR, ADDR/PREFIX or ADDR/MASK)";
  case SK_EDENIED:
    return "refused by an access rule";
  case SK_EPERIP:
    return "too many connections from one source";
  case SK_ERATE:
    return "new connections from one source too fast";
  case 0:
    return "success";
  default: {
    /* uv_strerror() allocates for codes it does not know; this does not. */
    static _Thread_local char buf[80];
    return uv_strerror_r(err, buf, sizeof(buf));
  }
  }
}
