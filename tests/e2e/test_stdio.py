"""listen stdio (the default service): received data goes to stdout, stdin
goes to the peer; without -k one client, then exit 0; with -k it keeps
serving."""

import socket
import struct
import subprocess

import pytest

from helpers import Dgram, poll_until


def start_stdio(start_server, *args):
    return start_server(*args, stdin=subprocess.PIPE, capture_stdout=True)


def feed_stdin(srv, data):
    srv.proc.stdin.write(data)
    srv.proc.stdin.flush()


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_stdio_raw_both_ways(start_server, listen_addr, conns, transport):
    srv = start_stdio(start_server, listen_addr(transport))  # stdio is the default
    c = conns(srv.addr)
    data = bytes(range(256)) * 16 + b"end"
    c.sendall(data)
    srv.wait_stdout(data)
    feed_stdin(srv, b"from the server\n\x00\xff")
    assert c.recv_exact(len(b"from the server\n\x00\xff")) == b"from the server\n\x00\xff"
    # Without -k the server exits 0 once its client leaves.
    c.close()
    assert srv.wait_exit() == 0


@pytest.mark.parametrize("framing", ["line", "len", "len:2le", "len:8be"])
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_stdio_framed_messages_printed_as_lines(start_server, listen_addr, conns, transport, framing):
    srv = start_stdio(start_server, "-s", "stdio", "-f", framing, listen_addr(transport))
    c = conns(srv.addr, framing)
    for m in [b"first", b"second message", b"third"]:
        c.send_msg(m)
    srv.wait_stdout(b"first\nsecond message\nthird\n")
    # Each stdin line is one message to the peer, in the same framing.
    feed_stdin(srv, b"reply one\nreply two\n")
    assert c.recv_msg() == b"reply one"
    assert c.recv_msg() == b"reply two"
    c.close()
    assert srv.wait_exit() == 0


def test_stdio_exits_when_client_leaves_after_half_close(start_server, conns):
    srv = start_stdio(start_server, "tcp://127.0.0.1:0")
    c = conns(srv.addr)
    c.sendall(b"bye\n")
    c.shutdown_write()
    srv.wait_stdout(b"bye\n")
    # The server may keep the connection open for its stdin until we close.
    c.close()
    assert srv.wait_exit() == 0
    assert srv.stdout_bytes() == b"bye\n"


def test_stdio_keep_open_serves_next_client(start_server, conns):
    srv = start_stdio(start_server, "-k", "-f", "line", "tcp://127.0.0.1:0")
    a = conns(srv.addr, "line")
    a.send_msg(b"from a")
    srv.wait_stdout(b"from a\n")
    a.close()
    b = conns(srv.addr, "line")
    b.send_msg(b"from b")
    srv.wait_stdout(b"from a\nfrom b\n")
    assert srv.proc.poll() is None, "with -k the server must keep running"
    feed_stdin(srv, b"to b\n")
    assert b.recv_msg() == b"to b"
    b.close()
    c = conns(srv.addr, "line")
    c.send_msg(b"from c")
    srv.wait_stdout(b"from a\nfrom b\nfrom c\n")
    assert srv.proc.poll() is None
    # Teardown: SIGTERM -> exit 0.


def test_stdio_keep_open_long_flag(start_server, conns):
    srv = start_stdio(start_server, "--keep-open", "--service", "stdio", "tcp://127.0.0.1:0")
    a = conns(srv.addr)
    a.sendall(b"x")
    srv.wait_stdout(b"x")
    a.close()
    b = conns(srv.addr)
    b.sendall(b"y")
    srv.wait_stdout(b"xy")
    assert srv.proc.poll() is None


def test_stdio_udp(start_server):
    srv = start_stdio(start_server, "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        u.send(b"datagram one")
        srv.wait_stdout(b"datagram one")
        u.send(b"|two")
        srv.wait_stdout(b"datagram one|two")
        # stdin goes to the peer that sent to us.
        feed_stdin(srv, b"back to udp\n")
        got = b""
        while len(got) < len(b"back to udp\n"):
            got += u.recv()
        assert got == b"back to udp\n"
    finally:
        u.close()


def test_stdio_large_transfer_to_stdout(start_server, conns):
    srv = start_stdio(start_server, "tcp://127.0.0.1:0")
    c = conns(srv.addr)
    data = bytes(range(256)) * 8192                     # 2 MiB
    c.sendall(data)
    c.close()
    assert srv.wait_exit(30) == 0
    srv.finish_drains()
    assert poll_until(lambda: len(srv.stdout_bytes()) >= len(data), 5)
    assert srv.stdout_bytes() == data


def test_stdio_keep_open_stdin_resumes_after_full_client_leaves(start_server, conns):
    """-k: stdin pauses while a client that never reads is over its queue
    cap, and goes on to the others once that client leaves."""
    import socket as _socket
    import threading
    srv = start_stdio(start_server, "-k", "-f", "line", "--max-queue", "4K",
                      "tcp://127.0.0.1:0")
    stuck = conns(srv.addr, "line", rcvbuf=2048)
    good = conns(srv.addr, "line")
    line, total = b"y" * 999 + b"\n", 40000  # 40 MB: more than socket buffers hold
    writer = threading.Thread(target=lambda: feed_stdin(srv, line * total), daemon=True)
    writer.start()
    got = 0
    # Read until the flow stops: stdin is paused for the stuck client.
    good.sock.settimeout(1.0)
    try:
        while got < total:
            assert good.recv_msg() == line[:-1]
            got += 1
    except _socket.timeout:
        pass
    assert got < total, "the stuck client never filled up; the test proves nothing"
    # The stuck client vanishes (reset): stdin must flow again to the other.
    stuck.sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    stuck.close()
    good.sock.settimeout(10)
    while got < total:
        assert good.recv_msg() == line[:-1]
        got += 1
    writer.join(10)
    assert not writer.is_alive()


def test_client_reset_ends_listener_with_a_message(start_server):
    """Without -k the session is the one client: its reset ends the run
    with status 1 and says why, even without -v."""
    yes = subprocess.Popen(["yes", "hello"], stdout=subprocess.PIPE)
    try:
        srv = start_server("tcp://127.0.0.1:0", stdin=yes.stdout)
        s = socket.create_connection((srv.addr.host, srv.port), timeout=10)
        assert s.recv(6) == b"hello\n"  # stdin flows to it; it stops reading
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        assert srv.wait_exit() == 1
        srv.wait_stderr(r"^sockit: 127\.0\.0\.1:\d+: connection reset by peer$")
        srv.expect_clean_exit = False  # exited 1 on purpose
    finally:
        yes.kill()
        yes.wait()
