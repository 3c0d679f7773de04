"""Sticky and split packets: frames glued together in one send and one frame
dribbled over several sends give exactly the messages that were framed."""

import time

import pytest

from helpers import Framing

SPECS = ["len", "len:2le", "len:8be", "len:1", "line"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_three_glued_plus_one_dribbled(start_server, listen_addr, conns, transport, spec):
    srv = start_server("-s", "upper", "-f", spec, listen_addr(transport))
    c = conns(srv.addr, spec)
    f = Framing(spec)
    glued = [b"first", b"second one", b"third: \xe9"]
    c.sendall(b"".join(f.encode(m) for m in glued))

    last = b"dribbled frame"
    wire = f.encode(last)
    if f.mode == "len" and f.width > 1:
        cuts = [f.width // 2, f.width + 4]      # inside the header, inside the payload
    else:
        cuts = [3, 9]
    pieces = [wire[:cuts[0]], wire[cuts[0]:cuts[1]], wire[cuts[1]:]]
    assert b"".join(pieces) == wire and all(pieces)
    for p in pieces:
        c.sendall(p)
        time.sleep(0.05)          # the pauses are the point: separate segments

    replies = [c.recv_msg() for _ in range(4)]
    assert replies == [m.upper() for m in glued] + [last.upper()]
    # Exactly four: nothing else follows before the close.
    c.shutdown_write()
    assert c.expect_closed() == b""


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_byte_by_byte(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "echo", "-f", "len:2le", listen_addr(transport))
    c = conns(srv.addr, "len:2le")
    wire = c.framing.encode(b"one") + c.framing.encode(b"") + c.framing.encode(b"three")
    for i in range(len(wire)):
        c.sendall(wire[i:i + 1])
    assert [c.recv_msg() for _ in range(3)] == [b"one", b"", b"three"]
