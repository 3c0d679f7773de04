"""Slow and stuck peers: a client that never reads while a GiB is pushed at
it costs the server no more than its queue cap plus a small constant, and
everyone else's round trips stay fast.

  * echo: a client pushes 1 GiB of frames and reads nothing.  The server
    stops reading it (backpressure), so the push stalls after what the
    kernel buffers and the queue hold; the bytes then wait unread in the
    server's receive buffer while it answers another client at once.
  * chat: a member that never reads while another floods the room is
    dropped "too slow" at its hard cap, and the room goes on
    (test_fairness.py has the rest of the slow-consumer rule).
  * stdio: `sockit listen` with 1 GiB arriving on stdin from a generator
    process and a client that never reads: stdin stops being read.

RSS figures are the server's peak (VmHWM) minus its RSS after a warm-up;
the constants were measured on the 2-core test VM and are noted where they
are used.  (The slowloris side of slow peers is tested elsewhere:
--frame-timeout.)
"""

import hashlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import helpers
from helpers import len_frame, server_rx_queue, status_kib

GIB = 1 << 30
SAN = helpers.sanitized()
# Under valgrind (make test-valgrind) the server's RSS is mostly valgrind's
# (shadow memory, a 20 MB queue of freed blocks): the RSS bounds below are
# not checked there, everything else is.
VG = helpers.under_valgrind()
# No progress for this long means the kernel will take no more: the other
# side has stopped reading.  Generous, so that a server that is merely
# slow (ASan, a busy machine) is not taken for a stopped one.
STALL_S = 2.0
PUSH_BOUND_S = 60   # a push ends by then whatever happens


def small_asan_quarantine(monkeypatch):
    """Under ASan, freed memory waits in a quarantine (256 MiB by default)
    before reuse, so a GiB through the server would show as a quarter-GiB
    of RSS whatever the server does.  A small quarantine lets RSS show what
    the server itself holds; use-after-free is still caught within it."""
    if SAN:
        old = os.environ.get("ASAN_OPTIONS")
        monkeypatch.setenv("ASAN_OPTIONS", (old + ":" if old else "") + "quarantine_size_mb=4")


def tcp_max_buffers():
    """The most the kernel lets one TCP socket's receive and send buffers
    grow to (autotuning included)."""
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        rmem = int(f.read().split()[2])
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem = int(f.read().split()[2])
    return rmem + wmem


class Pusher(threading.Thread):
    """Sends the frames of `chunks()` on sock, reading nothing, until
    `total` bytes are out, or the kernel takes nothing for STALL_S, or
    PUSH_BOUND_S passes.  Keeps a digest of what went out."""

    def __init__(self, sock, chunks, total):
        super().__init__(daemon=True)
        self.sock = sock
        self.chunks = chunks
        self.total = total
        self.sent = 0
        self.stalled = False
        self.error = None
        self.digest = hashlib.sha256()
        self.rest = b""   # the unsent tail of the last chunk

    def run(self):
        self.sock.settimeout(STALL_S)
        deadline = time.monotonic() + PUSH_BOUND_S
        buf, pos = memoryview(b""), 0
        try:
            while self.sent < self.total and time.monotonic() < deadline:
                if pos == len(buf):
                    buf, pos = memoryview(next(self.chunks)), 0
                try:
                    n = self.sock.send(buf[pos:])
                except socket.timeout:
                    self.stalled = True
                    break
                self.digest.update(buf[pos:pos + n])
                self.sent += n
                pos += n
        except OSError as e:
            self.error = e
        self.rest = bytes(buf[pos:])


def read_all(sock, timeout):
    """Reads sock to its end: (bytes, sha256 hex)."""
    sock.settimeout(timeout)
    h, n = hashlib.sha256(), 0
    while True:
        d = sock.recv(1 << 20)
        if not d:
            return n, h.hexdigest()
        h.update(d)
        n += len(d)


def round_trips(c, n, size=1024):
    """n echo round trips on c; returns their durations in seconds."""
    times = []
    for i in range(n):
        msg = bytes([i % 256]) * size
        t0 = time.monotonic()
        c.send_msg(msg)
        got = c.recv_msg()
        times.append(time.monotonic() - t0)
        assert got == msg, "round trip %d: wrong reply" % i
    return times


