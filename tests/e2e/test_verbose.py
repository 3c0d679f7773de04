"""-v logs every connect and disconnect with the peer address, and with
discard the exact number of bytes each peer sent."""

import re

import pytest

from helpers import Conn, has_ipv6_loopback, poll_until, server_rx_queue


def peer_lines(srv, peer, start, tail=r"(?!\d)"):
    """Index of the first stderr line from start on that names peer
    followed by tail."""
    rx = re.escape(peer) + tail
    i, _ = srv.wait_stderr(rx, start=start)
    return i


@pytest.mark.parametrize("service", ["echo", "chat", "discard"])
def test_verbose_logs_connect_and_disconnect(start_server, service):
    srv = start_server("-v", "-s", service, "tcp://127.0.0.1:0")
    base = len(srv.stderr_lines)
    c = Conn.connect(srv.addr)
    # Bytes in three sends: discard's count must be their sum.
    chunks = [b"a" * 70000, b"\x00\n\r\xff", b"z" * 123]
    sent = sum(len(x) for x in chunks)
    try:
        host, port = c.sock.getsockname()
        peer = "%s:%d" % (host, port)
        i = peer_lines(srv, peer, base, r"$")     # the connect line, while connected
        assert srv.stderr_lines[i].endswith("connection from " + peer)
        assert srv.proc.poll() is None
        if service == "echo":
            for x in chunks:
                c.sendall(x)
                assert c.recv_exact(len(x)) == x
        elif service == "chat":
            # Read the welcome, so the close is a clean one, not a reset.
            assert c.recv_line().startswith(b"* you are guest1")
        elif service == "discard":
            # Each send read before the next, so the count adds reads up.
            for x in chunks:
                c.sendall(x)
                assert poll_until(lambda: server_rx_queue(srv.port, port) == 0, 10)
    finally:
        c.close()
    # The disconnect line, and for discard the byte count: each its own line.
    j = peer_lines(srv, peer, i + 1, r" disconnected\b")
    assert j > i
    if service == "discard":
        k = peer_lines(srv, peer, i + 1, r": 0 bytes sent, [\d,]+ received in ")
        assert ("%s: 0 bytes sent, %s received in " % (peer, format(sent, ","))) in srv.stderr_lines[k]
        assert k != j
    else:
        assert not any(" received in " in l for l in srv.stderr_lines)


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
