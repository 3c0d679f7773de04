"""Load for a chat server: N clients in one room, each sending 100-byte
lines and reading everything the others send.

Run by scenarios.py.  One process, one epoll loop, so its own CPU use can
be measured and reported: if it is near 100 % of a core, the figure is the
client's limit, not the server's.

Flow control: a server can only queue so much for a reader (sockit drops a
member whose queue passes --max-queue), so the clients keep at most
--window lines in flight towards each reader.  Sending stops while any
reader is that far behind, which makes the send rate follow the slowest
reader, as in a real room.

With --stalled, one more client joins that never reads nor sends; the
readers' rate is measured as before, and the window ignores the stalled
client.  The figure to compare is deliveries per second per reader.

Prints one JSON object: deliveries/s over the measured window, per reader,
the client's and the server's CPU use, and notes (a reader dropped, the
stalled client's fate, deliveries that stopped).
"""

import argparse
import json
import os
import select
import socket
import sys
import time

from proc import cpu_seconds  # this script's own folder is on sys.path


def connect_all(port, n, timeout):
    """Connects n clients, one every 5 ms: ncat listens with a backlog of
    10, and a burst of connects costs it SYN drops and 1 s retries."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
        time.sleep(0.005)
    return socks


def settle(socks, quiet=0.3, limit=5.0):
    """Reads the join notices until the room is quiet (bounded)."""
    ep = select.epoll()
    for i, s in enumerate(socks):
        ep.register(s.fileno(), select.EPOLLIN)
    by_fd = {s.fileno(): s for s in socks}
    deadline = time.monotonic() + limit
    last = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last < quiet:
        for fd, _ in ep.poll(0.05):
            by_fd[fd].recv(1 << 18)
            last = time.monotonic()
    ep.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--stalled", action="store_true")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--server-pid", type=int, default=0)
    a = ap.parse_args()

    # With --stalled, one of the N clients is the one that never reads.
    n_readers = a.clients - 1 if a.stalled else a.clients
    socks = connect_all(a.port, a.clients, 10.0)
    readers = socks[:n_readers]
    settle(socks)
    for s in socks:
        s.setblocking(False)

    line = b"x" * (a.size - 1) + b"\n"
    batch = line * a.batch
    n = len(readers)
    got = [0] * n          # lines received by reader i
    sent = [0] * n         # lines sent by reader i
    pending = [b""] * n    # the unsent rest of a partial send
    closed = [False] * n
    total = 0
    notes = []
    too_slow_at = None
    last_rx = None

    ep = select.epoll()
    for i, s in enumerate(readers):
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    index = {s.fileno(): i for i, s in enumerate(readers)}

    t_start = time.monotonic()
    t_measure = t_start + a.warmup
    t_end = t_measure + a.duration
    snap0 = None
    rr = 0
    while True:
        now = time.monotonic()
        if snap0 is None and now >= t_measure:
            snap0 = (now, sum(got), total, os.times(),
                     cpu_seconds(a.server_pid) if a.server_pid else None)
        if now >= t_end:
            break
        for fd, _ in ep.poll(0.002):
            i = index[fd]
            try:
                data = readers[i].recv(1 << 18)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed[i] = True
                ep.unregister(fd)
                notes.append("reader %d closed by the server at %.2f s" % (i, now - t_start))
                continue
            got[i] += data.count(b"\n")
            last_rx = now
            if too_slow_at is None and b"too slow" in data:
                too_slow_at = now - t_start
        # The most lines any open reader still waits for.
        behind = max((total - sent[j] - got[j] for j in range(n) if not closed[j]), default=0)
        for k in range(n):
            i = (rr + k) % n
            if closed[i]:
                continue
            if pending[i]:
                buf = pending[i]
            elif behind + a.batch <= a.window:
                buf = batch
                sent[i] += a.batch
                total += a.batch
                behind += a.batch
            else:
                continue
            try:
                w = readers[i].send(buf)
            except BlockingIOError:
                w = 0
            except OSError:
                closed[i] = True
                continue
            pending[i] = buf[w:]
        rr = (rr + 1) % n
    t1 = time.monotonic()
    cpu1 = os.times()
    srv1 = cpu_seconds(a.server_pid) if a.server_pid else None
    t0, got0, total0, cpu0, srv0 = snap0
    secs = t1 - t0
    deliveries = sum(got) - got0
    client_cpu = ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / secs
    out = {
        "deliveries_s": deliveries / secs,
        "per_reader_s": deliveries / secs / n,
        "sent_s": (total - total0) / secs,
        "readers": n,
        "clients": a.clients,
        "client_cpu": client_cpu,
        "server_cpu": (srv1 - srv0) / secs if srv0 is not None and srv1 is not None else None,
    }
    if client_cpu >= 0.9:
        notes.append("client saturated: the figure may be the client's limit")
    if out["server_cpu"] is not None and out["server_cpu"] >= 0.9:
        notes.append("server saturated")
    # Times are figures (their median is shown), not notes.
    if a.stalled:
        out["stalled_dropped_at_s"] = too_slow_at
        if too_slow_at is not None:
            notes.append("the server dropped the stalled client (\"too slow\")")
    if last_rx is None or t1 - last_rx > 1.0:
        out["stopped_at_s"] = 0.0 if last_rx is None else last_rx - t_start
        notes.append("deliveries stopped")
    out["note"] = "; ".join(notes[:4])
    print(json.dumps(out))
    for s in socks:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
