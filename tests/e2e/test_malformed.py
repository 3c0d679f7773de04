"""Malformed input, framing by framing: oversized length headers of every
width and byte order, a header cut short by a peer that then vanishes, and
floods of tiny and empty frames.  Each touches only the offending client,
with a logged reason; the others are served throughout, and no allocation
follows a claimed size (the server's RSS does not grow with it)."""

import threading

import pytest

from helpers import Framing, sanitized

# (framing, --max-frame): every header width and byte order.
LEN_FRAMINGS = [
    ("len:1", "100"),
    ("len:2", "1000"),
    ("len:2le", "1000"),
    ("len", "64K"),
    ("len:4le", "64K"),
    ("len:8", "64K"),
    ("len:8le", "64K"),
]
MAX = {"100": 100, "1000": 1000, "64K": 65536}


def claimed_headers(framing, max_frame):
    """Headers claiming one byte over the limit, and the largest value the
    width can say."""
    f = Framing(framing)
    width = f.width
    order = "little" if f.little else "big"
    return [(max_frame + 1).to_bytes(width, order), b"\xff" * width]


def check_served(c, tag):
    c.send_msg(b"still here " + tag)
    assert c.recv_msg() == b"still here " + tag


@pytest.mark.parametrize("framing,max_frame", LEN_FRAMINGS, ids=[f for f, _ in LEN_FRAMINGS])
def test_oversized_headers_every_width(start_server, conns, framing, max_frame):
    srv = start_server("-s", "echo", "-f", framing, "--max-frame", max_frame, "tcp://127.0.0.1:0")
    good = conns(srv.addr, framing)
    check_served(good, b"0")
    rss0 = srv.rss_kib()
    for i, header in enumerate(claimed_headers(framing, MAX[max_frame])):
        bad = conns(srv.addr, "raw")
        # The header and a little of the promised body; then the close.
        bad.sendall(header + b"\xab" * 64)
        assert bad.expect_closed() == b""
        check_served(good, b"%d" % i)
    srv.wait_stderr(r"dropping .*: frame too large \(over %d bytes\)" % MAX[max_frame])
    # Nothing of the claimed sizes (up to 2^64 - 1) was allocated.
    assert srv.rss_kib() - rss0 < (8 if sanitized() else 2) * 1024


@pytest.mark.parametrize("framing,max_frame", LEN_FRAMINGS, ids=[f for f, _ in LEN_FRAMINGS])
def test_header_cut_then_peer_vanishes(start_server, conns, framing, max_frame):
    srv = start_server("-s", "echo", "-f", framing, "--max-frame", max_frame, "tcp://127.0.0.1:0")
    good = conns(srv.addr, framing)
    f = Framing(framing)
    # A valid header, split: its first bytes only (a 1-byte header is cut
    # after the header, in the body).
    whole = f.encode(b"abcdef")
    cut = whole[:max(1, f.width // 2)] if f.width > 1 else whole[:3]
    bad = conns(srv.addr, "raw")
    bad.sendall(cut)
    check_served(good, b"before")
    bad.close()
    srv.wait_stderr(r"dropping .*: connection closed in the middle of a frame")
    check_served(good, b"after")


@pytest.mark.parametrize("framing", ["line", "len:1", "len:2le", "len", "len:8"])
def test_tiny_frame_flood(start_server, conns, framing):
    """200,000 one-byte and empty messages in one burst, echoed in order,
    while another client's round trips go on."""
    srv = start_server("-s", "echo", "-f", framing, "tcp://127.0.0.1:0")
    good = conns(srv.addr, framing)
    flood = conns(srv.addr, framing)
    f = Framing(framing)
    n = 20000 if sanitized() else 200000
    msgs = [b"" if i % 3 == 0 else b"%c" % (65 + i % 26) for i in range(n)]
    burst = b"".join(f.encode(m) for m in msgs)
    t = threading.Thread(target=flood.sendall, args=(burst,), daemon=True)
    t.start()
    check_served(good, b"during")
    for i, m in enumerate(msgs):
        got = flood.recv_msg()
        assert got == m, "message %d: %r, expected %r" % (i, got, m)
    t.join(10)
    check_served(good, b"after")
    assert "dropping" not in srv.stderr_text()
