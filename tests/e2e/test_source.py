"""--source ADDR[:PORT]: `sockit connect` and `sockit bench` connect from a
chosen local address (and port), checked from the server's side -- the
peer address a Python server's accept() or recvfrom() sees, or the
"connection from" lines of `sockit listen -v` -- and a source that cannot
be used is named in the error."""

import re
import socket

import pytest

from helpers import IO_TIMEOUT, Proc, has_ipv6_loopback, run_sockit, scaled

needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


def free_port(host, kind=socket.SOCK_STREAM):
    """A port free on host right now (the kernel's pick, released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, kind)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def py_server(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(4)
    s.settimeout(scaled(IO_TIMEOUT))
    return s


def accept_one(srv, proc, reply=b"ok\n"):
    """Accepts sockit's connection, reads its line, answers it, and returns
    the peer address the server saw and the line."""
    c, peer = srv.accept()
    c.settimeout(scaled(IO_TIMEOUT))
    got = b""
    while not got.endswith(b"\n"):
        chunk = c.recv(64)
        if not chunk:
            break
        got += chunk
    c.sendall(reply)
    c.close()
    assert proc.wait_exit() == 0, proc.stderr_text()
    return peer, got


def test_source_address_and_port_seen_by_the_server():
    srv = py_server()
    port = free_port("127.0.0.2")
    try:
        p = Proc(["connect", "-f", "line", "--send", "hi", "--source", "127.0.0.2:%d" % port,
                  "127.0.0.1:%d" % srv.getsockname()[1]], capture_stdout=True)
        peer, got = accept_one(srv, p)
        assert peer == ("127.0.0.2", port)
        assert got == b"hi\n"
        assert p.stdout_bytes() == b"ok\n"
    finally:
        srv.close()


def test_source_address_alone_picks_any_port():
    srv = py_server()
    try:
        p = Proc(["connect", "-f", "line", "--send", "x", "--source", "127.0.0.3",
                  "localhost:%d" % srv.getsockname()[1]])
        peer, _ = accept_one(srv, p)
        assert peer[0] == "127.0.0.3"
        assert peer[1] != 0
    finally:
        srv.close()


def test_source_for_udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(scaled(IO_TIMEOUT))
    port = free_port("127.0.0.4", socket.SOCK_DGRAM)
    try:
        p = Proc(["connect", "--send", "dgram", "--source", "127.0.0.4:%d" % port,
                  "udp://127.0.0.1:%d" % u.getsockname()[1]], capture_stdout=True)
        data, peer = u.recvfrom(100)
        assert (data, peer) == (b"dgram", ("127.0.0.4", port))
        u.sendto(b"back", peer)
        assert p.wait_exit() == 0, p.stderr_text()
        assert p.stdout_bytes() == b"back"
    finally:
        u.close()


def test_source_for_tls_seen_by_sockit_listen(start_server):
    srv = start_server("-v", "-s", "upper", "-f", "line", "tls://127.0.0.1:0")
    r = run_sockit(["connect", "--insecure", "-q", "-f", "line", "--send", "tls", "--source", "127.0.0.5",
                    "tls://127.0.0.1:%d" % srv.port], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"TLS\n"
    srv.wait_stderr(r"connection from 127\.0\.0\.5:\d+$")


@needs_ipv6
def test_ipv6_source():
    srv = py_server("::1")
    try:
        p = Proc(["connect", "-f", "line", "--send", "v6", "--source", "[::1]",
                  "tcp://[::1]:%d" % srv.getsockname()[1]])
        peer, _ = accept_one(srv, p)
        assert peer[0] == "::1"
    finally:
        srv.close()


@needs_ipv6
def test_ipv6_source_with_a_port_alone():
    """--source :PORT is any address, of the target's family: :: for an
    IPv6 target, as 0.0.0.0 for an IPv4 one."""
    srv6, srv4 = py_server("::1"), py_server()
    port6, port4 = free_port("::1"), free_port("127.0.0.1")
    try:
        p = Proc(["connect", "-f", "line", "--send", "v6", "--source", ":%d" % port6,
                  "[::1]:%d" % srv6.getsockname()[1]])
        peer, _ = accept_one(srv6, p)
        assert peer[:2] == ("::1", port6)
        p = Proc(["connect", "-f", "line", "--send", "v4", "--source", ":%d" % port4,
                  "127.0.0.1:%d" % srv4.getsockname()[1]])
        peer, _ = accept_one(srv4, p)
        assert peer == ("127.0.0.1", port4)
    finally:
        srv6.close()
        srv4.close()


def test_source_in_use_is_named():
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.2", 0))
    taken.listen(1)
    srv = py_server()
    src = "127.0.0.2:%d" % taken.getsockname()[1]
    try:
        r = run_sockit(["connect", "--send", "x", "--source", src,
                        "127.0.0.1:%d" % srv.getsockname()[1]], timeout=10)
        assert r.returncode == 1
        assert r.stderr.decode() == "sockit: connect tcp://127.0.0.1:%d: --source %s: address already in use\n" % (
            srv.getsockname()[1], src)
    finally:
        taken.close()
        srv.close()


def test_source_not_on_this_host_is_named():
    # 192.0.2.1 (TEST-NET-1) is nobody's address: the bind fails before any
    # packet leaves.
    r = run_sockit(["connect", "--send", "x", "--source", "192.0.2.1", "127.0.0.1:9"], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode().startswith(
        "sockit: connect tcp://127.0.0.1:9: --source 192.0.2.1: address not available "
        "(not an address of this host"), r.stderr


def test_source_name_that_does_not_resolve():
    r = run_sockit(["connect", "--source", "nosuch.invalid", "127.0.0.1:9"], timeout=20)
    assert r.returncode == 1
    assert r.stderr.decode().startswith("sockit: connect: --source nosuch.invalid: "), r.stderr


def test_bench_every_connection_from_the_source(start_server):
    srv = start_server("-v", "-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["bench", "-q", "-c", "3", "-n", "30", "--source", "127.0.0.6",
                    "127.0.0.1:%d" % srv.port], timeout=30)
    assert r.returncode == 0, r.stderr
    srv.wait_stderr(r"connection from 127\.0\.0\.6:", start=0)
    froms = [line for line in srv.stderr_lines if "connection from" in line]
    assert len(froms) == 3, froms
    assert all(re.search(r"connection from 127\.0\.0\.6:\d+$", f) for f in froms), froms


def test_bench_source_with_a_port(start_server):
    srv = start_server("-v", "-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    port = free_port("127.0.0.7")
    r = run_sockit(["bench", "-q", "-c", "1", "-n", "10", "--source", "127.0.0.7:%d" % port,
                    "127.0.0.1:%d" % srv.port], timeout=30)
    assert r.returncode == 0, r.stderr
    srv.wait_stderr(r"connection from 127\.0\.0\.7:%d$" % port)


def test_bench_source_in_use_is_named(start_server):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.2", 0))
    taken.listen(1)
    src = "127.0.0.2:%d" % taken.getsockname()[1]
    try:
        r = run_sockit(["bench", "-q", "-c", "1", "-n", "5", "--source", src,
                        "127.0.0.1:%d" % srv.port], timeout=30)
        assert r.returncode == 1
        assert ("sockit: bench: connect tcp://127.0.0.1:%d: --source %s: address already in use"
                % (srv.port, src)) in r.stderr.decode(), r.stderr
    finally:
        taken.close()
