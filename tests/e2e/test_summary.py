"""-v ends with a summary line, ncat's habit done exactly: bytes each way
(on the wire, framing included, with thousands separated by commas),
the duration and both rates:

    sockit: NAME: 5,000 bytes sent, 70,000 received in 0.52 s (9.4 KiB/s up, 131.5 KiB/s down)

connect prints it last (after any reason the run ended), naming the
address; listen prints one per client as it leaves, for stdio and
discard."""

import re
import socket
import subprocess
import time

import pytest

from helpers import Conn, Dgram, Proc, poll_until

from test_hexdump import Peer

SUMMARY = re.compile(
    r"^sockit: (?P<name>\S+): (?P<sent>[\d,]+) bytes sent, (?P<recv>[\d,]+) received "
    r"in (?P<s>\d+\.\d\d) s \((?P<up>[\d.]+) (?P<uu>B|KiB|MiB|GiB)/s up, "
    r"(?P<down>[\d.]+) (?P<du>B|KiB|MiB|GiB)/s down\)$")

UNITS = {"B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}


def parse(line):
    m = SUMMARY.match(line)
    assert m, line
    return m


def count(text):
    """A figure as printed: digits in groups of three, with commas."""
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", text), text
    return int(text.replace(",", ""))


def check_rates(m):
    """The rates are the figures over the duration (at least 1 ms), to the
    printed precision: the duration is rounded to 0.01 s, a rate to one
    decimal of its unit (B/s to a whole byte)."""
    s = float(m["s"])
    for n, rate, unit in ((count(m["sent"]), m["up"], m["uu"]),
                          (count(m["recv"]), m["down"], m["du"])):
        lo = n / max(s + 0.005, 0.001)
        hi = n / max(s - 0.005, 0.001)
        got = float(rate) * UNITS[unit]
        step = UNITS[unit] * (0.5 if unit == "B" else 0.05)
        assert lo - step <= got <= hi + step, (m.group(0), lo, hi)


def test_connect_summary_is_the_last_line_with_exact_figures():
    up, down = b"u" * 5000, bytes(range(256)) * 273 + b"xy"   # 69,890 bytes
    peer = Peer()
    try:
        t0 = time.monotonic()
        p = Proc(["connect", "-v", str(peer.port)], stdin=subprocess.PIPE, capture_stdout=True)
        c = peer.accept()
        c.sendall(down)
        p.wait_stdout(down)
        p.proc.stdin.write(up)
        p.proc.stdin.close()
        assert c.recv_until_eof() == up
        time.sleep(0.5)    # a known lower bound for the duration
        c.close()
        assert p.wait_exit() == 0, p.stderr_text()
        wall = time.monotonic() - t0
        p.finish_drains()
    finally:
        peer.close()
    lines = p.stderr_lines
    m = parse(lines[-1])
    assert m["name"] == "tcp://127.0.0.1:%d" % peer.port
    assert m["sent"] == "5,000" and m["recv"] == "69,890"
    assert 0.5 <= float(m["s"]) <= wall
    check_rates(m)
    assert lines[0] == "sockit: connected to tcp://127.0.0.1:%d" % peer.port
    assert len(lines) == 2, lines


def test_connect_summary_counts_framing():
    peer = Peer()
    try:
        p = Proc(["connect", "-v", "-f", "line", str(peer.port)], stdin=subprocess.PIPE,
                 capture_stdout=True)
        c = peer.accept()
        c.sendall(b"r1\r\nr22\n")
        p.wait_stdout(b"r1\nr22\n")
        p.proc.stdin.write(b"a\nbb\n")
        p.proc.stdin.close()
        assert c.recv_until_eof() == b"a\nbb\n"
        c.close()
        assert p.wait_exit() == 0
        p.finish_drains()
    finally:
        peer.close()
    m = parse(p.stderr_lines[-1])
    assert (m["sent"], m["recv"]) == ("5", "8")


def test_connect_summary_after_the_reason():
    """-w ends the run: its reason, then the summary, last."""
    peer = Peer()
    try:
        p = Proc(["connect", "-v", "-w", "0.5", str(peer.port)], stdin=subprocess.PIPE,
                 capture_stdout=True)
        c = peer.accept()
        c.sendall(b"hello")
        p.wait_stdout(b"hello")
        assert p.wait_exit(5) == 1
        p.finish_drains()
    finally:
        peer.close()
    lines = p.stderr_lines
    assert lines[-2] == "sockit: connect: idle for 0.5 s (-w): closing"
    m = parse(lines[-1])
    assert (m["sent"], m["recv"]) == ("0", "5")
    assert float(m["s"]) >= 0.5


def test_connect_summary_with_send_and_thousands():
    peer = Peer()
    try:
        p = Proc(["connect", "-v", "-f", "line", "--max-frame", "2M", "--send", "x" * 1233,
                  str(peer.port)],
                 capture_stdout=True)
        c = peer.accept()
        assert c.recv_line() == b"x" * 1233
        c.sendall(b"y" * 1234567 + b"\n")
        assert p.wait_exit() == 0
        p.finish_drains()
    finally:
        peer.close()
    m = parse(p.stderr_lines[-1])
    assert (m["sent"], m["recv"]) == ("1,234", "1,234,568")
    check_rates(m)


def test_no_summary_without_v():
    peer = Peer()
    try:
        p = Proc(["connect", str(peer.port)], stdin=subprocess.PIPE)
        c = peer.accept()
        p.proc.stdin.write(b"abc")
        p.proc.stdin.close()
        assert c.recv_until_eof() == b"abc"
        c.close()
        assert p.wait_exit() == 0
        p.finish_drains()
    finally:
        peer.close()
    assert p.stderr_lines == []


def test_listen_stdio_summary_per_client(start_server):
    srv = start_server("-v", "-k", "tcp://127.0.0.1:0", stdin=subprocess.PIPE,
                       capture_stdout=True)
    seen = b""
    for n, (up, down) in enumerate([(b"a" * 3000, b"to one\n"), (b"b" * 12, b"")]):
        c = Conn.connect(srv.addr)
        name = "%s:%d" % c.sock.getsockname()
        t0 = time.monotonic()
        c.sendall(up)
        seen += up
        srv.wait_stdout(seen)
        if down:
            srv.proc.stdin.write(down)
            srv.proc.stdin.flush()
            assert c.recv_exact(len(down)) == down
        time.sleep(0.3)
        c.close()
        i, _ = srv.wait_stderr(re.escape("sockit: %s: " % name) + r"[\d,]+ bytes sent")
        wall = time.monotonic() - t0
        m = parse(srv.stderr_lines[i])
        assert count(m["sent"]) == len(down) and count(m["recv"]) == len(up)
        assert 0.3 <= float(m["s"]) <= wall
        check_rates(m)


@pytest.mark.parametrize("framing", ["raw", "line"])
def test_discard_summary(start_server, framing):
    srv = start_server("-v", "-s", "discard", "-f", framing, "tcp://127.0.0.1:0")
    c = Conn.connect(srv.addr)
    name = "%s:%d" % c.sock.getsockname()
    c.sendall(b"line one\n" * 1000 + b"tail\n")
    c.close()
    i, _ = srv.wait_stderr(re.escape("sockit: %s: " % name) + r"0 bytes sent")
    m = parse(srv.stderr_lines[i])
    assert m["recv"] == "9,005"
    check_rates(m)


def test_discard_udp_summary_at_stop(start_server):
    srv = start_server("-v", "-s", "discard", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        for i in range(3):
            u.send(b"z" * 500)
        name = "%s:%d" % u.local
        assert poll_until(lambda: any("datagrams from " + name in l for l in srv.stderr_lines), 5)
        u.expect_silence(0.3)
        assert srv.stop() == 0
        srv.finish_drains()
    finally:
        u.close()
    lines = [l for l in srv.stderr_lines if l.startswith("sockit: %s: " % name) and "bytes sent" in l]
    assert len(lines) == 1, srv.stderr_text()
    assert (parse(lines[0])["sent"], parse(lines[0])["recv"]) == ("0", "1,500")
