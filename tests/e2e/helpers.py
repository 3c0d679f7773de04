"""Helpers shared by the end-to-end tests: a running `sockit listen`, framing
codecs, and sockets whose every wait is bounded.

Nothing here sleeps to wait for something that can be observed: servers are
ready when they print their `listening on` line, replies are awaited with
socket timeouts, and process exits with bounded waits.
"""

import hashlib
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

# `make test-valgrind` sets SOCKIT_WRAPPER to a command line, e.g.
# "valgrind --log-file=DIR/vg.%p.log ...", that every sockit process is
# started under (see sockit_bin).
WRAPPER = shlex.split(os.environ.get("SOCKIT_WRAPPER", ""))

# Under a wrapper sockit runs 20-50x slower (valgrind translates every
# instruction and takes about a second to start), so every bounded wait
# below is stretched by this factor.  Waits that assert silence are not.
TIME_SCALE = 6.0 if WRAPPER else 1.0


def scaled(seconds):
    """A bound on a wait, stretched when sockit runs under a wrapper."""
    return seconds * TIME_SCALE


# Generous bounds: the suite also runs against an ASan build, several times
# slower than -O2.  A passing run never waits this long.  Each is scaled()
# where it is used, as are the timeouts that tests pass to these helpers.
READY_TIMEOUT = 10.0   # until `listening on ...`
IO_TIMEOUT = 10.0      # one socket operation
EXIT_TIMEOUT = 10.0    # a process exiting after a signal

LISTEN_RE = re.compile(r"listening on (\S+)")

def sanitized():
    """True when the binary under test runs under ASan, whose quarantine
    holds freed memory back: RSS bounds then need more room."""
    with open(sockit_path(), "rb") as f:
        return b"__asan_init" in f.read()


def under_valgrind():
    """True when every sockit process runs under valgrind (make
    test-valgrind): slow, and its RSS is valgrind's, not sockit's."""
    return bool(WRAPPER) and os.path.basename(WRAPPER[0]).startswith("valgrind")


# Marks of a sanitizer report in a server's stderr.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "AddressSanitizer:DEADLYSIGNAL")


def sockit_path():
    """The sockit binary under test: $SOCKIT, or build/sockit."""
    path = os.environ.get("SOCKIT")
    if not path:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "..", "build", "sockit")
    return os.path.abspath(path)


_wrapped = []
_wrapped_lock = threading.Lock()


def sockit_bin():
    """What to execute to run sockit.  Without SOCKIT_WRAPPER, the binary
    itself.  With it, a two-line script that execs the wrapper with the
    binary and the arguments, so that every test runs sockit under the
    wrapper, also those that start it by hand.  The exec keeps the process
    id: signals reach the wrapped sockit, and valgrind's %p names the log
    after the pid the test sees.  The script sits beside the binary (named
    after a digest of its text), so paths found from its directory still
    point into the build."""
    if not WRAPPER:
        return sockit_path()
    with _wrapped_lock:
        if not _wrapped:
            real = sockit_path()
            text = "#!/bin/sh\nexec %s \"$@\"\n" % " ".join(
                shlex.quote(w) for w in WRAPPER + [real])
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            script = os.path.join(os.path.dirname(real), ".sockit-wrapped-" + digest)
            tmp = "%s.%d" % (script, os.getpid())
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o755)
            os.replace(tmp, script)
            _wrapped.append(script)
        return _wrapped[0]


def valgrind_log_glob():
    """A glob matching the log files of the wrapper's --log-file=...%p...
    (one per process), or None when there is none."""
    for w in WRAPPER:
        if w.startswith("--log-file="):
            return w[len("--log-file="):].replace("%p", "*")
    return None


_VG_LEAK_RE = re.compile(r"(definitely|indirectly|possibly) lost: ([\d,]+) bytes")
_VG_ERRORS_RE = re.compile(r"ERROR SUMMARY: ([\d,]+) errors")
_VG_FRAME_RE = re.compile(r"^==\d+== +(at|by) 0x", re.M)
_VG_SIGNAL_RE = re.compile(r"Process terminating with default action of signal (\d+)")
# Signals whose default action means sockit crashed.
_CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
                  signal.SIGABRT, signal.SIGTRAP, signal.SIGSYS)


