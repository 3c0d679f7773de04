"""Terminal-safe output: what a peer sends cannot drive the user's terminal.

With stdout a terminal (a real pseudo-terminal here, from os.openpty) and
line or len framing, `sockit connect` and `sockit listen` (stdio) show the
C0 controls other than tab, DEL, the C1 controls and bytes that are not
valid UTF-8 as \\xNN; valid UTF-8, Chinese included, is left as it is.  Raw
framing, --raw-output, and stdout a pipe get the bytes as they came.  Text
a peer controls in sockit's own messages on stderr is escaped the same way.
"""

import os
import re
import select
import socket
import subprocess
import termios
import threading
import time

import pytest

from helpers import (IO_TIMEOUT, Addr, _track, len_frame, run_sockit, scaled,
                     sockit_bin)

LISTENING = rb"listening on (\S+)"

MAN_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "docs", "sockit.1")

CHINESE = "你好，世界".encode("utf-8")

# (what the peer sends as one message, what a terminal must show of it)
HOSTILE = [
    (b"\x1b]0;pwned\x07title", b"\\x1b]0;pwned\\x07title"),  # OSC: window title
    (b"\x1b[2J cleared", b"\\x1b[2J cleared"),                 # CSI: clear screen
    (b"\x9b31m C1 CSI", b"\\x9b31m C1 CSI"),                   # C1 CSI, a raw byte
    (b"\xc2\x9b31m C1 as UTF-8", b"\\xc2\\x9b31m C1 as UTF-8"),  # U+009B, encoded
    (b"bad \xff byte", b"bad \\xff byte"),
    (b"cut \xe4\xbd short", b"cut \\xe4\\xbd short"),          # 3-byte sequence, 2 sent
    (b"overlong \xc0\xaf slash", b"overlong \\xc0\\xaf slash"),
    (b"del \x7f here", b"del \\x7f here"),
    (b"over\rwrite", b"over\\x0dwrite"),
    (b"nul \x00 bell \x07", b"nul \\x00 bell \\x07"),
    (b"tab\tstays", b"tab\tstays"),
    (CHINESE, CHINESE),
    ("café ✓ 😀".encode("utf-8"), "café ✓ 😀".encode("utf-8")),
]
# A len message may hold a newline; inside a message it is one more
# control character.
LEN_ONLY = [(b"two\nlines", b"two\\x0alines")]


def cases(framing):
    return HOSTILE + (LEN_ONLY if framing == "len" else [])


def wire(framing, msgs):
    """msgs framed as the peer sends them."""
    if framing == "line":
        return b"".join(m + b"\n" for m in msgs)
    if framing == "len":
        return b"".join(len_frame(m) for m in msgs)
    return b"".join(msgs)


def escaped(framing):
    return b"".join(shown + b"\n" for _, shown in cases(framing))


def exact(framing):
    return b"".join(sent + b"\n" for sent, _ in cases(framing))


# ------------------------------------------------------------ the terminal

