"""Opens COUNT idle TCP connections to 127.0.0.1:PORT and holds them.

Run by scenarios.py, one process per ~RLIMIT_NOFILE connections.  Connects
are non-blocking, at most --inflight at a time so the server's backlog is
not flooded with SYNs.  With --spread, connection i binds the source
address 127.0.0.(2 + i // 20000) first: one source address has only
~28,000 ephemeral ports towards one server port.

Prints one JSON line when every connect has finished or failed:
    {"ok": N, "failed": N, "errors": {"ECONNREFUSED": N, ...}, "seconds": S}
then reads commands from stdin: "check" prints {"alive": N}, the number of
connections the server has not closed; end of input closes everything and
exits.  Every wait is bounded.
"""

import argparse
import errno
import json
import resource
import select
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
PER_SOURCE = 20000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--spread", action="store_true")
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=600.0)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.count + 64
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    ep = select.epoll()
    pending = {}    # fd -> socket, connect in progress
    done = []       # connected sockets
    errors = {}
    failed = 0
    nxt = 0
    t0 = time.monotonic()
    deadline = t0 + a.timeout

    def fail(err):
        nonlocal failed
        failed += 1
        name = errno.errorcode.get(err, str(err))
        errors[name] = errors.get(name, 0) + 1

    while (nxt < a.count or pending) and time.monotonic() < deadline:
        while nxt < a.count and len(pending) < a.inflight:
            i = a.first + nxt
            nxt += 1
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                fail(e.errno)
                continue
            s.setblocking(False)
            try:
                if a.spread:
                    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    s.bind(("127.0.0.%d" % (2 + i // PER_SOURCE), 0))
                err = s.connect_ex(("127.0.0.1", a.port))
            except OSError as e:
                err = e.errno
            if err == 0:
                done.append(s)
            elif err == errno.EINPROGRESS:
                pending[s.fileno()] = s
                ep.register(s.fileno(), select.EPOLLOUT)
            else:
                s.close()
                fail(err)
        for fd, _ in ep.poll(0.05):
            s = pending.pop(fd)
            ep.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                s.close()
                fail(err)
            else:
                done.append(s)
    for s in pending.values():
        s.close()
        fail(errno.ETIMEDOUT)
    failed += a.count - nxt
    if a.count > nxt:
        errors["not tried (time out)"] = a.count - nxt
    print(json.dumps({"ok": len(done), "failed": failed, "errors": errors,
                      "seconds": time.monotonic() - t0}), flush=True)

    hold_until = time.monotonic() + a.hold
    while time.monotonic() < hold_until:
        r, _, _ = select.select([sys.stdin], [], [], hold_until - time.monotonic())
        if not r:
            break
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip() == "check":
            print(json.dumps({"alive": alive(done)}), flush=True)
    for s in done:
        s.close()


def alive(socks):
    """Connections the server has not closed: an idle connection that
    polls readable (data, EOF or RST) is counted as gone."""
    p = select.epoll()
    for s in socks:
        p.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    gone = len(p.poll(0, maxevents=max(1, len(socks))))
    p.close()
    return len(socks) - gone


if __name__ == "__main__":
    sys.exit(main())