def valgrind_log_problem(text):
    """What a memcheck log reports against sockit, or None when it reports
    nothing: memory errors (ERROR SUMMARY above 0), definitely, indirectly
    or possibly lost bytes, or a crash.  "Still reachable" is not a leak.
    A process that was SIGKILLed (or is still running) has no summary:
    only the errors it logged before that count.  One ended by another
    signal's default action had no chance to free: its leaks do not count,
    its errors do."""
    problems = []
    summary = _VG_ERRORS_RE.search(text)
    if summary is None:
        if _VG_FRAME_RE.search(text):
            problems.append("errors logged before the process was killed")
    elif int(summary.group(1).replace(",", "")) > 0:
        problems.append("ERROR SUMMARY: %s errors" % summary.group(1))
    sig = _VG_SIGNAL_RE.search(text)
    if sig and int(sig.group(1)) in _CRASH_SIGNALS:
        problems.append("crashed with signal %s" % sig.group(1))
    if summary is not None and not sig:
        for kind, n in _VG_LEAK_RE.findall(text):
            if n.replace(",", "") != "0":
                problems.append("%s lost: %s bytes" % (kind, n))
    return "; ".join(problems) or None


# Every process started through this module, so a hung test can kill them.
LIVE_PROCS = []
_live_lock = threading.Lock()


def _track(proc):
    with _live_lock:
        LIVE_PROCS.append(proc)


def kill_all_live():
    with _live_lock:
        procs = list(LIVE_PROCS)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass


def short_tmpdir():
    """A fresh directory under /tmp with a short name, for Unix socket
    paths (sun_path holds 108 bytes; pytest's tmp_path can be longer)."""
    return tempfile.mkdtemp(prefix="sk", dir="/tmp")


# ----------------------------------------------------------------- addresses


