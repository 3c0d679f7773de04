"""Slowloris: a client that holds a connection by trickling bytes of a
message it never finishes.  --frame-timeout cuts it (a message must arrive
whole within S seconds of its first byte); so does --idle-timeout, for
which bytes of an unfinished message are no activity.  Clients that finish
their messages are never cut by either, however long they pause between
them."""

import socket
import struct
import threading
import time

import pytest

from helpers import len_frame


def trickle(conn, data, interval, stop):
    """Sends data one byte at a time; returns when done, stopped or cut."""
    try:
        for b in data:
            if stop.is_set():
                return
            conn.sendall(bytes([b]))
            stop.wait(interval)
    except OSError:
        pass


def cut_after(conn, timeout):
    """Seconds until the server closes conn (reading whatever it sends)."""
    t0 = time.monotonic()
    conn.expect_closed(timeout)
    return time.monotonic() - t0


def keep_talking(conn, seconds):
    """Round trips on a well-behaved connection for a while; returns how
    many succeeded."""
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        conn.send_msg(b"fine %d" % n)
        assert conn.recv_msg() == b"fine %d" % n
        n += 1
        time.sleep(0.05)
    return n


# (framing, what the slow client trickles: the start of one message)
SLOW_STARTS = [
    ("line", b"G" * 64),                      # a line that never ends
    ("len", len_frame(b"x" * 64)[:40]),        # header, then part of the body
    ("len:2", b"\x00"),                        # half of a 2-byte header
    ("len:8le", b"\x05\x00\x00"),              # part of an 8-byte header
]


@pytest.mark.parametrize("framing,data", SLOW_STARTS, ids=[f for f, _ in SLOW_STARTS])
@pytest.mark.parametrize("option", ["--frame-timeout", "--idle-timeout"])
def test_trickling_client_is_cut(start_server, conns, framing, data, option):
    srv = start_server("-v", "-s", "echo", "-f", framing, option, "2", "tcp://127.0.0.1:0")
    good = conns(srv.addr, framing)
    slow = conns(srv.addr, "raw")
    stop = threading.Event()
    # One byte every 0.5 s: never idle for 2 s by bytes, never a message.
    t = threading.Thread(target=trickle, args=(slow, data, 0.5, stop), daemon=True)
    t.start()
    try:
        # The others are served all along.
        assert keep_talking(good, 1.0) > 5
        waited = cut_after(slow, 10)
    finally:
        stop.set()
        t.join(5)
    assert waited < 4.0, "cut %.1f s after the check began" % waited
    reason = "frame timeout" if option == "--frame-timeout" else ": idle"
    srv.wait_stderr(r"dropping .*%s" % reason)
    assert keep_talking(good, 0.3) > 0


@pytest.mark.parametrize("option", ["--frame-timeout", "--idle-timeout"])
def test_whole_messages_with_pauses_are_not_cut_by_frame_timeout(start_server, conns, option):
    """Pauses between whole messages are no frame in progress: only
    --idle-timeout may count them, and only when longer than it."""
    srv = start_server("-s", "echo", "-f", "line", option, "1", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "line")
    for i in range(4):
        # Each message in two halves, 0.4 s apart: under 1 s from first byte.
        c.sendall(b"half ")
        time.sleep(0.4)
        c.sendall(b"%d\n" % i)
        assert c.recv_msg() == b"half %d" % i
        time.sleep(0.4)
    assert "dropping" not in srv.stderr_text()


def test_frame_timeout_spares_pauses_longer_than_it(start_server, conns):
    srv = start_server("-s", "echo", "-f", "len", "--frame-timeout", "1", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "len")
    for i in range(2):
        c.send_msg(b"m%d" % i)
        assert c.recv_msg() == b"m%d" % i
        time.sleep(1.6)  # longer than the frame timeout, between messages
    c.send_msg(b"last")
    assert c.recv_msg() == b"last"


def test_frame_timeout_spares_a_big_message_arriving_fast(start_server, conns):
    srv = start_server("-s", "echo", "-f", "len", "--max-frame", "64M",
                       "--frame-timeout", "1", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "len")
    body = bytes(range(256)) * (32 * 1024)  # 8 MiB: many reads, one frame
    t = threading.Thread(target=c.send_msg, args=(body,), daemon=True)
    t.start()
    assert c.recv_msg() == body
    t.join(10)


@pytest.mark.parametrize("args,problem", [
    (["-f", "raw"], "raw data has no frames"),
    (["-f", "line", "udp://127.0.0.1:0"], "applies to streams"),
    (["-f", "line", "--frame-timeout", "x"], "--frame-timeout"),
])
def test_frame_timeout_usage(args, problem):
    from helpers import run_sockit
    argv = ["listen", "-s", "echo", "--frame-timeout", "2"] + args
    if not any(a.startswith(("udp:", "tcp:")) for a in args):
        argv.append("tcp://127.0.0.1:0")
    r = run_sockit(argv)
    assert r.returncode == 2
    assert problem in r.stderr.decode()


@pytest.mark.parametrize("how", ["reset", "idle"])
def test_peer_closed_with_a_frame_begun_leaves_no_clock_behind(start_server, conns, how):
    """A client that closes (a reset, or the idle timeout) while its frame
    is half read must take its frame clock with it: the next client's
    frame, and the timer, walk that list.  The server keeps serving and
    cuts the next trickler on time."""
    args = ["-v", "-s", "echo", "-f", "line", "--frame-timeout", "1"]
    if how == "idle":
        args += ["--idle-timeout", "0.5"]
    srv = start_server(*(args + ["tcp://127.0.0.1:0"]))
    first = conns(srv.addr, "line")
    first.sendall(b"abc")   # a frame begun, never finished
    srv.wait_stderr(r"connection from")
    if how == "reset":
        first.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        first.close()
        srv.wait_stderr(r"disconnected")
    else:
        srv.wait_stderr(r"dropping .*: (idle|frame timeout)")
    second = conns(srv.addr, "line")
    second.sendall(b"xyz")  # its clock goes into the same list
    assert cut_after(second, 5) < 3
    good = conns(srv.addr, "line")
    good.send_msg(b"still here")
    assert good.recv_msg() == b"still here"
    assert srv.proc.poll() is None
