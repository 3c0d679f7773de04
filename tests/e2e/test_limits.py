"""--max-conns, --idle-timeout, --max-queue and --backlog."""

import subprocess
import threading
import time

import pytest

from helpers import Conn, poll_until


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_max_conns(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "echo", "-f", "line", "--max-conns", "2", listen_addr(transport))
    a = conns(srv.addr, "line")
    b = conns(srv.addr, "line")
    for c, m in ((a, b"a1"), (b, b"b1")):
        c.send_msg(m)
        assert c.recv_msg() == m
    # The third is accepted and closed at once.
    third = conns(srv.addr, "line")
    t0 = time.monotonic()
    try:
        third.send_msg(b"let me in")
    except OSError:
        pass
    assert third.expect_closed(5) == b""
    assert time.monotonic() - t0 < 3
    # The first two are unaffected.
    for c, m in ((a, b"a2"), (b, b"b2")):
        c.send_msg(m)
        assert c.recv_msg() == m
    # A slot frees when a client leaves (the server notices asynchronously,
    # so poll with fresh connections until one is served).
    a.close()

    def try_one():
        c = Conn.connect(srv.addr, "line", timeout=5)
        try:
            c.send_msg(b"in")
            return c.recv_msg() == b"in"
        except (EOFError, OSError):
            return False
        finally:
            c.close()

    assert poll_until(try_one, 10, interval=0.05)
    b.send_msg(b"b3")
    assert b.recv_msg() == b"b3"


def test_idle_timeout_disconnects(start_server, conns):
    srv = start_server("-s", "echo", "--idle-timeout", "1", "tcp://127.0.0.1:0")
    c = conns(srv.addr)
    c.sendall(b"hello")
    assert c.recv_exact(5) == b"hello"
    t0 = time.monotonic()
    assert c.expect_closed(10) == b""
    elapsed = time.monotonic() - t0
    assert 0.7 <= elapsed <= 4.0, "idle client closed after %.2f s, expected ~1 s" % elapsed
    # The server itself goes on.
    d = conns(srv.addr)
    d.sendall(b"next")
    assert d.recv_exact(4) == b"next"


def test_idle_timeout_spares_active_clients(start_server, conns):
    srv = start_server("-s", "echo", "-f", "line", "--idle-timeout", "1", "tcp://127.0.0.1:0")
    active = conns(srv.addr, "line")
    idle = conns(srv.addr, "line")
    t0 = time.monotonic()
    i = 0
    # Talk every 0.3 s for 2.2 s: longer than the timeout, never idle for it.
    while time.monotonic() - t0 < 2.2:
        active.send_msg(b"tick %d" % i)
        assert active.recv_msg() == b"tick %d" % i
        i += 1
        time.sleep(0.3)
    assert idle.expect_closed(5) == b""
    active.send_msg(b"still here")
    assert active.recv_msg() == b"still here"


def test_small_max_queue_loses_nothing(start_server, conns):
    """A request/response service with a tiny queue pauses reading instead
    of dropping: everything still comes back, in order."""
    srv = start_server("-s", "echo", "-f", "len", "--max-queue", "4096", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "len")
    msgs = [bytes([i % 256]) * (1000 + i) for i in range(3000)]     # ~7.5 MiB
    wire = b"".join(c.framing.encode(m) for m in msgs)
    err = []

    def writer():
        try:
            c.sendall(wire)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    for i, m in enumerate(msgs):
        got = c.recv_msg()
        assert got == m, i
    t.join(10)
    assert not err, err


def somaxconn():
    """The kernel's cap on a listen(2) backlog."""
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def listen_backlog(addr):
    """The backlog the kernel holds for the listener at addr, which `ss -l`
    shows as its Send-Q (the listen(2) backlog after the somaxconn cap)."""
    if addr.transport == "unix":
        out = subprocess.run(["ss", "-Hlxn"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        for line in out.splitlines():
            f = line.split()
            # u_str LISTEN Recv-Q Send-Q PATH INODE * 0
            if len(f) >= 5 and f[0] == "u_str" and f[4] == addr.path:
                return int(f[3])
    else:
        out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        for line in out.splitlines():
            f = line.split()
            # LISTEN Recv-Q Send-Q LOCAL PEER
            if len(f) >= 4 and f[3] == "%s:%d" % (addr.host, addr.port):
                return int(f[2])
    raise AssertionError("no listener %s in ss's output:\n%s" % (addr, out))


@pytest.mark.parametrize("backlog", [None, "1", "16", "65535"])
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_backlog_option(start_server, listen_addr, conns, transport, backlog):
    """--backlog N reaches listen(2): the kernel shows N (511 without the
    option), capped at net.core.somaxconn as listen(2) caps it."""
    args = ["-s", "echo"] + (["--backlog", backlog] if backlog else [])
    srv = start_server(*args, listen_addr(transport))
    want = min(int(backlog or 511), somaxconn())
    assert listen_backlog(srv.addr) == want
    c = conns(srv.addr)
    c.sendall(b"ok")
    assert c.recv_exact(2) == b"ok"