def status_kib(pid, key):
    """A figure in KiB from /proc/PID/status: VmRSS, VmHWM, ..."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (key, pid))

class Addr:
    """An address as printed by `listening on ...`."""

    def __init__(self, text):
        self.text = text
        self.host = None
        self.port = None
        self.path = None
        # TLS rides on TCP or Unix: the socket address is the same.
        self.tls = text.startswith("tls")
        if text.startswith("tls+unix:"):
            text = text[len("tls+"):]
        if text.startswith("unix:"):
            self.transport = "unix"
            path = text[len("unix:"):]
            if path.startswith("//"):
                path = path[2:]
            self.path = path
            return
        m = re.fullmatch(r"(tcp|udp|tls)://(\[[^\]]+\]|[^:\[\]]+):(\d+)", text)
        if not m:
            raise ValueError("cannot parse address %r" % text)
        self.transport = "tcp" if m.group(1) == "tls" else m.group(1)
        host = m.group(2)
        if host.startswith("["):
            host = host[1:-1]
        self.host = host
        self.port = int(m.group(3))

    @property
    def family(self):
        if self.transport == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def sockaddr(self):
        if self.transport == "unix":
            # unix:@NAME is the abstract socket NAME: a NUL, then the name.
            if self.path.startswith("@"):
                return "\0" + self.path[1:]
            return self.path
        return (self.host, self.port)

    def __str__(self):
        return self.text


# ------------------------------------------------------------------- process

class _Drain(threading.Thread):
    """Reads a pipe to its end so the child never blocks on it."""

    def __init__(self, pipe, lines):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines = lines
        self.data = bytearray()
        self.line_list = []
        self.cond = threading.Condition()
        self.eof = False

    def run(self):
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self.cond:
                if not chunk:
                    if self.lines and self.data:
                        self.line_list.append(self.data.decode("utf-8", "replace"))
                        self.data = bytearray()
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.data += chunk
                if self.lines:
                    while True:
                        i = self.data.find(b"\n")
                        if i < 0:
                            break
                        line = bytes(self.data[:i]).decode("utf-8", "replace")
                        del self.data[:i + 1]
                        self.line_list.append(line)
                self.cond.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred() (called under the lock) is true; returns its
        value, or None after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return pred() or None
                self.cond.wait(left)


class Proc:
    """A sockit process with stderr (and optionally stdout) drained by
    threads."""

    def __init__(self, args, stdin=subprocess.DEVNULL, capture_stdout=False, env=None):
        self.args = [sockit_bin()] + list(args)
        self.proc = subprocess.Popen(
            self.args,
            stdin=stdin,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        _track(self.proc)
        self.pid = self.proc.pid
        self._err = _Drain(self.proc.stderr, lines=True)
        self._err.start()
        self._out = None
        if capture_stdout:
            self._out = _Drain(self.proc.stdout, lines=False)
            self._out.start()

    # stderr
    @property
    def stderr_lines(self):
        with self._err.cond:
            return list(self._err.line_list)

    def stderr_text(self):
        return "\n".join(self.stderr_lines)

    def wait_stderr(self, pattern, timeout=IO_TIMEOUT, start=0):
        """Waits for a stderr line (index >= start) matching the regex
        pattern; returns (index, match) or raises AssertionError."""
        rx = re.compile(pattern)
        timeout = scaled(timeout)

        def find():
            for i in range(start, len(self._err.line_list)):
                m = rx.search(self._err.line_list[i])
                if m:
                    return (i, m)
            return None

        r = self._err.wait_for(find, timeout)
        if r is None:
            raise AssertionError(
                "no stderr line matching %r within %.1f s; exit=%r; stderr:\n%s"
                % (pattern, timeout, self.proc.poll(), self.stderr_text()))
        return r

    # stdout
    def stdout_bytes(self):
        with self._out.cond:
            return bytes(self._out.data)

    def wait_stdout(self, expected, timeout=IO_TIMEOUT):
        """Waits until stdout holds at least len(expected) bytes; asserts
        that it starts with expected (so a mismatch shows at once)."""
        got = self._out.wait_for(
            lambda: len(self._out.data) >= len(expected)
            or not bytes(expected).startswith(bytes(self._out.data)), scaled(timeout))
        data = self.stdout_bytes()
        assert data[:len(expected)] == expected, (
            "stdout %r, expected it to start with %r (waited: %r)" % (data, expected, got))
        return data

    # life
    def wait_exit(self, timeout=EXIT_TIMEOUT):
        timeout = scaled(timeout)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("sockit (%s) did not exit within %.1f s; stderr:\n%s"
                                 % (" ".join(self.args[1:]), timeout, self.stderr_text()))

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(scaled(EXIT_TIMEOUT))
        except subprocess.TimeoutExpired:
            pass

    def finish_drains(self):
        self._err.join(scaled(EXIT_TIMEOUT))
        if self._out is not None:
            self._out.join(scaled(EXIT_TIMEOUT))

    def sanitizer_report(self):
        text = self.stderr_text()
        if any(m in text for m in SANITIZER_MARKS):
            return text
        return None


class Server(Proc):
    """`sockit listen ARGS` that has printed its `listening on` line."""

    def __init__(self, args, stdin=subprocess.DEVNULL, capture_stdout=False):
        super().__init__(["listen"] + list(args), stdin=stdin,
                         capture_stdout=capture_stdout)
        self.expect_clean_exit = True
        try:
            _, m = self.wait_stderr(LISTEN_RE.pattern, timeout=READY_TIMEOUT)
        except AssertionError:
            self.kill()
            raise
        self.addr = Addr(m.group(1))
        self.port = self.addr.port
        self.path = self.addr.path

    def rss_kib(self):
        return status_kib(self.pid, "VmRSS")

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and returns the exit status (bounded wait)."""
        self.signal(sig)
        return self.wait_exit()

    def crash(self):
        """SIGKILL on purpose: teardown then expects nothing."""
        self.expect_clean_exit = False
        self.kill()


def tracked(connect):
    """The body of a fixture that opens connections with connect(...) and
    closes every one of them at teardown: `yield from tracked(fn)`."""
    opened = []

    def open_one(*args, **kw):
        c = connect(*args, **kw)
        opened.append(c)
        return c

    yield open_one
    for c in opened:
        try:
            c.close()
        except OSError:
            pass


