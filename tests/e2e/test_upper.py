"""upper: a-z upper-cased, every other byte (digits, punctuation, control
bytes, non-ASCII like 0xe9) untouched; over TCP, Unix and UDP."""

import pytest

from helpers import Dgram, Framing, run_sockit

FRAMINGS = ["raw", "line", "len", "len:1", "len:2le", "len:8be", "len:4le"]


def upper(b):
    return bytes(c - 32 if 0x61 <= c <= 0x7A else c for c in b)


def test_upper_reference():
    # The model used below, checked on its own.
    assert upper(b"abc xyz 09 \xe9\xe0 AZ {}`@") == b"ABC XYZ 09 \xe9\xe0 AZ {}`@"


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_upper_stream(start_server, listen_addr, conns, transport, framing):
    srv = start_server("-s", "upper", "-f", framing, listen_addr(transport))
    c = conns(srv.addr, framing)
    every_byte = bytes(range(256))
    if framing == "raw":
        data = every_byte * 64
        c.sendall(data)
        assert c.recv_exact(len(data)) == upper(data)
        return
    f = Framing(framing)
    if f.mode == "line":
        msgs = [b"hello world", b"caf\xe9 12345 \xc3\xa9t\xc3\xa9", b"MiXeD-case_09",
                bytes(b for b in every_byte if b not in (10, 13)), b""]
    else:
        msgs = [b"hello world", b"caf\xe9 12345", every_byte[: f.max_payload], b"", b"\n\r\x00z"]
    for m in msgs:
        c.send_msg(m)
        assert c.recv_msg() == upper(m)


def test_upper_digits_and_non_ascii_untouched(start_server, conns):
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "line")
    c.send_msg(b"0123456789 \xe9\xc9\xff ~[]^_`{|} abcxyz")
    assert c.recv_msg() == b"0123456789 \xe9\xc9\xff ~[]^_`{|} ABCXYZ"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_upper_half_close(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "upper", listen_addr(transport))
    c = conns(srv.addr)
    c.sendall(b"shout this\n")
    c.shutdown_write()
    assert c.expect_closed() == b"SHOUT THIS\n"


def test_upper_udp(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        for d in [b"hello", b"caf\xe9 42", bytes(range(256))]:
            u.send(d)
            assert u.recv() == upper(d)
    finally:
        u.close()


def test_upper_udp_line_framing(start_server):
    """With line framing over UDP a datagram still comes back upper-cased
    (with or without its '\\n', which the contract leaves open)."""
    srv = start_server("-s", "upper", "-f", "line", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        u.send(b"udp line\n")
        assert u.recv().rstrip(b"\n") == b"UDP LINE"
    finally:
        u.close()


def test_connect_against_upper(start_server):
    """The brief's example: `printf 'hello\\n' | sockit connect PORT`."""
    srv = start_server("-s", "upper", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", str(srv.port)], input=b"hello\n", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"HELLO\n"
