"""-x/--hexdump FILE on `connect` and `listen` (stdio): both directions of
every peer logged as the man page documents, checked byte for byte
against a reimplementation of that format here: per line a direction
('>' sent, '<' received), the offset of that direction in 8 hex digits,
16 bytes in hex with an extra blank after the eighth, and the printable
column between '|' ('.' for anything outside 0x20-0x7e); each chunk (one
read, one message sent) starts a line of its own; a '# NAME' line before
the first chunk of each peer.  '-' is stderr; the file is truncated; one
that cannot be opened is exit 1 before any connection.

Every exchange below waits for each chunk to arrive before the next is
sent, so that each is one read on the other side: the chunking, and with
it the dump, is then known."""

import os
import re
import select
import socket
import subprocess

import pytest

from helpers import IO_TIMEOUT, Conn, Proc, poll_until, run_sockit, scaled


def dump_lines(mark, offset, data):
    """The documented format of one chunk."""
    lines = []
    for at in range(0, len(data), 16):
        chunk = data[at:at + 16]
        hexpart = ""
        for i in range(16):
            hexpart += ("%02x " % chunk[i]) if i < len(chunk) else "   "
            if i == 7:
                hexpart += " "
        text = "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in chunk)
        lines.append("%s %08x  %s |%s|" % (mark, offset + at, hexpart, text))
    return lines


def test_reference_matches_hexdump_minus_c():
    """The reimplementation is `hexdump -C`'s layout behind '> ' (the
    documented claim), checked on the literal example of the man page."""
    assert dump_lines(">", 0, b"hello world\n") == [
        "> 00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 0a              |hello world.|"]
    assert dump_lines("<", 16, bytes(range(16))) == [
        "< 00000010  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"]