class Terminal:
    """A pseudo-terminal for sockit's stdout.  Output post-processing
    (ONLCR's "\\n" to "\\r\\n") is off, so the master reads exactly the
    bytes sockit wrote."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        attrs = termios.tcgetattr(self.slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)

    def read_all(self, proc, timeout=IO_TIMEOUT):
        """Everything written to the terminal until sockit exited and the
        last byte was read (EIO once no one holds the slave), bounded."""
        data = bytearray()
        deadline = time.monotonic() + scaled(timeout)
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the terminal was not closed within %.1f s; got %r" % (
                scaled(timeout), bytes(data))
            r, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the slave side is closed
                    return bytes(data)
                if not chunk:
                    return bytes(data)
                data += chunk

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def terminal():
    t = Terminal()
    yield t
    t.close()


def spawn(args, stdout):
    """sockit ARGS with stdout on stdout (a terminal's slave, or PIPE),
    stdin /dev/null, stderr a pipe."""
    p = subprocess.Popen([sockit_bin()] + args, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=subprocess.PIPE)
    _track(p)
    return p


class Output:
    """Where sockit's stdout goes: a terminal, or a pipe."""

    def __init__(self, terminal=None):
        self.terminal = terminal

    def spawn(self, args):
        if self.terminal is None:
            return spawn(args, subprocess.PIPE)
        p = spawn(args, self.terminal.slave)
        os.close(self.terminal.slave)  # sockit holds it now: EIO at its exit
        self.terminal.slave = -1
        return p

    def collect(self, p):
        """stdout to its end, the rest of stderr, and the exit status."""
        out = self.terminal.read_all(p) if self.terminal is not None else None
        try:
            got, err = p.communicate(timeout=scaled(IO_TIMEOUT))
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("sockit did not exit")
        return (got if out is None else out), err, p.returncode


def stderr_until(p, pattern, timeout=IO_TIMEOUT):
    """Reads p's stderr (unbuffered, bounded) until the bytes regex
    pattern matches a line; returns the match and the lines read."""
    buf = b""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        for line in buf.split(b"\n")[:-1]:
            m = re.search(pattern, line)
            if m:
                return m, buf
        left = deadline - time.monotonic()
        assert left > 0, "no stderr line matching %r: %r" % (pattern, buf)
        r, _, _ = select.select([p.stderr], [], [], min(left, 0.2))
        if r:
            chunk = os.read(p.stderr.fileno(), 65536)
            assert chunk, "sockit closed stderr: %r" % buf
            buf += chunk


# ------------------------------------------------------------- the peers

class Sender:
    """A one-connection Python server on 127.0.0.1, port 0: it sends data
    and closes, for `sockit connect`.  With read_line, it first reads
    one line (a --send) and then sends."""

    def __init__(self, data, read_line=False):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(scaled(IO_TIMEOUT))
        self.port = self.lsock.getsockname()[1]
        self.error = None
        self.t = threading.Thread(target=self.run, args=(data, read_line), daemon=True)
        self.t.start()

    def run(self, data, read_line):
        try:
            conn, _ = self.lsock.accept()
            with conn:
                conn.settimeout(scaled(IO_TIMEOUT))
                if read_line:
                    got = b""
                    while not got.endswith(b"\n"):
                        chunk = conn.recv(4096)
                        assert chunk, "EOF before a line"
                        got += chunk
                conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(4096):  # until sockit closes too
                    pass
        except Exception as e:  # noqa: BLE001 -- reported by done()
            self.error = e

    def done(self):
        self.t.join(scaled(IO_TIMEOUT))
        self.lsock.close()
        assert self.error is None, self.error


def connect_run(output, framing, data, *extra):
    srv = Sender(data)
    p = output.spawn(["connect", "-f", framing] + list(extra)
                     + ["127.0.0.1:%d" % srv.port])
    out, err, status = output.collect(p)
    srv.done()
    assert status == 0, err
    return out


def listen_run(output, framing, data, *extra):
    p = output.spawn(["listen", "-f", framing] + list(extra) + ["127.0.0.1:0"])
    m, _ = stderr_until(p, LISTENING)
    addr = Addr(m.group(1).decode())
    with socket.create_connection(addr.sockaddr, timeout=scaled(IO_TIMEOUT)) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        while c.recv(4096):  # until the listener closes: all was printed
            pass
    out, err, status = output.collect(p)
    assert status == 0, err
    return out


RUNS = {"connect": connect_run, "listen": listen_run}


# ----------------------------------------------------------------- tests

@pytest.mark.parametrize("framing", ["line", "len"])
@pytest.mark.parametrize("cmd", ["connect", "listen"])
def test_terminal_shows_control_characters_escaped(terminal, cmd, framing):
    data = wire(framing, [sent for sent, _ in cases(framing)])
    out = RUNS[cmd](Output(terminal), framing, data)
    assert out == escaped(framing)
    assert b"\x1b" not in out and b"\x9b" not in out and b"\r" not in out


@pytest.mark.parametrize("framing", ["line", "len"])
@pytest.mark.parametrize("cmd", ["connect", "listen"])
def test_pipe_gets_the_bytes_exactly(cmd, framing):
    data = wire(framing, [sent for sent, _ in cases(framing)])
    assert RUNS[cmd](Output(), framing, data) == exact(framing)


@pytest.mark.parametrize("cmd", ["connect", "listen"])
def test_terminal_with_raw_framing_gets_the_bytes_exactly(terminal, cmd):
    data = wire("raw", [sent for sent, _ in HOSTILE])
    assert RUNS[cmd](Output(terminal), "raw", data) == data


@pytest.mark.parametrize("framing", ["line", "len"])
@pytest.mark.parametrize("cmd", ["connect", "listen"])
def test_raw_output_on_a_terminal_gets_the_bytes_exactly(terminal, cmd, framing):
    data = wire(framing, [sent for sent, _ in cases(framing)])
    out = RUNS[cmd](Output(terminal), framing, data, "--raw-output")
    assert out == exact(framing)


@pytest.mark.parametrize("raw_output", [False, True])
def test_send_replies_on_a_terminal(terminal, raw_output):
    """connect --send prints the replies itself: escaped the same way."""
    msgs = [sent for sent, _ in HOSTILE]
    srv = Sender(wire("line", msgs), read_line=True)
    output = Output(terminal)
    p = output.spawn(["connect", "-f", "line", "--send", "hi", "--expect", str(len(msgs))]
                     + (["--raw-output"] if raw_output else [])
                     + ["127.0.0.1:%d" % srv.port])
    out, err, status = output.collect(p)
    srv.done()
    assert status == 0, err
    assert out == (exact("line") if raw_output else escaped("line"))


def test_peer_text_in_stderr_is_escaped():
    """A peer that is not speaking TLS is logged with what it sent (-v):
    escaped, so the log line cannot carry control sequences."""
    p = spawn(["listen", "-v", "-s", "echo", "-f", "line", "tls://127.0.0.1:0"],
              subprocess.DEVNULL)
    try:
        m, _ = stderr_until(p, LISTENING)
        addr = Addr(m.group(1).decode())
        with socket.create_connection(addr.sockaddr, timeout=scaled(IO_TIMEOUT)) as c:
            c.sendall(b"\x1b]0;pwned\x07\x1b[2J\x9b\xff" + CHINESE + b"\n")
            while c.recv(4096):  # the server closes it
                pass
        want = b'it sent "\\x1b]0;pwned\\x07\\x1b[2J\\x9b\\xff' + CHINESE + b'\\x0a"'
        _, text = stderr_until(p, re.escape(want))
        assert b"\x1b" not in text and b"\x9b" not in text, text
    finally:
        p.terminate()
        p.wait(scaled(IO_TIMEOUT))


@pytest.mark.parametrize("cmd", ["connect", "listen"])
def test_raw_output_is_documented(cmd):
    r = run_sockit([cmd, "--help"])
    assert r.returncode == 0 and b"--raw-output" in r.stdout, r.stdout
    with open(MAN_PAGE, encoding="utf-8") as f:
        man = f.read()
    assert ".SH TERMINAL OUTPUT" in man
    assert man.count(".B \\-\\-raw\\-output\n") >= 2  # listen's and connect's
