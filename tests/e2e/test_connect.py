"""sockit connect: stdin/stdout piping, half-close at EOF, --send/--expect,
--timeout, framings, UDP and Unix."""

import socket
import threading
import time

import pytest

import subprocess

from helpers import Framing, free_tcp_port, run_sockit, sockit_bin


class FakeServer:
    """A one-connection Python TCP server running `handler(conn)` in a
    thread, to see exactly what `sockit connect` puts on the wire."""

    def __init__(self, handler):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.lsock.settimeout(10)
        self.port = self.lsock.getsockname()[1]
        self.received = bytearray()
        self.error = None
        self.t = threading.Thread(target=self._run, args=(handler,), daemon=True)
        self.t.start()

    def _run(self, handler):
        try:
            conn, _ = self.lsock.accept()
            conn.settimeout(10)
            with conn:
                handler(self, conn)
        except Exception as e:
            self.error = e

    def read_until_eof(self, conn):
        while True:
            b = conn.recv(65536)
            if not b:
                return
            self.received += b

    def close(self):
        self.t.join(10)
        self.lsock.close()


def test_stdin_eof_exits_promptly_after_reply(start_server):
    srv = start_server("-s", "upper", "tcp://127.0.0.1:0")
    t0 = time.monotonic()
    r = run_sockit(["connect", str(srv.port)], input=b"hello\n", timeout=10)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"HELLO\n"
    assert elapsed < 3.0, "connect took %.1f s after stdin EOF" % elapsed


@pytest.mark.parametrize("form", ["PORT", ":PORT", "127.0.0.1:PORT", "tcp://127.0.0.1:PORT",
                                  "localhost:PORT"])
