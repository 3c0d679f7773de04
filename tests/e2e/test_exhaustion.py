"""Resource exhaustion: out of file descriptors, and --max-conns.

A server out of descriptors must keep serving the clients it has, must not
spin on EMFILE, must say why it refuses (once, not once per attempt) and
must accept again as soon as descriptors free up.
"""

import os
import resource
import time

import pytest

from helpers import Conn, poll_until, under_valgrind

FD_LIMIT = 64
ATTEMPTS = 500


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(addr, msg=b"ping"):
    """True when a fresh connection gets its line echoed."""
    try:
        with Conn.connect(addr, "line", timeout=5) as c:
            c.send_msg(msg)
            return c.recv_msg() == msg
    except (EOFError, OSError):
        return False


def attempt(addr):
    """Connects, says something, and tells whether the server answered
    (True), closed the connection (False), or the connect itself failed
    (None).  The socket stays open, holding whatever the server gave it."""
    try:
        c = Conn.connect(addr, "line", timeout=5)
    except OSError:
        return None, None
    try:
        c.send_msg(b"x")
        return c, c.recv_msg() == b"x"
    except (EOFError, OSError):
        return c, False


@pytest.mark.skipif(under_valgrind(), reason="valgrind answers getrlimit with the limit "
                    "it started with: a prlimit on the running server goes unseen")
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_out_of_descriptors(start_server, listen_addr, conns, transport):
    srv = start_server("-s", "echo", "-f", "line", listen_addr(transport))
    # As `ulimit -n 64` would: soft and hard, on the running server.
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    old = [conns(srv.addr, "line") for _ in range(5)]
    for i, c in enumerate(old):
        c.send_msg(b"old%d" % i)
        assert c.recv_msg() == b"old%d" % i

    cpu0 = cpu_seconds(srv.pid)
    held, answered, refused = [], 0, 0
    for _ in range(ATTEMPTS):
        c, ok = attempt(srv.addr)
        if c is not None:
            held.append(c)
        if ok:
            answered += 1
        elif ok is False:
            refused += 1
    # Every attempt got a definite answer: served, or closed at once.
    assert answered + refused == ATTEMPTS
    assert 0 < answered < FD_LIMIT, answered
    assert refused >= ATTEMPTS - FD_LIMIT, refused

    # The clients it had are still served.
    for i, c in enumerate(old):
        c.send_msg(b"still%d" % i)
        assert c.recv_msg() == b"still%d" % i

    # No spinning: with every refused socket still open on our side, the
    # server sleeps.  Measured ~0.05 s of CPU for the whole flood at -O2.
    time.sleep(1.0)
    spent = cpu_seconds(srv.pid) - cpu0
    assert spent < 0.8, "server used %.2f s of CPU during the flood" % spent

    # One warning that says why, not one per refused attempt.
    warned = [l for l in srv.stderr_lines if "out of file descriptors" in l]
    assert len(warned) == 1, srv.stderr_text()
    assert "limit %d" % FD_LIMIT in warned[0]

    # Descriptors free up: it accepts again, and says so.
    for c in held:
        c.close()
    assert poll_until(lambda: served(srv.addr), 10, interval=0.05)
    srv.wait_stderr("accepting connections again")
    for c in old:
        c.send_msg(b"after")
        assert c.recv_msg() == b"after"


def test_max_conns_warns_once(start_server, conns):
    srv = start_server("-s", "echo", "-f", "line", "--max-conns", "3", "tcp://127.0.0.1:0")
    kept = [conns(srv.addr, "line") for _ in range(3)]
    for c in kept:
        c.send_msg(b"in")
        assert c.recv_msg() == b"in"
    for _ in range(20):
        c, ok = attempt(srv.addr)
        assert ok is False
        c.close()
    warned = [l for l in srv.stderr_lines if "connection limit reached" in l]
    assert len(warned) == 1 and "(3)" in warned[0], srv.stderr_text()
    kept[0].close()
    assert poll_until(lambda: served(srv.addr), 10, interval=0.05)
    srv.wait_stderr("accepting connections again")


def test_churn_at_the_limit_warns_once_a_minute(start_server, conns):
    """Clients coming and going at the limit: each run of refusals is a
    warning only once a minute; the rest show with -v alone."""
    srv = start_server("-s", "echo", "-f", "line", "--max-conns", "1", "tcp://127.0.0.1:0")
    for i in range(3):
        held = []

        def take_the_slot():
            # The server notices a leaver asynchronously: retry until one
            # connection is served, and keep it.
            c, ok = attempt(srv.addr)
            if ok:
                held.append(c)
            elif c is not None:
                c.close()
            return ok

        assert poll_until(take_the_slot, 10, interval=0.05)
        kept = held[0]
        c, ok = attempt(srv.addr)
        assert ok is False, "cycle %d: not refused" % i
        c.close()
        kept.close()
    assert poll_until(lambda: served(srv.addr), 10, interval=0.05)
    text = srv.stderr_text()
    assert text.count("connection limit reached (1)") == 1, text
    assert text.count("accepting connections again") == 1, text