def stop_servers(servers):
    """The teardown of every fixture that starts servers: each one still
    running gets SIGTERM and must exit 0 (bounded), and none may have
    printed a sanitizer report; one that a test ended on purpose
    (expect_clean_exit False) is killed.  Asserts, listing every problem."""
    problems = []
    for srv in reversed(servers):
        if not getattr(srv, "expect_clean_exit", True):
            srv.kill()
            continue
        if srv.proc.poll() is None:
            srv.signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(scaled(EXIT_TIMEOUT))
        except subprocess.TimeoutExpired:
            srv.kill()
            problems.append("server %s ignored SIGTERM for %.0f s"
                            % (srv.addr, scaled(EXIT_TIMEOUT)))
            continue
        finally:
            if srv.proc.stdin:
                srv.proc.stdin.close()
        srv.finish_drains()
        if rc != 0:
            problems.append("server %s exited %r (SIGTERM must give 0); stderr:\n%s"
                            % (srv.addr, rc, srv.stderr_text()))
        report = srv.sanitizer_report()
        if report:
            problems.append("sanitizer report from server %s:\n%s" % (srv.addr, report))
    assert not problems, "\n".join(problems)


def run_sockit(args, input=None, timeout=20.0):
    """Runs sockit to completion; returns CompletedProcess (bytes)."""
    timeout = scaled(timeout)
    p = subprocess.Popen([sockit_bin()] + list(args),
                         stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _track(p)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("sockit %s did not finish within %.1f s; stdout=%r stderr=%r"
                             % (" ".join(args), timeout, out, err))
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


# ------------------------------------------------------------------- framing

class Framing:
    """The framing codec of a spec: raw, line, len, len:N[be|le]."""

    def __init__(self, spec):
        self.spec = spec
        if spec in ("raw", "line"):
            self.mode = spec
            return
        m = re.fullmatch(r"len(?::([1248])(be|le)?)?", spec)
        if not m:
            raise ValueError(spec)
        self.mode = "len"
        self.width = int(m.group(1) or 4)
        self.little = m.group(2) == "le"

    def header(self, n):
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[self.width]
        return struct.pack(("<" if self.little else ">") + fmt, n)

    def parse_header(self, b):
        fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[self.width]
        return struct.unpack(("<" if self.little else ">") + fmt, b)[0]

    def encode(self, msg):
        if self.mode == "raw":
            return msg
        if self.mode == "line":
            assert b"\n" not in msg
            return msg + b"\n"
        return self.header(len(msg)) + msg

    @property
    def max_payload(self):
        if self.mode == "len" and self.width < 4:
            return (1 << (8 * self.width)) - 1
        return 1 << 20


def len_frame(data, width=4, little=False):
    fmt = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    return struct.pack(("<" if little else ">") + fmt, len(data)) + data


# ------------------------------------------------------------------- sockets

class Conn:
    """A client socket with a receive buffer; every call is bounded by the
    socket's timeout."""

    def __init__(self, sock, framing="raw"):
        self.sock = sock
        self.buf = bytearray()
        self.framing = framing if isinstance(framing, Framing) else Framing(framing)

    @classmethod
    def connect(cls, addr, framing="raw", timeout=IO_TIMEOUT, rcvbuf=None):
        addr = addr if isinstance(addr, Addr) else Addr(addr)
        s = socket.socket(addr.family, socket.SOCK_STREAM)
        s.settimeout(scaled(timeout))
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            s.connect(addr.sockaddr)
        except BaseException:
            s.close()
            raise
        if addr.transport == "tcp":
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s, framing)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def sendall(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("peer closed; buffered %r" % bytes(self.buf[:200]))
        self.buf += chunk

    def recv_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def recv_line(self):
        """One line without its '\\n'."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line
            self._fill()

    def recv_msg(self):
        f = self.framing
        if f.mode == "line":
            return self.recv_line()
        if f.mode == "len":
            n = f.parse_header(self.recv_exact(f.width))
            return self.recv_exact(n)
        raise ValueError("recv_msg needs line or len framing")

    def send_msg(self, msg):
        self.sock.sendall(self.framing.encode(msg))

    def recv_text(self):
        return self.recv_msg().decode()

    def send_text(self, text):
        self.send_msg(text.encode())

    def recv_until_eof(self, limit=1 << 26):
        """Everything until the peer closes (a reset counts as a close)."""
        data = bytes(self.buf)
        self.buf.clear()
        while len(data) < limit:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def expect_closed(self, timeout=IO_TIMEOUT):
        """Asserts the server closes this connection within timeout
        (reading and discarding what comes first); returns those bytes."""
        timeout = scaled(timeout)
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return self.recv_until_eof()
        except socket.timeout:
            raise AssertionError("server did not close the connection within %.1f s" % timeout)
        finally:
            self.sock.settimeout(old)

    def expect_silence(self, seconds):
        """Asserts nothing arrives for `seconds` (used only where silence is
        the behaviour under test)."""
        if self.buf:
            raise AssertionError("unexpected data %r" % bytes(self.buf))
        expect_silence(self.sock, seconds)


def expect_silence(sock, seconds):
    """Asserts that nothing arrives on sock for `seconds`."""
    old = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return
    finally:
        sock.settimeout(old)
    raise AssertionError("expected silence, got %r" % data)


class Dgram:
    """A UDP client socket."""

    def __init__(self, addr, timeout=IO_TIMEOUT):
        self.addr = addr if isinstance(addr, Addr) else Addr(addr)
        self.sock = socket.socket(self.addr.family, socket.SOCK_DGRAM)
        self.sock.settimeout(scaled(timeout))
        self.sock.bind(("::1", 0) if self.addr.family == socket.AF_INET6 else ("127.0.0.1", 0))
        self.lines = []

    @property
    def local(self):
        return self.sock.getsockname()

    def send(self, data):
        self.sock.sendto(data, self.addr.sockaddr)

    def recv(self):
        while True:
            data, frm = self.sock.recvfrom(65536)
            if frm[1] == self.addr.port:
                return data

    def recv_line(self):
        """Line-framed chat over UDP: a datagram may carry one or more
        '\\n'-terminated messages; returns the next message."""
        while not self.lines:
            d = self.recv()
            parts = d.split(b"\n")
            if d.endswith(b"\n"):
                parts.pop()
            self.lines.extend(parts)
        return self.lines.pop(0).decode()

    def expect_silence(self, seconds):
        expect_silence(self.sock, seconds)

    def close(self):
        self.sock.close()


def free_tcp_port():
    """A port nothing listens on, held bound (not listening) by the
    returned socket so no one else takes it: a connect to it is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def poll_until(pred, timeout, interval=0.02):
    """Polls pred() until true or timeout; returns its last value.  For
    state that has no event to wait on (a process's exit, a file)."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def run_parallel(fns, timeout):
    """Runs the callables in threads; re-raises the first failure; all bounded."""
    timeout = scaled(timeout)
    errors = []
    results = [None] * len(fns)

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: B902 -- reported below
            errors.append((i, e))

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True)
               for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = sum(t.is_alive() for t in threads)
    if errors:
        i, e = errors[0]
        raise AssertionError("worker %d failed (%d failures): %r" % (i, len(errors), e)) from e
    assert alive == 0, "%d workers still running after %.0f s" % (alive, timeout)
    return results


# ------------------------------------------------------- kernel queues

def tcp_queues(local_port, remote_port):
    """(send queue, receive queue) in bytes of the loopback TCP socket from
    local_port to remote_port, from /proc/net/tcp; None if there is none.
    The send queue holds what the peer has not acknowledged, the receive
    queue what the owner has not read."""
    want_local, want_remote = ":%04X" % local_port, ":%04X" % remote_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].endswith(want_local) and fields[2].endswith(want_remote):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def server_rx_queue(server_port, client_port):
    """Bytes the server has not read yet on its side of the TCP connection
    from client_port, or None if there is no such socket."""
    q = tcp_queues(server_port, client_port)
    return q[1] if q else None