class Peer:
    """A Python TCP server for one sockit connect."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(scaled(IO_TIMEOUT))
        self.port = self.lsock.getsockname()[1]
        self.sock = None

    def accept(self):
        self.sock, _ = self.lsock.accept()
        self.sock.settimeout(scaled(IO_TIMEOUT))
        return Conn(self.sock)

    def nothing_pending(self):
        return select.select([self.lsock], [], [], 0.2)[0] == []

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.lsock.close()


# The known exchange: (direction, bytes).  Offsets pass 16 in both
# directions, lines end short, and non-printables (NUL, CR, LF, DEL, 0x80
# and up) are there.
EXCHANGE = [
    ("<", b"220 ready\r\n"),
    (">", bytes(range(40))),
    ("<", b"\x00\xffworld" + bytes(range(0x70, 0x90))),
    (">", b"bye"),
]


def expected_dump(name):
    lines = ["# " + name]
    offsets = {"<": 0, ">": 0}
    for mark, data in EXCHANGE:
        lines += dump_lines(mark, offsets[mark], data)
        offsets[mark] += len(data)
    return lines


def run_exchange(proc, conn):
    """Plays EXCHANGE between sockit connect (proc) and the Python side
    (conn), each chunk waited for before the next."""
    got_out = b""
    for mark, data in EXCHANGE:
        if mark == "<":
            conn.sendall(data)
            got_out += data
            proc.wait_stdout(got_out)
        else:
            proc.proc.stdin.write(data)
            proc.proc.stdin.flush()
            assert conn.recv_exact(len(data)) == data
    proc.proc.stdin.close()
    assert conn.recv_until_eof() == b""      # sockit half-closed after stdin
    conn.close()
    assert proc.wait_exit() == 0, proc.stderr_text()
    proc.finish_drains()


def test_connect_hexdump_to_file_byte_for_byte(tmp_path):
    path = tmp_path / "dump.txt"
    path.write_text("old content, truncated away\n" * 10)
    peer = Peer()
    try:
        p = Proc(["connect", "-x", str(path), str(peer.port)],
                 stdin=subprocess.PIPE, capture_stdout=True)
        run_exchange(p, peer.accept())
    finally:
        peer.close()
    text = path.read_text()
    assert text.endswith("\n")
    assert text.splitlines() == expected_dump("tcp://127.0.0.1:%d" % peer.port)
    assert p.stderr_lines == []


def test_connect_hexdump_dash_is_stderr():
    peer = Peer()
    try:
        p = Proc(["connect", "--hexdump", "-", str(peer.port)],
                 stdin=subprocess.PIPE, capture_stdout=True)
        run_exchange(p, peer.accept())
    finally:
        peer.close()
    assert p.stderr_lines == expected_dump("tcp://127.0.0.1:%d" % peer.port)


def test_connect_hexdump_shows_framing_on_the_wire():
    """With line framing a message and its '\\n' are one chunk, as sent."""
    peer = Peer()
    try:
        p = Proc(["connect", "-f", "line", "-x", "-", str(peer.port)],
                 stdin=subprocess.PIPE, capture_stdout=True)
        c = peer.accept()
        c.sendall(b"one\r\n")
        p.wait_stdout(b"one\n")
        p.proc.stdin.write(b"two\n")
        p.proc.stdin.close()
        assert c.recv_until_eof() == b"two\n"
        c.close()
        assert p.wait_exit() == 0
        p.finish_drains()
    finally:
        peer.close()
    assert p.stderr_lines == (["# tcp://127.0.0.1:%d" % peer.port]
                              + dump_lines("<", 0, b"one\r\n")
                              + dump_lines(">", 0, b"two\n"))


def test_connect_hexdump_with_send():
    peer = Peer()
    try:
        p = Proc(["connect", "-f", "line", "--send", "ping", "-x", "-", str(peer.port)],
                 capture_stdout=True)
        c = peer.accept()
        assert c.recv_line() == b"ping"
        c.sendall(b"pong\n")
        assert p.wait_exit() == 0
        p.finish_drains()
    finally:
        peer.close()
    assert p.stderr_lines == (["# tcp://127.0.0.1:%d" % peer.port]
                              + dump_lines(">", 0, b"ping\n")
                              + dump_lines("<", 0, b"pong\n"))


def test_connect_hexdump_regular_file_stdin(tmp_path):
    """A file on stdin is read and sent (not by sendfile), so the dump
    holds it."""
    src = tmp_path / "in.bin"
    data = bytes(range(256)) * 3
    src.write_bytes(data)
    peer = Peer()
    try:
        with open(src, "rb") as f:
            p = Proc(["connect", "-x", "-", str(peer.port)], stdin=f, capture_stdout=True)
            c = peer.accept()
            assert c.recv_until_eof() == data
            c.close()
            assert p.wait_exit() == 0
            p.finish_drains()
    finally:
        peer.close()
    lines = p.stderr_lines
    assert lines[0] == "# tcp://127.0.0.1:%d" % peer.port
    dumped = b"".join(bytes.fromhex(l[12:61].replace("  ", " ")) for l in lines[1:])
    assert dumped == data
    assert all(l.startswith("> ") for l in lines[1:])


def test_listen_hexdump_keep_open_two_clients(start_server, tmp_path):
    """listen -k: each client's chunks under its own '# NAME' line, with
    offsets of its own."""
    path = tmp_path / "listen.dump"
    srv = start_server("-k", "-x", str(path), "tcp://127.0.0.1:0",
                       stdin=subprocess.PIPE, capture_stdout=True)
    expect = []
    for n, (msg, reply) in enumerate([(b"first client\n", b"to one\n"),
                                      (b"second, longer than sixteen bytes\x01\n", b"two\n")]):
        c = Conn.connect(srv.addr)
        name = "%s:%d" % c.sock.getsockname()
        c.sendall(msg)
        srv.wait_stdout(b"first client\n" + (msg if n else b""))
        srv.proc.stdin.write(reply)
        srv.proc.stdin.flush()
        assert c.recv_exact(len(reply)) == reply
        c.close()
        expect += ["# " + name] + dump_lines("<", 0, msg) + dump_lines(">", 0, reply)
        # The server saw the client go before the next one comes.
        assert poll_until(lambda: len(path.read_text().splitlines()) >= len(expect), 5)
    assert srv.stop() == 0
    assert path.read_text().splitlines() == expect


def test_listen_hexdump_keep_open_many_clients_each_named(start_server, tmp_path):
    """listen -k: a client that comes after another left may get the
    memory the first had; it still gets its own '# NAME' line.  15 in
    turn, each waited out before the next."""
    path = tmp_path / "listen.dump"
    srv = start_server("-v", "-k", "-x", str(path), "tcp://127.0.0.1:0",
                       stdin=subprocess.DEVNULL, capture_stdout=True)
    names = []
    for n in range(15):
        c = Conn.connect(srv.addr)
        names.append("%s:%d" % c.sock.getsockname())
        c.sendall(b"client %d\n" % n)
        srv.wait_stdout(b"".join(b"client %d\n" % i for i in range(n + 1)))
        c.close()
        srv.wait_stderr(r"%s disconnected" % re.escape(names[-1]))
    assert srv.stop() == 0
    heads = [l[2:] for l in path.read_text().splitlines() if l.startswith("# ")]
    assert heads == names


def test_hexdump_file_that_cannot_be_opened_exits_1_before_connecting(tmp_path):
    bad = str(tmp_path / "no" / "such" / "dir" / "dump")
    peer = Peer()
    try:
        r = run_sockit(["connect", "-x", bad, str(peer.port)], input=b"x")
        assert peer.nothing_pending(), "sockit connected although -x failed"
    finally:
        peer.close()
    assert r.returncode == 1, r
    assert r.stdout == b""
    assert r.stderr.decode().splitlines() == [
        "sockit: connect: -x %s: No such file or directory" % bad]


def test_listen_hexdump_file_that_cannot_be_opened(tmp_path):
    bad = str(tmp_path)  # a directory
    r = run_sockit(["listen", "-x", bad, "tcp://127.0.0.1:0"], input=b"")
    assert r.returncode == 1, r
    err = r.stderr.decode()
    assert err.splitlines() == ["sockit: listen: -x %s: Is a directory" % bad], err
    assert "listening on" not in err


def test_hexdump_in_help_and_man_page():
    man = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "sockit.1")
    with open(man, encoding="utf-8") as f:
        text = f.read()
    for cmd in ("connect", "listen"):
        out = run_sockit([cmd, "--help"]).stdout.decode()
        assert "-x, --hexdump FILE" in out, out
    assert "hexdump" in text and "00000000" in text
