"""echo: every message comes back, in the same framing, in order, over TCP,
Unix and UDP."""

import threading

import pytest

from helpers import Dgram, Framing

STREAMS = ["tcp", "unix"]
LEN_SPECS = ["len", "len:1", "len:2", "len:2le", "len:4le", "len:8be", "len:8le"]
FRAMINGS = ["raw", "line"] + LEN_SPECS


def messages_for(spec):
    f = Framing(spec)
    if f.mode == "line":
        return [b"hello", b"", b"x" * 1000, bytes(range(11, 256)) * 40, b"tab\there", b"last"]
    big = min(f.max_payload, 200000)
    return [b"hello", b"", b"\x00\n\r\xff", bytes(range(256)) * (big // 256) + b"!" * (big % 256),
            b"a" * min(f.max_payload, 70000), b"last"]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("transport", STREAMS)
def test_echo_stream(start_server, listen_addr, conns, transport, framing):
    srv = start_server("-s", "echo", "-f", framing, listen_addr(transport))
    assert srv.addr.transport == transport
    c = conns(srv.addr, framing)
    if framing == "raw":
        data = bytes(range(256)) * 512
        c.sendall(data)
        assert c.recv_exact(len(data)) == data
        return
    msgs = messages_for(framing)
    # Round trips one at a time, then everything in one burst.
    for m in msgs:
        c.send_msg(m)
        assert c.recv_msg() == m
    c.sendall(b"".join(c.framing.encode(m) for m in msgs))
    for m in msgs:
        assert c.recv_msg() == m


@pytest.mark.parametrize("transport", STREAMS)
def test_echo_line_drops_cr(start_server, listen_addr, conns, transport):
    """'\\r' before '\\n' is dropped in line framing."""
    srv = start_server("-s", "echo", "-f", "line", listen_addr(transport))
    c = conns(srv.addr, "line")
    c.sendall(b"dos line\r\nunix line\n")
    assert c.recv_line() == b"dos line"
    assert c.recv_line() == b"unix line"


@pytest.mark.parametrize("transport", STREAMS)
def test_echo_line_half_close_flushes_last_line(start_server, listen_addr, conns, transport):
    """A last line without '\\n' is still a message at EOF; replies are
    flushed, then the server closes."""
    srv = start_server("-s", "echo", "-f", "line", listen_addr(transport))
    c = conns(srv.addr, "line")
    c.sendall(b"one\ntwo\nno newline")
    c.shutdown_write()
    assert c.expect_closed() == b"one\ntwo\nno newline\n"


@pytest.mark.parametrize("framing", ["raw", "len"])
@pytest.mark.parametrize("transport", STREAMS)
def test_echo_bulk_then_half_close(start_server, listen_addr, conns, transport, framing):
    """8 MiB sent while reading concurrently, then a half-close: every byte
    comes back, then the server closes (backpressure does not lose data)."""
    srv = start_server("-s", "echo", "-f", framing, listen_addr(transport))
    c = conns(srv.addr, framing)
    if framing == "raw":
        payload = bytes(range(256)) * (8 * 4096)
        wire = payload
    else:
        msgs = [bytes([i % 256]) * 65536 for i in range(128)]
        wire = b"".join(c.framing.encode(m) for m in msgs)
        payload = wire
    err = []

    def writer():
        try:
            c.sendall(wire)
            c.shutdown_write()
        except Exception as e:  # reported below
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got = c.expect_closed(timeout=60)
    t.join(10)
    assert not err, err
    assert len(got) == len(payload)
    assert got == payload


def test_echo_clients_are_independent(start_server, conns):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    a = conns(srv.addr, "line")
    b = conns(srv.addr, "line")
    a.send_msg(b"from a")
    b.send_msg(b"from b")
    assert b.recv_msg() == b"from b"
    assert a.recv_msg() == b"from a"
    a.close()
    b.send_msg(b"still")
    assert b.recv_msg() == b"still"


def test_echo_udp(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    assert srv.addr.transport == "udp"
    u = Dgram(srv.addr)
    try:
        dgrams = [b"a", b"bb\n", bytes(range(256)), b"x" * 8000]
        for d in dgrams:
            u.send(d)
        # Each datagram is one message and comes back as one datagram.
        for d in dgrams:
            assert u.recv() == d
    finally:
        u.close()


def test_echo_udp_replies_to_each_sender(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    us = [Dgram(srv.addr) for _ in range(3)]
    try:
        for i, u in enumerate(us):
            u.send(b"from %d" % i)
        for i, u in enumerate(us):
            assert u.recv() == b"from %d" % i
    finally:
        for u in us:
            u.close()