def check_fast(times, what):
    # Bounds are generous on purpose (ASan, a shared 2-core machine): a
    # server that stalls for the stuck client takes seconds, not these.
    worst, median = max(times), statistics.median(times)
    assert worst < (2.0 if SAN else 1.0), "%s: slowest round trip %.3f s" % (what, worst)
    assert median < (0.1 if SAN else 0.05), "%s: median round trip %.3f s" % (what, median)


# ------------------------------------------------------------------ echo

def echo_chunks():
    """1 MiB chunks of 64 KiB frames, each frame's bytes its own number."""
    k = 0
    while True:
        frames = []
        for _ in range(16):
            frames.append(len_frame(bytes([k % 251]) * (65536 - 4)))
            k += 1
        yield b"".join(frames)


def test_echo_stops_reading_a_client_that_never_reads(start_server, conns, monkeypatch,
                                                      request):
    small_asan_quarantine(monkeypatch)
    queue = 4 << 20
    srv = start_server("-s", "echo", "-f", "len", "--max-queue", "4M", "tcp://127.0.0.1:0")
    fast = conns(srv.addr, "len")
    for _ in range(20):   # warm-up: read buffer, allocator pools
        fast.send_msg(b"w" * 65532)
        assert fast.recv_msg() == b"w" * 65532
    base = srv.rss_kib()

    stuck = socket.socket()
    request.addfinalizer(stuck.close)
    # Our own buffers are fixed (no autotuning) so the bound below is exact.
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 << 10)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    stuck.connect(("127.0.0.1", srv.port))
    pusher = Pusher(stuck, echo_chunks(), GIB)
    t0 = time.monotonic()
    pusher.start()
    # Round trips while the GiB is pushed, and on until the push stalls.
    during = []
    while pusher.is_alive() and time.monotonic() - t0 < PUSH_BOUND_S + 10:
        during += round_trips(fast, 10)
    pusher.join(10)
    assert not pusher.is_alive()
    assert pusher.error is None, pusher.error
    assert pusher.stalled, "pushed %d bytes in %.1f s without a stall" % (
        pusher.sent, time.monotonic() - t0)

    # The kernel buffers on both sides plus the queue bound the push.
    own = (stuck.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
           + stuck.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    bound = own + tcp_max_buffers() + queue + (1 << 20)   # + a read buffer, a frame
    assert pusher.sent < bound < GIB, "pushed %d bytes, bound %d" % (pusher.sent, bound)

    # The server has stopped reading it: bytes wait in its receive buffer
    # and stay there while it serves someone else.
    cport = stuck.getsockname()[1]
    waiting = server_rx_queue(srv.port, cport)
    assert waiting, "nothing waits unread on the server's side (%r)" % waiting
    stalled = round_trips(fast, 200)
    assert server_rx_queue(srv.port, cport) == waiting, "the server read the stuck client"
    check_fast(during, "while pushing")
    check_fast(stalled, "while stalled")
    print("echo: pushed %d bytes; waiting unread %d; RSS +%d KiB; round trips median %.2f/%.2f ms, max %.1f/%.1f ms"
          % (pusher.sent, waiting, status_kib(srv.pid, "VmHWM") - base,
             statistics.median(during) * 1e3, statistics.median(stalled) * 1e3,
             max(during) * 1e3, max(stalled) * 1e3), file=sys.stderr)

    # Memory: the queue cap and a constant.  Measured growth: 4.4 MiB at
    # -O2 (the 4 MiB queue, a 256 KiB read's replies), 8.2-8.4 MiB under
    # ASan (its 4 MiB quarantine on top).
    grown = status_kib(srv.pid, "VmHWM") - base
    const = (8 << 10) if SAN else (1 << 10)
    assert VG or grown < queue // 1024 + const, "RSS grew by %d KiB (queue %d KiB)" % (
        grown, queue // 1024)

    # Nothing was lost to the stall: once the client reads, every byte
    # comes back (the frame cut by the stall completed, then a half-close).
    result = {}
    reader = threading.Thread(target=lambda: result.update(
        got=read_all(stuck, 60)), daemon=True)
    reader.start()
    stuck.settimeout(60)
    frame_left = (65536 - pusher.sent % 65536) % 65536
    tail = pusher.rest[:frame_left]
    stuck.sendall(tail)
    pusher.digest.update(tail)
    stuck.shutdown(socket.SHUT_WR)
    reader.join(90)
    assert result.get("got") == (pusher.sent + len(tail), pusher.digest.hexdigest())
    stuck.close()
    assert srv.proc.poll() is None


# ------------------------------------------------------------------ chat

FLOOD_S = 5.0          # the chat flood ends after this long, or at 1 GiB
LINE_BODY = b"c" * 8000


class Listener(threading.Thread):
    """A member that reads everything until guest1 says "end": checks that
    guest1's numbered lines arrive in order and notes the notices in
    between."""

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn = conn
        self.lines = 0
        self.notices = []
        self.error = None
        self.cond = threading.Condition()

    def run(self):
        try:
            while True:
                line = self.conn.recv_line()
                if line == b"guest1: end":
                    return
                if line.startswith(b"* "):
                    self.notices.append((self.lines, line.decode()))
                    continue
                want = b"guest1: %d " % self.lines + LINE_BODY
                if line != want:
                    raise AssertionError("line %d: %r" % (self.lines, line[:60]))
                with self.cond:
                    self.lines += 1
                    self.cond.notify_all()
        except BaseException as e:  # noqa: B902 -- reported by the test
            self.error = e
            with self.cond:
                self.cond.notify_all()

    def wait_lines(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.lines < n and self.error is None:
                left = deadline - time.monotonic()
                assert left > 0, "listener stuck at %d of %d lines" % (self.lines, n)
                self.cond.wait(left)
        assert self.error is None, self.error


def test_chat_member_that_never_reads_is_dropped(start_server, conns, monkeypatch):
    small_asan_quarantine(monkeypatch)
    queue = 1 << 20
    # The stuck member's queue may reach its hard cap (2M here) before the
    # slow timeout (10 s) runs out: the hard cap bounds its memory.
    srv = start_server("-s", "chat", "--max-queue", "1M", "--max-queue-hard", "2M",
                       "tcp://127.0.0.1:0")
    talker = conns(srv.addr, "line")
    assert talker.recv_text() == "* you are guest1; here: guest1"
    listener = conns(srv.addr, "line")
    assert listener.recv_text() == "* you are guest2; here: guest1, guest2"
    slow = conns(srv.addr, "line", rcvbuf=4096)
    assert listener.recv_text() == "* guest3 joined"
    for want in ("* guest2 joined", "* guest3 joined"):
        assert talker.recv_text() == want
    base = srv.rss_kib()

    reader = Listener(listener)
    reader.start()
    # The talker keeps at most `window` lines ahead of the listener, so
    # only `slow` can fall behind: the listener's share of the server's
    # queue stays under a third of its cap.
    window = (queue // 3) // len(LINE_BODY)
    seq, sent, t0 = 0, 0, time.monotonic()
    while sent < GIB and time.monotonic() - t0 < FLOOD_S:
        reader.wait_lines(seq - window, 30)
        batch = b"".join(b"%d " % (seq + i) + LINE_BODY + b"\n" for i in range(window // 2))
        talker.sendall(batch)
        seq += window // 2
        sent += len(batch)
    reader.wait_lines(seq, 60)
    flood_s = time.monotonic() - t0

    srv.wait_stderr(r"dropping 127\.0\.0\.1:%d: too slow" % slow.sock.getsockname()[1])
    assert [n for _, n in reader.notices] == ["* guest3 left (too slow)"], reader.notices
    dropped_after = reader.notices[0][0]
    assert dropped_after < seq // 2, "dropped only after %d of %d lines" % (dropped_after, seq)
    assert talker.recv_text() == "* guest3 left (too slow)"
    assert slow.expect_closed(30) is not None   # (what it had unread, then the end)

    # Memory: the stuck member's hard cap, the listener's third of its
    # soft cap, and a constant.  Measured growth: about 2.0 MiB at -O2
    # (1.0 MiB when the hard cap was the 1 MiB queue cap), 6.0-6.2 MiB
    # under ASan then (its 4 MiB quarantine on top).
    grown = status_kib(srv.pid, "VmHWM") - base
    const = (8 << 10) if SAN else (1 << 10)
    assert VG or grown < 3 * queue // 1024 + const, "RSS grew by %d KiB" % grown

    # The room goes on, and fast.
    talker.send_text("end")
    reader.join(10)
    assert not reader.is_alive() and reader.error is None, reader.error
    times = []
    for i in range(20):
        t = time.monotonic()
        talker.send_text("ping %d" % i)
        assert listener.recv_text() == "guest1: ping %d" % i
        listener.send_text("pong %d" % i)
        assert talker.recv_text() == "guest2: pong %d" % i
        times.append(time.monotonic() - t)
    check_fast(times, "chat after the flood")
    listener.send_text("/who")
    assert listener.recv_text() == "* here: guest1, guest2"
    print("chat: flooded %d lines (%.0f MiB) in %.1f s; slow dropped after %d; RSS +%d KiB"
          % (seq, sent / (1 << 20), flood_s, dropped_after, grown), file=sys.stderr)


# ----------------------------------------------------------------- stdio

# Writes 1 GiB, byte i of the stream being i % 256.
GENERATOR = """
import sys
chunk = bytes(range(256)) * 4096
out = sys.stdout.buffer
for _ in range(1024):
    out.write(chunk)
"""


def wchar(pid):
    """Bytes the process has written so far (/proc/PID/io)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar for pid %d" % pid)


def wait_stalled(get, bound_s):
    """Waits until get() has not changed for STALL_S; returns its value.
    (A stall has no event to wait for: it is the absence of progress.)"""
    deadline = time.monotonic() + bound_s
    last, since = get(), time.monotonic()
    while time.monotonic() - since < STALL_S:
        assert time.monotonic() < deadline, "still moving after %.0f s" % bound_s
        time.sleep(0.1)
        v = get()
        if v != last:
            last, since = v, time.monotonic()
    return last


def test_stdio_stdin_gib_to_a_client_that_never_reads(start_server, conns, monkeypatch):
    small_asan_quarantine(monkeypatch)
    queue = 1 << 20
    gen = subprocess.Popen(["/usr/bin/python3", "-c", GENERATOR], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    helpers._track(gen)
    try:
        srv = start_server("--max-queue", "1M", "tcp://127.0.0.1:0", stdin=gen.stdout)
        gen.stdout.close()   # the server's now
        base = srv.rss_kib()
        c = conns(srv.addr, rcvbuf=4096)
        written = wait_stalled(lambda: wchar(gen.pid), PUSH_BOUND_S)
        assert gen.poll() is None, "the generator wrote its GiB: stdin was never paused"
        # A pipe (64 KiB), the queue, a read buffer and the socket buffers.
        bound = (64 << 10) + queue + (256 << 10) + tcp_max_buffers() + (1 << 20)
        assert written < bound, "stdin gave %d bytes, bound %d" % (written, bound)

        # Measured growth: 1.04 MiB at -O2, 1.35 MiB under ASan.
        grown = status_kib(srv.pid, "VmHWM") - base
        const = (4 << 10) if SAN else (1 << 10)
        assert VG or grown < queue // 1024 + const, "RSS grew by %d KiB" % grown

        # Reading resumes the stream where it stopped, nothing lost: 64 MiB,
        # far more than was buffered, each byte where it belongs.
        pattern = bytes(range(256)) * 4097
        c.settimeout(30)
        got = 0
        while got < (64 << 20):
            d = c.sock.recv(1 << 20)
            assert d, "the server closed after %d bytes" % got
            assert d == pattern[got % 256:got % 256 + len(d)], "wrong bytes at %d" % got
            got += len(d)
        print("stdio: stdin stalled after %d bytes; RSS +%d KiB" % (written, grown),
              file=sys.stderr)

        # A graceful stop while the client reads: exit 0.
        result = {}
        t = threading.Thread(target=lambda: result.update(n=read_all(c.sock, 30)[0]),
                             daemon=True)
        t.start()
        assert srv.stop() == 0
        t.join(30)
        assert "n" in result
    finally:
        if gen.poll() is None:
            gen.kill()
        gen.wait(10)
