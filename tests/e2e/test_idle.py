"""connect -w/--idle-timeout S: once neither direction moved for S
seconds, 'sockit: connect: idle for S s (-w): closing' and exit 1; an
exchange longer than S in which something moves at least every S is not
cut, whichever side talks; -w bounds the connect too unless --timeout is
given (netcat's -w)."""

import socket
import subprocess
import time

from helpers import IO_TIMEOUT, Proc, run_sockit, scaled

from test_hexdump import Peer

SLACK = 2.0  # beyond S: a loaded machine's scheduling, process start


def test_silent_peer_exits_1_within_s():
    peer = Peer()
    try:
        t0 = time.monotonic()
        p = Proc(["connect", "-w", "1", str(peer.port)], stdin=subprocess.PIPE)
        c = peer.accept()
        rc = p.wait_exit(5)
        elapsed = time.monotonic() - t0
        assert c.recv_until_eof() == b""        # sockit closed the connection
    finally:
        peer.close()
    assert rc == 1, p.stderr_text()
    assert 0.9 <= elapsed < 1 + scaled(SLACK), elapsed
    assert p.stderr_lines == ["sockit: connect: idle for 1 s (-w): closing"]


def test_fraction_of_a_second_is_named_as_given():
    peer = Peer()
    try:
        p = Proc(["connect", "--idle-timeout", "0.3", str(peer.port)], stdin=subprocess.PIPE)
        peer.accept()
        assert p.wait_exit(5) == 1
    finally:
        peer.close()
    assert p.stderr_lines == ["sockit: connect: idle for 0.3 s (-w): closing"]


def test_peer_talking_keeps_it_open():
    """The server sends a byte every 0.3 s for 2.4 s (well past -w 1),
    then closes: everything arrives and sockit exits 0."""
    peer = Peer()
    try:
        p = Proc(["connect", "-w", "1", str(peer.port)], stdin=subprocess.PIPE,
                 capture_stdout=True)
        c = peer.accept()
        for i in range(8):
            c.sendall(b"%d" % i)
            time.sleep(0.3)
        c.close()
        p.proc.stdin.close()
        assert p.wait_exit() == 0, p.stderr_text()
        p.finish_drains()
    finally:
        peer.close()
    assert p.stdout_bytes() == b"01234567"


def test_stdin_talking_keeps_it_open():
    """Sending counts as moving: stdin goes out every 0.3 s for 2.4 s to a
    server that says nothing."""
    peer = Peer()
    try:
        p = Proc(["connect", "-w", "1", str(peer.port)], stdin=subprocess.PIPE)
        c = peer.accept()
        for i in range(8):
            p.proc.stdin.write(b"%d" % i)
            p.proc.stdin.flush()
            assert c.recv_exact(1) == b"%d" % i
            time.sleep(0.3)
        assert p.proc.poll() is None
        p.proc.stdin.close()
        assert c.recv_until_eof() == b""
        c.close()
        assert p.wait_exit() == 0, p.stderr_text()
    finally:
        peer.close()


def test_send_mode_waits_no_longer_than_w():
    """--send waits for replies up to --timeout (10 s); -w 1 ends a silent
    wait sooner, with its own message."""
    peer = Peer()
    try:
        t0 = time.monotonic()
        p = Proc(["connect", "-f", "line", "--send", "hello", "-w", "1", str(peer.port)])
        c = peer.accept()
        assert c.recv_line() == b"hello"
        rc = p.wait_exit(5)
        elapsed = time.monotonic() - t0
    finally:
        peer.close()
    assert rc == 1
    assert elapsed < 1 + scaled(SLACK), elapsed
    assert p.stderr_lines == ["sockit: connect: idle for 1 s (-w): closing"]


def test_udp_silent_peer():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        p = Proc(["connect", "-w", "1", "udp://127.0.0.1:%d" % s.getsockname()[1]],
                 stdin=subprocess.PIPE)
        rc = p.wait_exit(5)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert rc == 1
    assert 0.9 <= elapsed < 1 + scaled(SLACK), elapsed
    assert p.stderr_lines == ["sockit: connect: idle for 1 s (-w): closing"]


def full_listener():
    """A listener whose accept queue is full: SYNs to it are dropped, so a
    connect to it hangs until its timeout."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.settimeout(5)
    filler.connect(lsock.getsockname())
    return lsock, filler


def connect_to_a_full_listener(*args):
    """Runs `sockit connect ARGS PORT` against a listener whose accept
    queue is full (its SYNs go unanswered); returns (result, seconds)."""
    lsock, filler = full_listener()
    try:
        t0 = time.monotonic()
        r = run_sockit(["connect"] + list(args) + [str(lsock.getsockname()[1])],
                       input=b"", timeout=15)
        return r, time.monotonic() - t0
    finally:
        filler.close()
        lsock.close()


def test_w_bounds_the_connect():
    r, elapsed = connect_to_a_full_listener("-w", "1")
    assert r.returncode == 1, r
    assert b"timed out" in r.stderr, r.stderr
    assert 0.8 <= elapsed < 1 + scaled(SLACK), elapsed


def test_timeout_wins_over_w_for_the_connect():
    r, elapsed = connect_to_a_full_listener("-w", "0.5", "--timeout", "2")
    assert r.returncode == 1, r
    assert b"timed out" in r.stderr, r.stderr
    assert 1.8 <= elapsed < 2 + scaled(SLACK), elapsed


def test_w_zero_means_never():
    peer = Peer()
    try:
        p = Proc(["connect", "-w", "0", str(peer.port)], stdin=subprocess.PIPE)
        c = peer.accept()
        time.sleep(1.0)   # silence is the behaviour under test
        assert p.proc.poll() is None
        p.proc.stdin.close()
        c.close()
        assert p.wait_exit() == 0
    finally:
        peer.close()


def test_idle_in_help():
    assert "-w, --idle-timeout S" in run_sockit(["connect", "--help"]).stdout.decode()
