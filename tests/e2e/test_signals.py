"""SIGTERM and SIGINT: flush, close, exit 0 -- idle or with clients; a
second signal during the flush ends it at once, still 0; SIGPIPE never
kills the server."""

import os
import select
import signal
import socket
import subprocess
import time

import pytest

import helpers
from helpers import Conn, Server

SIGS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.parametrize("sig", SIGS, ids=["TERM", "INT"])
@pytest.mark.parametrize("service", ["echo", "upper", "discard", "chat", "stdio"])
def test_signal_exit_0_idle(start_server, service, sig):
    kw = {"stdin": subprocess.PIPE} if service == "stdio" else {}
    srv = start_server("-s", service, "tcp://127.0.0.1:0", **kw)
    assert srv.stop(sig) == 0


@pytest.mark.parametrize("sig", SIGS, ids=["TERM", "INT"])
def test_signal_exit_0_with_clients(start_server, sig):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    clients = [Conn.connect(srv.addr, "line") for _ in range(5)]
    try:
        for i, c in enumerate(clients):
            c.send_msg(b"m%d" % i)
            assert c.recv_msg() == b"m%d" % i
        assert srv.stop(sig) == 0
        for c in clients:
            assert c.expect_closed(5) == b""
    finally:
        for c in clients:
            c.close()


def test_signal_exit_0_with_chat_clients(start_server):
    srv = start_server("-s", "chat", "tcp://127.0.0.1:0")
    a = Conn.connect(srv.addr, "line")
    b = Conn.connect(srv.addr, "line")
    try:
        assert a.recv_line().startswith(b"* you are guest1")
        assert b.recv_line().startswith(b"* you are guest2")
        assert srv.stop(signal.SIGTERM) == 0
    finally:
        a.close()
        b.close()


def test_sigpipe_does_not_kill_server(start_server):
    """Clients that reset while the server writes to them."""
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    linger0 = b"\x01\x00\x00\x00\x00\x00\x00\x00"
    for _ in range(5):
        c = Conn.connect(srv.addr)
        c.sendall(b"z" * (512 << 10))                      # replies pile up
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
        c.close()                                         # RST
    assert srv.proc.poll() is None, "server died: %r" % srv.proc.returncode
    d = Conn.connect(srv.addr)
    try:
        d.sendall(b"alive")
        assert d.recv_exact(5) == b"alive"
    finally:
        d.close()


@pytest.mark.parametrize("service", ["echo", "stdio"])
def test_sigterm_right_after_ready_line(sockit, service):
    """Once `listening on` is printed the server is ready, signals included:
    SIGTERM sent the moment the line appears still gives exit 0."""
    bad = []
    for i in range(50):
        srv = Server(["-s", service, "tcp://127.0.0.1:0"], stdin=subprocess.PIPE)
        try:
            rc = srv.stop(signal.SIGTERM)
        finally:
            srv.kill()
            srv.proc.stdin.close()
        if rc != 0:
            bad.append((i, rc))
    assert not bad, "(attempt, exit status) for SIGTERM right after the ready line: %r" % bad


def stuck_client(port):
    """A client of an echo server that sends and never reads: once its
    socket buffers and the server's queue (capped at 1M) are full, the
    server holds replies it cannot flush."""
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.setblocking(False)
    chunk = b"x" * 65536
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            c.send(chunk)
        except BlockingIOError:
            # Full for now; full for good once nothing drains for 0.3 s.
            if not select.select([], [c], [], 0.3)[1]:
                return c
    c.close()
    raise AssertionError("the server never stopped reading")


@pytest.mark.parametrize("sig2", SIGS, ids=["TERM", "INT"])
def test_second_signal_cuts_the_flush(start_server, sig2):
    """The first signal starts a graceful stop that would wait STOP_FLUSH
    (2 s) for a client that does not read; a second one while it waits
    ends sockit at once, with the status a stop by signal has: 0."""
    if helpers.under_valgrind():
        pytest.skip("the bound below is on sockit's speed")
    srv = start_server("-v", "-s", "echo", "tcp://127.0.0.1:0")
    c = stuck_client(srv.port)
    try:
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        srv.wait_stderr(r"let in")   # printed as the flush begins
        srv.signal(sig2)
        rc = srv.wait_exit()
        elapsed = time.monotonic() - t0
        srv.finish_drains()   # every stderr line read, not only those so far
        assert rc == 0, srv.stderr_text()
        assert elapsed < 1.5, "took %.2f s: the flush was not cut" % elapsed
        assert "stopping at once (second signal)" in srv.stderr_text()
    finally:
        c.close()


@pytest.mark.parametrize("service", ["echo", "chat", "stdio"])
def test_double_sigterm_like_timeout(start_server, service):
    """timeout(1) sends SIGTERM to its child and then to its process
    group: two at once.  sockit exits 0, never dies by the signal (143)."""
    kw = {"stdin": subprocess.PIPE} if service == "stdio" else {}
    srv = start_server("-s", service, "tcp://127.0.0.1:0", **kw)
    c = Conn.connect(srv.addr, "line")
    try:
        srv.signal(signal.SIGTERM)
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit() == 0
    finally:
        c.close()


def test_timeout_sees_the_documented_status(sockit):
    """The real thing: `timeout --preserve-status` passes on sockit's own
    status, 0, where it used to see 143."""
    srv_cmd = ["timeout", "--preserve-status", "0.5", sockit, "listen", "-q", "-s", "echo",
               "tcp://127.0.0.1:0"]
    r = subprocess.run(srv_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=helpers.scaled(20))
    assert r.returncode == 0, (r.returncode, r.stderr)


def test_connect_second_signal_ends_at_once(sockit):
    """connect whose stdout nobody reads: after the first SIGINT it waits
    for stdout to drain, which never happens; a second ends it, exit 0."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    r, w = os.pipe()   # stdout: never read
    proc = subprocess.Popen([sockit, "connect", "-q", "127.0.0.1:%d" % port],
                            stdin=subprocess.PIPE, stdout=w, stderr=subprocess.PIPE)
    helpers._track(proc)
    os.close(w)
    conn, _ = lsock.accept()
    try:
        conn.settimeout(10)
        conn.setblocking(False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:   # fill the pipe and sockit's queue
            try:
                conn.send(b"y" * 65536)
            except BlockingIOError:
                if not select.select([], [conn], [], 0.3)[1]:
                    break
        proc.send_signal(signal.SIGINT)
        conn.setblocking(True)
        conn.settimeout(helpers.scaled(10))
        try:
            while conn.recv(65536):          # sockit closes its end
                pass
        except ConnectionResetError:
            pass
        assert proc.poll() is None, "exited before stdout drained"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(helpers.scaled(5)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stderr.close()
        os.close(r)
        conn.close()
        lsock.close()
