"""discard: reads everything and sends nothing back."""

import threading

import pytest

from helpers import Dgram, poll_until


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


def udp_rx_queue(port):
    """Bytes waiting unread in the receive queue of the loopback UDP socket
    bound to port (ss -uln's Recv-Q), from /proc/net/udp."""
    want = ":%04X" % port
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].endswith(want):
                return int(fields[4].split(":")[1], 16)
    raise AssertionError("no UDP socket on port %d" % port)


def test_discard_udp(start_server):
    """Datagrams are read (the socket's receive queue drains to empty),
    counted per sender (-v at stop: NAME: 0 bytes sent, N received in
    ...), and nothing
    is sent back."""
    srv = start_server("-v", "-s", "discard", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        sent = 0
        # In batches small enough for any receive buffer, each drained
        # before the next: a lost datagram would make the count wrong.
        for batch in range(5):
            for i in range(10):
                d = b"drop me %d" % (batch * 10 + i) + b"." * (batch * 100)
                u.send(d)
                sent += len(d)
            assert poll_until(lambda: udp_rx_queue(srv.port) == 0, 10), (
                "the server does not read its socket: Recv-Q %d bytes"
                % udp_rx_queue(srv.port))
        u.expect_silence(0.5)
        assert srv.proc.poll() is None
        peer = "%s:%d" % u.local
        assert srv.stop() == 0
        srv.finish_drains()
        lines = [l for l in srv.stderr_lines if " received in " in l]
        assert len(lines) == 1, srv.stderr_text()
        assert lines[0].startswith("sockit: %s: 0 bytes sent, %s received in "
                                   % (peer, format(sent, ","))), srv.stderr_text()
    finally:
        u.close()
