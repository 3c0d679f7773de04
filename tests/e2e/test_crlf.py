"""-C/--crlf: stdin's line ends go out as CRLF, seen on the wire by a
Python peer.  Raw framing: every LF not already after a CR becomes CRLF,
also when the CR ended the previous read (netcat's -C, ncat's rule);
line framing: every line ends in CRLF whatever stdin ended it with.
Without -C the bytes go as they are."""

import socket
import subprocess

import pytest

from helpers import IO_TIMEOUT, Conn, Proc, run_sockit, scaled

from test_hexdump import Peer


def connect_with_stdin(args, data):
    """sockit connect ARGS PORT with data on stdin; returns what the Python
    server received before sockit half-closed."""
    peer = Peer()
    try:
        p = Proc(["connect"] + args + [str(peer.port)], stdin=subprocess.PIPE,
                 capture_stdout=True)
        c = peer.accept()
        p.proc.stdin.write(data)
        p.proc.stdin.close()
        got = c.recv_until_eof()
        c.close()
        assert p.wait_exit() == 0, p.stderr_text()
    finally:
        peer.close()
    return got


RAW_IN = b"HELO x\nMAIL FROM:<a@b>\r\n\nDATA\n.\nno end"
RAW_WIRE = b"HELO x\r\nMAIL FROM:<a@b>\r\n\r\nDATA\r\n.\r\nno end"


def test_raw_lf_becomes_crlf():
    assert connect_with_stdin(["-C"], RAW_IN) == RAW_WIRE


def test_raw_without_crlf_is_unchanged():
    assert connect_with_stdin([], RAW_IN) == RAW_IN


def test_raw_binary_other_bytes_untouched():
    data = bytes(b for b in range(256) if b != 10) + b"\n\r\r\n\n\r"
    want = bytes(b for b in range(256) if b != 10) + b"\r\n\r\r\n\r\n\r"
    assert connect_with_stdin(["--crlf"], data) == want


def test_raw_cr_at_end_of_one_read_and_lf_at_start_of_next():
    """The CR of "\\r\\n" split across two reads of stdin: no second CR."""
    peer = Peer()
    try:
        p = Proc(["connect", "-C", str(peer.port)], stdin=subprocess.PIPE,
                 capture_stdout=True)
        c = peer.accept()
        p.proc.stdin.write(b"A\r")
        p.proc.stdin.flush()
        assert c.recv_exact(2) == b"A\r"      # the first read went out alone
        p.proc.stdin.write(b"\nB\n")
        p.proc.stdin.close()
        assert c.recv_until_eof() == b"\nB\r\n"
        c.close()
        assert p.wait_exit() == 0
    finally:
        peer.close()


@pytest.mark.parametrize("stdin, wire", [
    (b"one\ntwo\r\nthree", b"one\r\ntwo\r\nthree\r\n"),
    (b"\n\n", b"\r\n\r\n"),
    (b"GET / HTTP/1.0\n\n", b"GET / HTTP/1.0\r\n\r\n"),
])
def test_line_framing_lines_end_in_crlf(stdin, wire):
    assert connect_with_stdin(["-C", "-f", "line"], stdin) == wire


def test_line_framing_without_crlf():
    assert connect_with_stdin(["-f", "line"], b"one\ntwo\r\n") == b"one\ntwo\n"


def test_line_framing_crlf_line_at_max_frame():
    """A line of exactly --max-frame bytes still goes (the CR is not
    counted against it)."""
    line = b"x" * 64
    assert connect_with_stdin(["-C", "-f", "line", "--max-frame", "64"],
                              line + b"\n") == line + b"\r\n"


def test_regular_file_on_stdin_is_converted(tmp_path):
    """A file goes by sendfile without -C; with it, it is converted."""
    src = tmp_path / "mail.txt"
    src.write_bytes(RAW_IN * 1000)
    peer = Peer()
    try:
        with open(src, "rb") as f:
            p = Proc(["connect", "-C", str(peer.port)], stdin=f, capture_stdout=True)
            c = peer.accept()
            got = c.recv_until_eof()
            c.close()
            assert p.wait_exit() == 0
    finally:
        peer.close()
    assert got == RAW_WIRE * 1000


def test_listen_crlf(start_server):
    srv = start_server("-C", "tcp://127.0.0.1:0", stdin=subprocess.PIPE,
                       capture_stdout=True)
    c = Conn.connect(srv.addr)
    srv.proc.stdin.write(b"220 hello\n")
    srv.proc.stdin.flush()
    assert c.recv_exact(11) == b"220 hello\r\n"
    c.close()
    assert srv.wait_exit() == 0


def test_udp_line_crlf_each_line_a_datagram():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(scaled(IO_TIMEOUT))
    try:
        r = run_sockit(["connect", "-C", "-f", "line", "udp://127.0.0.1:%d" % s.getsockname()[1]],
                       input=b"a\nbc\n")
        assert r.returncode == 0, r
        assert s.recvfrom(100)[0] == b"a\r\n"
        assert s.recvfrom(100)[0] == b"bc\r\n"
    finally:
        s.close()


def test_crlf_in_help():
    for cmd in ("connect", "listen"):
        assert "-C, --crlf" in run_sockit([cmd, "--help"]).stdout.decode()
