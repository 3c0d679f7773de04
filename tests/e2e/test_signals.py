"""SIGTERM and SIGINT: flush, close, exit 0 -- idle or with clients; SIGPIPE
never kills the server."""

import signal
import socket
import subprocess

import pytest

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
