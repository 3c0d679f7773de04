"""--max-frame: an oversized length header or an overlong line closes only
that client, is checked before anything is allocated (bounded RSS), and
zero-length frames are ordinary messages."""

import threading

import pytest

from helpers import Conn, Framing

LEN_SPECS = ["len", "len:1", "len:2", "len:2le", "len:4le", "len:8be", "len:8le"]


def blast_and_expect_close(addr, header, garbage_bytes, timeout=10):
    """Connects, sends header followed by up to garbage_bytes of payload (the
    server may cut us off at any point), and asserts the server closes the
    connection (EOF or reset) within timeout.  Returns what it sent first."""
    c = Conn.connect(addr, "raw", timeout=timeout)
    try:
        def writer():
            try:
                c.sendall(header)
                chunk = b"\xab" * 65536
                for _ in range(garbage_bytes // len(chunk)):
                    c.sendall(chunk)
            except OSError:
                pass          # reset or broken pipe: the server closed us

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        got = c.expect_closed(timeout)
        t.join(timeout)
        return got
    finally:
        c.close()


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_huge_len_header_closes_only_that_client(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "echo", "-f", "len", listen_addr(transport))
    good = conns(srv.addr, "len")
    payload = b"p" * 100000
    for _ in range(5):                      # warm up: buffers, allocator pools
        good.send_msg(payload)
        assert good.recv_msg() == payload
    rss_before = srv.rss_kib()

    for i in range(4):
        assert blast_and_expect_close(srv.addr, b"\xff\xff\xff\xff", 8 << 20) == b""
        # Others keep working.
        good.send_msg(b"still alive %d" % i)
        assert good.recv_msg() == b"still alive %d" % i

    srv.wait_stderr("frame too large")
    rss_after = srv.rss_kib()
    grown = rss_after - rss_before
    assert grown < 6 * 1024, "RSS grew by %d KiB after oversized headers" % grown
    newcomer = conns(srv.addr, "len")
    newcomer.send_msg(b"new")
    assert newcomer.recv_msg() == b"new"


def test_huge_len8_header(start_server, conns):
    srv = start_server("-s", "echo", "-f", "len:8le", "tcp://127.0.0.1:0")
    good = conns(srv.addr, "len:8le")
    good.send_msg(b"x")
    assert good.recv_msg() == b"x"
    rss_before = srv.rss_kib()
    for header in (b"\xff" * 8, (1 << 40).to_bytes(8, "little"), (1 << 63).to_bytes(8, "little")):
        assert blast_and_expect_close(srv.addr, header, 4 << 20) == b""
    good.send_msg(b"y")
    assert good.recv_msg() == b"y"
    assert srv.rss_kib() - rss_before < 6 * 1024


def test_max_frame_boundary_len(start_server, conns):
    """Exactly --max-frame bytes is fine; one more closes the client."""
    srv = start_server("-s", "echo", "-f", "len:2le", "--max-frame", "1000", "tcp://127.0.0.1:0")
    ok = conns(srv.addr, "len:2le")
    ok.send_msg(b"m" * 1000)
    assert ok.recv_msg() == b"m" * 1000
    bad = conns(srv.addr, "len:2le")
    bad.sendall((1001).to_bytes(2, "little"))     # the header alone is enough
    assert bad.expect_closed() == b""
    srv.wait_stderr("frame too large")
    ok.send_msg(b"after")
    assert ok.recv_msg() == b"after"


def test_default_max_frame_is_1m(start_server, conns):
    srv = start_server("-s", "echo", "-f", "len", "tcp://127.0.0.1:0")
    ok = conns(srv.addr, "len")
    big = bytes(range(256)) * 4096                # exactly 1 MiB
    ok.send_msg(big)
    assert ok.recv_msg() == big
    bad = conns(srv.addr, "len")
    bad.sendall(((1 << 20) + 1).to_bytes(4, "big"))
    assert bad.expect_closed() == b""


def test_max_frame_suffix(start_server, conns):
    srv = start_server("-s", "echo", "-f", "len", "--max-frame", "2K", "tcp://127.0.0.1:0")
    ok = conns(srv.addr, "len")
    ok.send_msg(b"k" * 1900)
    assert ok.recv_msg() == b"k" * 1900
    bad = conns(srv.addr, "len")
    bad.sendall((5000).to_bytes(4, "big"))
    assert bad.expect_closed() == b""


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_max_frame_line(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "echo", "-f", "line", "--max-frame", "100", listen_addr(transport))
    ok = conns(srv.addr, "line")
    ok.send_msg(b"s" * 50)
    assert ok.recv_msg() == b"s" * 50

    long_line = conns(srv.addr, "line")
    long_line.send_msg(b"short")
    assert long_line.recv_msg() == b"short"
    long_line.sendall(b"L" * 500 + b"\n")
    assert long_line.expect_closed() == b""

    # Without any '\n' the server must not wait for one: it closes once the
    # bytes so far exceed the limit.
    endless = conns(srv.addr, "line")
    try:
        endless.sendall(b"E" * 5000)
    except OSError:
        pass
    assert endless.expect_closed() == b""

    ok.send_msg(b"others unaffected")
    assert ok.recv_msg() == b"others unaffected"


def test_max_frame_line_with_suffix(start_server, conns):
    srv = start_server("-s", "upper", "-f", "line", "--max-frame", "1K", "tcp://127.0.0.1:0")
    ok = conns(srv.addr, "line")
    ok.send_msg(b"q" * 900)
    assert ok.recv_msg() == b"Q" * 900
    ok.sendall(b"q" * 3000 + b"\n")
    assert ok.expect_closed() == b""


@pytest.mark.parametrize("spec", LEN_SPECS)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_zero_length_frames_echoed(start_server, listen_addr, conns, transport, spec):
    srv = start_server("-s", "echo", "-f", spec, listen_addr(transport))
    c = conns(srv.addr, spec)
    f = Framing(spec)
    zero = f.header(0)
    c.sendall(zero)
    assert c.recv_exact(f.width) == zero
    # Mixed with non-empty ones, in order, on the wire byte for byte.
    wire = zero + f.encode(b"a") + zero + zero + f.encode(b"bc") + zero
    c.sendall(wire)
    assert c.recv_exact(len(wire)) == wire
    c.shutdown_write()
    assert c.expect_closed() == b""


def test_oversized_header_does_not_disturb_chat(start_server, conns):
    srv = start_server("-s", "chat", "-f", "len", "tcp://127.0.0.1:0")
    a = conns(srv.addr, "len")
    assert a.recv_text() == "* you are guest1; here: guest1"
    # The victim joins (it may get its welcome before it is dropped).
    blast_and_expect_close(srv.addr, b"\xff\xff\xff\xff", 1 << 20)
    # The dropped client had joined: the others may see it come and go.
    b = conns(srv.addr, "len")
    welcome = b.recv_text()
    assert welcome.startswith("* you are guest3; here: guest1, guest3"), welcome
    seen = []
    while True:
        m = a.recv_text()
        seen.append(m)
        if m == "* guest3 joined":
            break
    assert seen[0] == "* guest2 joined", seen
    assert seen[1].startswith("* guest2 left"), seen
    b.send_text("hello")
    assert a.recv_text() == "guest3: hello"
