"""-v logs every connect and disconnect with the peer address."""

import re

import pytest

from helpers import Conn, has_ipv6_loopback


def peer_lines(srv, peer, start):
    rx = re.escape(peer) + r"(?!\d)"
    i, _ = srv.wait_stderr(rx, start=start)
    return i


@pytest.mark.parametrize("service", ["echo", "chat", "discard"])
def test_verbose_logs_connect_and_disconnect(start_server, service):
    srv = start_server("-v", "-s", service, "tcp://127.0.0.1:0")
    base = len(srv.stderr_lines)
    c = Conn.connect(srv.addr)
    try:
        host, port = c.sock.getsockname()
        peer = "%s:%d" % (host, port)
        i = peer_lines(srv, peer, base)           # the connect line, while connected
        assert srv.proc.poll() is None
    finally:
        c.close()
    j = peer_lines(srv, peer, i + 1)              # the disconnect line
    assert j > i


def test_verbose_two_clients_distinguished(start_server):
    srv = start_server("-v", "-s", "echo", "tcp://127.0.0.1:0")
    base = len(srv.stderr_lines)
    a = Conn.connect(srv.addr)
    b = Conn.connect(srv.addr)
    pa = "127.0.0.1:%d" % a.sock.getsockname()[1]
    pb = "127.0.0.1:%d" % b.sock.getsockname()[1]
    ia = peer_lines(srv, pa, base)
    ib = peer_lines(srv, pb, base)
    b.close()
    jb = peer_lines(srv, pb, ib + 1)
    a.close()
    ja = peer_lines(srv, pa, ia + 1)
    assert ja > jb


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_verbose_ipv6_peer(start_server):
    srv = start_server("-v", "-s", "echo", "tcp://[::1]:0")
    base = len(srv.stderr_lines)
    c = Conn.connect(srv.addr)
    peer = "[::1]:%d" % c.sock.getsockname()[1]
    i = peer_lines(srv, peer, base)
    c.close()
    peer_lines(srv, peer, i + 1)
