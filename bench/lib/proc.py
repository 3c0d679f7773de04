"""Processes for the benchmark suite: start them, wait for them (always
bounded), and make sure none outlives the suite.

Every process is started in its own session, so stopping it also stops
whatever it forked (ncat, iperf3 and sockperf may fork or thread).  Each one
is recorded in LIVE until it has been reaped; stop_all() ends what is left,
and suite.py calls it from a finally block and from its signal handlers.
"""

import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time

LIVE = []          # every Popen started here and not yet reaped
STOP_TIMEOUT = 3.0  # SIGTERM, then SIGKILL after this many seconds


class BenchError(Exception):
    """A run that could not produce a figure; the message says why."""


def child_setup(nofile=None, cpus=None):
    """A preexec_fn that raises the child's RLIMIT_NOFILE soft limit to
    nofile (at most the hard limit, which only CAP_SYS_RESOURCE may raise)
    and pins it to the CPUs in cpus."""
    if not nofile and not cpus:
        return None

    def setup():
        if nofile:
            raise_nofile(nofile)
        if cpus:
            os.sched_setaffinity(0, cpus)
    return setup


def raise_nofile(n):
    """Raises this process's RLIMIT_NOFILE to n: the hard limit too where
    that is allowed (CAP_SYS_RESOURCE), else the soft limit up to the hard
    one.  Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and n > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        except (ValueError, OSError):
            pass
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        return want
    return soft


def nofile_hard():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 30 if hard == resource.RLIM_INFINITY else hard


def spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
          stderr=subprocess.DEVNULL, nofile=None, cpus=None):
    """Starts argv in a new session, with at least nofile descriptors
    allowed and pinned to cpus when given, and records it in LIVE."""
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                         start_new_session=True,
                         preexec_fn=child_setup(nofile, cpus))
    LIVE.append(p)
    return p


def _reaped(p):
    if p in LIVE:
        LIVE.remove(p)


def wait_exit(p, timeout):
    """Waits up to timeout seconds for p to exit and returns the moment it
    did (time.monotonic()), or None if it is still running.

    A pidfd wakes us the instant the process exits; Popen.wait(timeout)
    polls with sleeps of up to 50 ms, too coarse for a 1-second transfer.
    """
    if _reap(p, block=False):
        return time.monotonic()
    try:
        fd = os.pidfd_open(p.pid)
    except (AttributeError, OSError):
        fd = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if fd is not None:
                ready, _, _ = select.select([fd], [], [], left)
                if ready:
                    t = time.monotonic()
                    _reap(p, block=True)
                    return t
            else:
                try:
                    p.wait(timeout=min(left, 0.005))
                    _reaped(p)
                    return time.monotonic()
                except subprocess.TimeoutExpired:
                    pass
    finally:
        if fd is not None:
            os.close(fd)


def _reap(p, block):
    """Reaps p if it has exited (waiting for that when block) with wait4,
    which also gives the CPU time it used over its whole life: p.cpu_s
    (user + system seconds).  True when p is reaped."""
    if p.returncode is None:
        try:
            pid, status, ru = os.wait4(p.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:   # reaped elsewhere: no rusage
            pid = 0
            p.poll()
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            p.cpu_s = ru.ru_utime + ru.ru_stime
    if p.returncode is None:
        return False
    _reaped(p)
    return True


def stop(p, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Stops p and everything in its session: sig, then SIGKILL after
    timeout seconds.  Returns p's exit status."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        if wait_exit(p, timeout) is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
    else:
        # The leader is gone; children it left in its session are not.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _reaped(p)
    return p.returncode


def stop_all():
    for p in list(LIVE):
        stop(p, timeout=1.0)


def run(argv, timeout, stdin=subprocess.DEVNULL, nofile=None, cpus=None):
    """Runs argv to completion within timeout seconds.  Returns
    (returncode, stdout, stderr, elapsed seconds) with text output;
    raises BenchError if it has to be killed."""
    t0 = time.monotonic()
    p = spawn(argv, stdin=stdin, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, nofile=nofile, cpus=cpus)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p, signal.SIGKILL)
        raise BenchError("%s: no result within %g s" % (os.path.basename(argv[0]), timeout))
    _reaped(p)
    return (p.returncode, out.decode(errors="replace"),
            err.decode(errors="replace"), time.monotonic() - t0)


# --------------------------------------------------------------- ports

def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 that nothing was bound to a moment ago.  The
    kernel may hand it out again before the server binds it; the window is
    small, and a server that fails to bind is reported as such."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bound(port, tables, state):
    for path in tables:
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                        return True
        except OSError:
            pass
    return False


def wait_listening(port, proc, timeout=10.0, udp=False):
    """Waits until a socket is listening on port (TCP) or bound to it (UDP),
    as the kernel's tables in /proc/net show it, without connecting: nc,
    socat and ncat serve one client, and a probe would be that client.
    Raises BenchError if proc exits or the time runs out."""
    tables = ("/proc/net/udp", "/proc/net/udp6") if udp else ("/proc/net/tcp", "/proc/net/tcp6")
    state = "07" if udp else "0A"
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline:
        if _bound(port, tables, state):
            return
        if proc is not None and proc.poll() is not None:
            raise BenchError("server exited (status %s) before it listened on port %d"
                             % (proc.returncode, port))
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    raise BenchError("nothing listening on port %d after %g s" % (port, timeout))


# ------------------------------------------------------------- /proc

def proc_status(pid, field):
    """A numeric field of /proc/PID/status in kB (VmRSS, VmHWM), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def cpu_seconds(pid):
    """User + system CPU seconds a live process has used so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_sum(pids):
    """cpu_seconds summed over pids, or None when one of them is gone."""
    total = 0.0
    for pid in pids:
        c = cpu_seconds(pid)
        if c is None:
            return None
        total += c
    return total


class CpuTrace:
    """The CPU time that some live processes (a server, its relays) use,
    read from /proc/PID/stat (utime + stime of all threads, in clock ticks
    of 10 ms) every interval seconds by a thread of its own, so that the
    caller may block on a client meanwhile.

    utilisation(t_from, t_to) then gives the CPU seconds per second over
    a window chosen afterwards, inside the client's measured window, where
    the load is steady: the server's CPU per unit of work is that divided
    by the client's measured rate.  Some clients (sockperf, iperf3) measure
    only the last seconds before they exit, which only hindsight knows."""

    def __init__(self, pids, interval=0.05):
        self.pids, self.interval = list(pids), interval
        self.samples = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            c = cpu_sum(self.pids)
            if c is None:
                return   # a process is gone: the samples so far stand
            self.samples.append((time.monotonic(), c))
            if self._stop.wait(self.interval):
                return

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self

    def utilisation(self, t_from, t_to):
        """CPU seconds per wall second between the first sample at or after
        t_from and the last at or before t_to (time.monotonic() values), or
        None when those samples span less than half the window."""
        inside = [s for s in self.samples if t_from <= s[0] <= t_to]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < (t_to - t_from) / 2:
            return None
        (ta, ca), (tb, cb) = inside[0], inside[-1]
        return (cb - ca) / (tb - ta)


def _cpu_times():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:9]]
    return vals[3] + vals[4], sum(vals)   # idle + iowait, all (guest is in user)


def busy_share(secs=0.5):
    """The share of all the machine's CPU time that was not idle over the
    next secs seconds (/proc/stat): 0.5 on 2 cores is one core busy."""
    idle0, all0 = _cpu_times()
    time.sleep(secs)
    idle1, all1 = _cpu_times()
    return 1.0 - (idle1 - idle0) / max(1, all1 - all0)


def task_cpu_seconds():
    """CPU seconds that tasks have used on the whole machine: user, nice
    and system time from /proc/stat (not idle, I/O wait, interrupts, nor
    steal), in seconds summed over the CPUs."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:4]]
    return sum(vals) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """This process's CPU seconds and its reaped children's (every
    process the suite starts is reaped before its case ends)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
