"""discard: reads everything and sends nothing back."""

import threading

import pytest

from helpers import Dgram


@pytest.mark.parametrize("framing", ["raw", "line", "len", "len:2le"])
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_discard_stream(start_server, listen_addr, conns, transport, framing):
    srv = start_server("-s", "discard", "-f", framing, listen_addr(transport))
    c = conns(srv.addr, framing)
    if framing == "raw":
        wire = bytes(range(256)) * (64 * 1024)          # 16 MiB
    else:
        msg = b"d" * 1000
        wire = c.framing.encode(msg) * 16384           # ~16 MiB
    # More than every socket buffer on the way can hold: sendall only
    # completes if the server keeps reading.
    err = []

    def writer():
        try:
            c.sendall(wire)
            c.shutdown_write()
        except Exception as e:
            err.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "server stopped reading: sendall of 16 MiB did not finish"
    assert not err, err
    # Nothing comes back; after our EOF the connection ends (the library
    # ends a peer at EOF when the service has no EOF handler).
    assert c.expect_closed() == b""


def test_discard_keeps_serving(start_server, conns):
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    a = conns(srv.addr)
    a.sendall(b"x" * 100000)
    a.expect_silence(0.3)
    a.close()
    b = conns(srv.addr)
    b.sendall(b"y" * 100)
    b.shutdown_write()
    assert b.expect_closed() == b""


def test_discard_udp(start_server):
    srv = start_server("-s", "discard", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        for i in range(50):
            u.send(b"drop me %d" % i)
        u.expect_silence(0.5)
        assert srv.proc.poll() is None
    finally:
        u.close()