def test_address_forms(start_server, form):
    srv = start_server("-s", "upper", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", form.replace("PORT", str(srv.port))], input=b"abc", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ABC"


def test_raw_is_binary_safe(start_server):
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    data = bytes(range(256)) * 1024 + bytes(range(255, -1, -1))     # 256 KiB + 256
    r = run_sockit(["connect", "-f", "raw", "tcp://127.0.0.1:%d" % srv.port], input=data, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_raw_stdin_sent_unchanged_then_half_close():
    def handler(fs, conn):
        fs.read_until_eof(conn)          # connect half-closes at stdin EOF
        conn.sendall(b"after your EOF")  # and still prints what follows

    fs = FakeServer(handler)
    data = bytes(range(256)) * 4
    r = run_sockit(["connect", str(fs.port)], input=data, timeout=10)
    fs.close()
    assert fs.error is None, fs.error
    assert bytes(fs.received) == data
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"after your EOF"


@pytest.mark.parametrize("framing", ["line", "len", "len:2le", "len:8be", "len:1"])
def test_stdin_lines_are_messages(start_server, framing):
    srv = start_server("-s", "echo", "-f", framing, "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", framing, str(srv.port)],
                   input=b"one\ntwo words\n\nlast\n", timeout=10)
    assert r.returncode == 0, r.stderr
    # An empty line is an empty message; echo sends it back; it prints as "\n".
    assert r.stdout == b"one\ntwo words\n\nlast\n"


@pytest.mark.parametrize("framing", ["len", "len:2le", "len:8be"])
def test_len_framing_on_the_wire(framing):
    f = Framing(framing)

    def handler(fs, conn):
        fs.read_until_eof(conn)
        conn.sendall(f.encode(b"reply 1") + f.encode(b"reply 2"))

    fs = FakeServer(handler)
    r = run_sockit(["connect", "-f", framing, str(fs.port)], input=b"abc\nde\n", timeout=10)
    fs.close()
    assert fs.error is None, fs.error
    assert bytes(fs.received) == f.encode(b"abc") + f.encode(b"de")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"reply 1\nreply 2\n"


def test_send_line_expect(start_server):
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    t0 = time.monotonic()
    r = run_sockit(["connect", "-f", "line", "--send", "first", "--send", "second msg",
                    str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FIRST\nSECOND MSG\n"
    # It exits once the expected replies are in, not at the 10 s timeout.
    assert time.monotonic() - t0 < 5


def test_send_expect_more_than_sent(start_server):
    """chat answers /who with the welcome line first: two replies for one send."""
    srv = start_server("-s", "chat", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "--send", "/who", "--expect", "2",
                    str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"* you are guest1; here: guest1\n* here: guest1\n"


def test_send_len_framing(start_server):
    srv = start_server("-s", "echo", "-f", "len:2le", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "len:2le", "--send", "x y z", "--send", "",
                    "--send", "w", str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x y z\n\nw\n"


def test_send_raw_half_closes_and_prints_all(start_server):
    srv = start_server("-s", "upper", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "--send", "raw bytes", str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"RAW BYTES"


def test_send_timeout_expires(start_server):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    t0 = time.monotonic()
    r = run_sockit(["connect", "-f", "line", "--send", "a", "--send", "b", "--expect", "3",
                    "--timeout", "1", str(srv.port)], timeout=10)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1
    assert r.stdout == b"a\nb\n"
    assert b"sockit: timed out after 1 s waiting for replies (got 2 of 3)" in r.stderr, r.stderr
    assert 0.8 <= elapsed < 5


def test_send_timeout_no_reply(start_server):
    srv = start_server("-s", "discard", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "--send", "anyone?", "--timeout", "1",
                    str(srv.port)], timeout=10)
    assert r.returncode == 1
    assert r.stdout == b""
    assert b"sockit: timed out after 1 s waiting for replies (got 0 of 1)" in r.stderr, r.stderr


def test_connection_refused():
    held, port = free_tcp_port()
    try:
        r = run_sockit(["connect", "tcp://127.0.0.1:%d" % port], input=b"x", timeout=10)
    finally:
        held.close()
    assert r.returncode == 1
    assert ("sockit: connect tcp://127.0.0.1:%d: connection refused" % port).encode() in r.stderr, r.stderr


def test_connect_unix(start_server, listen_addr):
    srv = start_server("-s", "upper", listen_addr("unix"))
    r = run_sockit(["connect", "unix:" + srv.path], input=b"over unix\n", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"OVER UNIX\n"
    r = run_sockit(["connect", "unix://" + srv.path], input=b"abs form", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ABS FORM"


def test_connect_unix_missing_path(sockdir):
    r = run_sockit(["connect", "unix:%s/nothing-here" % sockdir], input=b"x", timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith(b"sockit: connect unix:"), r.stderr


def test_connect_udp_send(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "--send", "dgram one", "--send", "dgram two",
                    "udp://127.0.0.1:%d" % srv.port], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"DGRAM ONE\nDGRAM TWO\n"


def test_connect_udp_each_send_is_one_datagram():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(10)
    port = u.getsockname()[1]
    got = []

    def serve():
        for _ in range(2):
            d, peer = u.recvfrom(65536)
            got.append(d)
            u.sendto(d.rstrip(b"\n")[::-1], peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = run_sockit(["connect", "-f", "line", "--send", "abc", "--send", "hello",
                        "udp://127.0.0.1:%d" % port], timeout=10)
        t.join(10)
    finally:
        u.close()
    assert [d.rstrip(b"\n") for d in got] == [b"abc", b"hello"]
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"cba\nolleh\n"


def test_sigpipe_does_not_kill_connect():
    """The server closes while connect still writes: exit by status, not by
    SIGPIPE (a signal death has a negative returncode)."""
    def handler(fs, conn):
        conn.recv(10)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    fs = FakeServer(handler)
    r = run_sockit(["connect", str(fs.port)], input=b"z" * (8 << 20), timeout=20)
    fs.close()
    assert r.returncode >= 0, "killed by signal %d" % -r.returncode


def test_connect_timeout():
    """A listener whose accept queue is full drops SYNs: the connect itself
    times out after --timeout."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.settimeout(5)
    try:
        filler.connect(("127.0.0.1", port))     # takes the only queue slot
        t0 = time.monotonic()
        r = run_sockit(["connect", "--timeout", "1", "--send", "x", str(port)], timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        filler.close()
        lsock.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"sockit: "), r.stderr
    assert b"timed out" in r.stderr, r.stderr
    assert 0.8 <= elapsed < 5, elapsed


def test_connect_udp_stdin_lines(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "udp://127.0.0.1:%d" % srv.port],
                   input=b"first datagram\nsecond\n", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FIRST DATAGRAM\nSECOND\n"


def test_stdin_line_too_long_for_header(start_server):
    """len:1 carries at most 255 bytes: a longer stdin line is an error
    that names the problem, not a silent drop."""
    srv = start_server("-s", "echo", "-f", "len:1", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "len:1", "127.0.0.1:%d" % srv.port],
                   input=b"short\n" + b"z" * 300 + b"\n", timeout=20)
    assert r.returncode == 1, r.stderr
    assert b"stdin: a line longer than --max-frame (255 bytes)" in r.stderr, r.stderr


def test_send_empty_raw_message(start_server):
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "--send", "", "127.0.0.1:%d" % srv.port], timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""


def test_send_reports_stdout_failure(start_server):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    with open("/dev/full", "wb") as full:
        p = subprocess.run([sockit_bin(), "connect", "-f", "line", "--send", "hi",
                            "127.0.0.1:%d" % srv.port],
                           stdout=full, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 1
    assert b"stdout: No space left on device" in p.stderr, p.stderr
