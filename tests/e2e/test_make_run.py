"""`make run` (scripts/run.sh): the "join with" line comes only once the
chat server listens, with the address it bound; a bind that fails prints
its error, no invitation, and make sees sockit's exit status."""

import os
import re
import select
import signal
import socket
import subprocess
import time

import helpers
from helpers import Conn, sockit_bin

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "run.sh")
JOIN_RE = re.compile(r"^sockit chat on (127\.0\.0\.1:(\d+)) -- join with: (\S+) connect -f line "
                     r"127\.0\.0\.1:\2  \(or: nc 127\.0\.0\.1 \2\)$")


def start(addr):
    proc = subprocess.Popen(["sh", SCRIPT, sockit_bin(), addr], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    helpers._track(proc)
    return proc


def read_line(pipe, timeout):
    """One line of pipe, or b"" at its end; bounded."""
    line = b""
    deadline = time.monotonic() + helpers.scaled(timeout)
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, "no line within %.0f s (got %r)" % (timeout, line)
        if not select.select([pipe], [], [], left)[0]:
            continue
        c = os.read(pipe.fileno(), 1)
        if not c:
            return line
        line += c
    return line


def test_makefile_runs_the_script():
    with open(os.path.join(ROOT, "Makefile")) as f:
        text = f.read()
    recipe = text.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/run.sh $(BUILD)/sockit $(RUN_ADDR)" in recipe, recipe
    assert "RUN_ADDR ?= 127.0.0.1:8000" in text


def test_join_line_after_listening():
    proc = start("127.0.0.1:0")
    try:
        assert read_line(proc.stderr, 10).startswith(b"listening on tcp://127.0.0.1:")
        line = read_line(proc.stdout, 10).decode().rstrip("\n")
        m = JOIN_RE.match(line)
        assert m, line
        assert m.group(3) == sockit_bin()
        c = Conn.connect(helpers.Addr("tcp://" + m.group(1)), "line")
        try:
            assert c.recv_text() == "* you are guest1; here: guest1"
            proc.send_signal(signal.SIGTERM)   # sockit itself: the script exec'd it
            assert c.recv_text() == "* server stopping"
        finally:
            c.close()
        assert proc.wait(helpers.scaled(10)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_no_join_line_when_the_bind_fails():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    proc = start("127.0.0.1:%d" % port)
    try:
        out, err = proc.communicate(timeout=helpers.scaled(10))
    finally:
        holder.close()
    assert proc.returncode == 1, err
    assert out == b"", out
    assert b"address already in use" in err, err
