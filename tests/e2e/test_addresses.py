"""Address forms on the listen side: shorthands, port 0, localhost, IPv6."""

import socket

import pytest

from helpers import Dgram, has_ipv6_loopback, run_sockit

needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


@pytest.mark.parametrize("form", ["0", ":0", "127.0.0.1:0", "tcp://127.0.0.1:0", "tcp://:0"])
def test_tcp_shorthands(start_server, conns, form):
    srv = start_server("-s", "upper", form)
    assert srv.addr.text == "tcp://127.0.0.1:%d" % srv.port
    assert srv.port > 0
    c = conns(srv.addr)
    c.sendall(b"ok")
    assert c.recv_exact(2) == b"OK"


def test_port_zero_picks_distinct_ports(start_server):
    a = start_server("-s", "echo", "0")
    b = start_server("-s", "echo", "0")
    assert a.port != b.port


def test_localhost_resolves(start_server, conns):
    srv = start_server("-s", "upper", "tcp://localhost:0")
    assert srv.addr.host in ("127.0.0.1", "::1"), srv.addr.text
    c = conns(srv.addr)
    c.sendall(b"local")
    assert c.recv_exact(5) == b"LOCAL"
    r = run_sockit(["connect", "localhost:%d" % srv.port], input=b"via name", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"VIA NAME"


def test_localhost_udp(start_server):
    srv = start_server("-s", "echo", "udp://localhost:0")
    u = Dgram(srv.addr)
    try:
        u.send(b"ping")
        assert u.recv() == b"ping"
    finally:
        u.close()


@needs_ipv6
def test_ipv6_tcp_echo(start_server, conns):
    srv = start_server("-s", "echo", "-f", "line", "[::1]:0")
    assert srv.addr.text == "tcp://[::1]:%d" % srv.port
    c = conns(srv.addr, "line")
    assert c.sock.family == socket.AF_INET6
    c.send_msg(b"over v6")
    assert c.recv_msg() == b"over v6"
    r = run_sockit(["connect", "-f", "line", "--send", "cli v6", "tcp://[::1]:%d" % srv.port], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"cli v6\n"


@needs_ipv6
def test_ipv6_udp_echo(start_server):
    srv = start_server("-s", "upper", "udp://[::1]:0")
    assert srv.addr.text == "udp://[::1]:%d" % srv.port
    u = Dgram(srv.addr)
    try:
        u.send(b"v6 datagram")
        assert u.recv() == b"V6 DATAGRAM"
    finally:
        u.close()


def test_ready_line_is_exactly_one_line(start_server, conns):
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    c = conns(srv.addr)
    c.sendall(b"x")
    assert c.recv_exact(1) == b"x"
    c.close()
    d = conns(srv.addr)           # the first close has been handled by now
    d.sendall(b"y")
    assert d.recv_exact(1) == b"y"
    assert srv.stderr_lines == ["listening on tcp://127.0.0.1:%d" % srv.port]
