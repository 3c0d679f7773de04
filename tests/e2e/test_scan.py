"""sockit connect -z: open, refused, timed-out and unreachable ports, port
lists and ranges, the order of the lines, exit codes, the concurrency and
descriptor bounds, TLS, and an interrupted scan.

Open ports are Python listeners on 127.0.0.1; refused ones are ports held
bound but not listening.  A timed-out port on 127.0.0.1 is a listener whose
one-slot accept queue is full, so the kernel drops further SYNs.  Other
unreachable and filtered addresses exist only inside a network namespace
of the test's own (unshare -n, root only): there 10.5.5.0/24 is routed to
lo with no address on it (SYNs vanish: timed out), and unreachable,
prohibit and blackhole routes make the connect fail at once.  No packet
leaves the machine."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import (free_tcp_port, has_ipv6_loopback, poll_until,
                     run_sockit, scaled, sockit_bin)


def listener(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def port_run(n):
    """n consecutive free ports on 127.0.0.1, held bound (a connect to them
    is refused until one listens): (sockets, first port)."""
    for _ in range(50):
        first = free_tcp_port()
        socks = [first[0]]
        try:
            for i in range(1, n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", first[1] + i))
            return socks, first[1]
        except OSError:
            for s in socks:
                s.close()
    pytest.skip("no %d consecutive free ports" % n)


def lines(r):
    return r.stdout.decode().splitlines()


def test_open_ports_listed_exit_0():
    a, b = listener(), listener()
    pa, pb = a.getsockname()[1], b.getsockname()[1]
    try:
        r = run_sockit(["connect", "-z", "127.0.0.1:%d,%d" % (pb, pa)])
    finally:
        a.close()
        b.close()
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["127.0.0.1:%d open" % p for p in sorted((pa, pb))]
    assert r.stderr == b""


def test_nothing_is_sent():
    """The scan connects and closes: the listener reads end of stream at
    once, not a byte."""
    lsock = listener()
    port = lsock.getsockname()[1]
    lsock.settimeout(scaled(10))
    try:
        r = run_sockit(["connect", "-z", str(port)])
        conn, _ = lsock.accept()
        conn.settimeout(scaled(10))
        assert conn.recv(100) == b""
        conn.close()
    finally:
        lsock.close()
    assert r.returncode == 0, r.stderr


def test_refused_port_exit_1_and_silent_without_v():
    held, port = free_tcp_port()
    try:
        r = run_sockit(["connect", "-z", "127.0.0.1:%d" % port])
        rv = run_sockit(["connect", "-zv", "127.0.0.1:%d" % port])
    finally:
        held.close()
    assert r.returncode == 1 and r.stdout == b"" and r.stderr == b"", r
    assert rv.returncode == 1, rv.stderr
    assert lines(rv) == ["127.0.0.1:%d refused" % port]


def test_range_and_list_mixing_open_and_refused_in_port_order():
    """A list with a range, named out of order and with a port twice: each
    port once, in ascending order; without -v the open ones only."""
    held, base = port_run(5)
    opened = []
    for i in (0, 3):                          # base and base+3 listen
        held[i].listen(16)
        opened.append(base + i)
    extra = listener()
    pe = extra.getsockname()[1]
    spec = "127.0.0.1:%d,%d-%d,%d" % (pe, base, base + 4, base + 3)
    try:
        rv = run_sockit(["connect", "-v", "-z", spec])
        r = run_sockit(["connect", "--scan", spec])
        rq = run_sockit(["connect", "-zq", spec])
        rall = run_sockit(["connect", "-z", "127.0.0.1:%d,%d,%d" % (base, base + 3, pe)])
    finally:
        for s in held:
            s.close()
        extra.close()
    want = {p: "refused" for p in range(base, base + 5)}
    want.update({p: "open" for p in opened + [pe]})
    assert rv.returncode == 1, rv.stderr
    assert lines(rv) == ["127.0.0.1:%d %s" % (p, want[p]) for p in sorted(want)]
    assert r.returncode == 1
    assert lines(r) == ["127.0.0.1:%d open" % p for p in sorted(opened + [pe])]
    assert rq.returncode == 1 and rq.stdout == b"" and rq.stderr == b"", rq
    assert rall.returncode == 0, rall.stderr


def test_several_addresses_in_the_order_given():
    """Addresses keep the order of the command line; each one's ports are
    in ascending order."""
    a, b = listener(), listener()
    lo, hi = sorted((a.getsockname()[1], b.getsockname()[1]))
    try:
        r = run_sockit(["connect", "-zv", "127.0.0.1:%d" % hi, "tcp://127.0.0.1:%d" % lo,
                        ":%d" % hi, str(lo)])
    finally:
        a.close()
        b.close()
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["127.0.0.1:%d open" % p for p in (hi, lo, hi, lo)]


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_a_name_with_several_addresses_is_open_on_any():
    """localhost is ::1 and 127.0.0.1: a listener on 127.0.0.1 alone is
    open, after the refusal on ::1, as `sockit connect` would find it."""
    lsock = listener()
    port = lsock.getsockname()[1]
    try:
        r = run_sockit(["connect", "-zv", "localhost:%d" % port])
    finally:
        lsock.close()
    assert r.returncode == 0, r.stderr
    assert lines(r) == ["localhost:%d open" % port]


def test_a_name_that_does_not_resolve():
    r = run_sockit(["connect", "-zv", "no-such-host.invalid:80"])
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.decode().startswith("sockit: connect no-such-host.invalid: "), r.stderr


class FullBacklog:
    """A port on 127.0.0.1 whose SYNs are dropped: a listener with a
    one-slot accept queue, taken."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.filler.settimeout(5)
        self.filler.connect(("127.0.0.1", self.port))

    def close(self):
        self.filler.close()
        self.lsock.close()


def syn_sent(port):
    """Sockets of this network namespace in SYN_SENT towards port."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[2].endswith(":%04X" % port) and fields[3] == "02":
                        n += 1
        except FileNotFoundError:
            pass
    return n


def test_timed_out_port_beside_open_and_refused():
    """Open, refused and timed out in one scan on 127.0.0.1; the timeout
    is --timeout, per port."""
    fb = FullBacklog()
    held, refused = free_tcp_port()
    lsock = listener()
    opened = lsock.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = run_sockit(["connect", "-zv", "--timeout", "0.5",
                        "127.0.0.1:%d,%d,%d" % (fb.port, refused, opened)])
        elapsed = time.monotonic() - t0
    finally:
        fb.close()
        held.close()
        lsock.close()
    want = {fb.port: "timed out", refused: "refused", opened: "open"}
    assert r.returncode == 1, r.stderr
    assert lines(r) == ["127.0.0.1:%d %s" % (p, want[p]) for p in sorted(want)]
    assert 0.45 <= elapsed < scaled(5), elapsed


def test_w_bounds_each_port_without_timeout():
    """netcat's -zw 1: -w is each port's connect bound when --timeout is
    not given (the default bound is 10 s)."""
    fb = FullBacklog()
    try:
        t0 = time.monotonic()
        r = run_sockit(["connect", "-zv", "-w", "0.5", "127.0.0.1:%d" % fb.port])
        elapsed = time.monotonic() - t0
    finally:
        fb.close()
    assert r.returncode == 1, r.stderr
    assert lines(r) == ["127.0.0.1:%d timed out" % fb.port]
    assert 0.45 <= elapsed < scaled(4), elapsed


# --------------------------------------------- -4, -6, --source, services

def test_6_restricts_a_name_to_ipv6():
    """-6 with a name: only its IPv6 addresses are tried, so a listener on
    127.0.0.1 alone is not found open through localhost."""
    lsock = listener()
    port = lsock.getsockname()[1]
    try:
        r4 = run_sockit(["connect", "-zv", "-4", "localhost:%d" % port])
        r6 = run_sockit(["connect", "-zv", "-6", "localhost:%d" % port])
    finally:
        lsock.close()
    assert r4.returncode == 0 and lines(r4) == ["localhost:%d open" % port], r4
    assert r6.returncode == 1, r6
    assert "localhost:%d open" % port not in lines(r6), r6


def test_source_address_is_bound():
    """--source: each port's connect comes from that address."""
    lsock = listener()
    port = lsock.getsockname()[1]
    lsock.settimeout(scaled(10))
    try:
        r = run_sockit(["connect", "-z", "--source", "127.0.0.2", "127.0.0.1:%d" % port])
        conn, peer = lsock.accept()
        conn.close()
    finally:
        lsock.close()
    assert r.returncode == 0, r.stderr
    assert peer[0] == "127.0.0.2", peer


def test_source_that_cannot_be_bound_is_named():
    """A source port that is taken fails every port, and the line says it
    is --source's fault."""
    lsock = listener()
    port = lsock.getsockname()[1]
    taken = listener()
    tport = taken.getsockname()[1]
    try:
        r = run_sockit(["connect", "-zv", "--source", "127.0.0.1:%d" % tport,
                        "127.0.0.1:%d" % port])
    finally:
        lsock.close()
        taken.close()
    assert r.returncode == 1, r.stderr
    assert lines(r) == ["127.0.0.1:%d failed (--source 127.0.0.1:%d: address already in use)"
                        % (port, tport)], r


def test_a_service_name_is_a_port():
    """localhost:http is port 80, as for connect without -z."""
    r = run_sockit(["connect", "-zv", "--timeout", "2", "127.0.0.1:http"])
    assert r.returncode in (0, 1), r.stderr
    assert len(lines(r)) == 1 and lines(r)[0].startswith("127.0.0.1:80 "), r


def test_interrupted_scan_exits_1_at_once():
    fb = FullBacklog()
    try:
        p = subprocess.Popen([sockit_bin(), "connect", "-zv", "--timeout", "60",
                              "127.0.0.1:%d" % fb.port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert poll_until(lambda: syn_sent(fb.port) > 0, 10), "no SYN in flight"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=scaled(10))
        elapsed = time.monotonic() - t0
    finally:
        fb.close()
    assert p.returncode == 1, err
    assert out == b""
    assert elapsed < scaled(3), elapsed


def test_a_reader_that_goes_away_ends_the_scan():
    """`sockit connect -zv ... | head -1`: once stdout is gone, the scan
    stops instead of trying the remaining ports."""
    held, port = free_tcp_port()
    try:
        t0 = time.monotonic()
        sh = "%s connect -zv --scan-concurrency 1 127.0.0.1:1-65535 | head -1" % sockit_bin()
        r = subprocess.run(["sh", "-c", sh], capture_output=True, timeout=scaled(60))
        elapsed = time.monotonic() - t0
    finally:
        held.close()
    assert r.stdout.decode().splitlines() == ["127.0.0.1:1 refused"], r
    assert b"stdout" in r.stderr, r.stderr
    assert elapsed < scaled(30), elapsed


# ------------------------------------------------------------------- TLS

def fingerprint(srv):
    for line in srv.stderr_lines:
        m = re.search(r"--pin (sha256:[0-9a-f]+)", line)
        if m:
            return m.group(1)
    raise AssertionError("no fingerprint in %r" % srv.stderr_lines)


def test_tls_port_is_open_once_the_certificate_checks_pass(start_server):
    srv = start_server("-s", "echo", "tls://127.0.0.1:0")
    where = "tls://127.0.0.1:%d" % srv.port
    pinned = run_sockit(["connect", "-zv", "--pin", fingerprint(srv), where])
    unknown = run_sockit(["connect", "-zv", where])
    assert pinned.returncode == 0, pinned.stderr
    assert lines(pinned) == [where + " open"]
    assert unknown.returncode == 1
    assert lines(unknown)[0].startswith(where + " tls failed (certificate verify failed"), unknown


def test_tls_handshake_that_never_comes_times_out():
    lsock = listener()                         # accepts, never answers
    where = "tls://127.0.0.1:%d" % lsock.getsockname()[1]
    try:
        r = run_sockit(["connect", "-zv", "--insecure", "--timeout", "0.5", where])
    finally:
        lsock.close()
    assert r.returncode == 1
    assert lines(r) == [where + " timed out (TLS handshake)"]


# ------------------------------------------------- in a namespace of our own

INSIDE = r"""
import json, os, socket, subprocess, sys, time
sockit = sys.argv[1]
def ip(*a):
    subprocess.run(["ip"] + list(a), check=True)
ip("link", "set", "lo", "up")
ip("route", "add", "10.5.5.0/24", "dev", "lo")        # SYNs vanish
ip("route", "add", "unreachable", "10.7.7.0/24")
ip("route", "add", "prohibit", "10.6.6.0/24")
ip("route", "add", "blackhole", "10.8.8.0/24")

def syn_sent():
    with open("/proc/net/tcp") as f:
        return sum(1 for line in list(f)[1:] if line.split()[3] == "02")

def run(args, watch_fds=False):
    # Runs sockit to its end; samples the SYN_SENT sockets (and its open
    # descriptors) meanwhile.
    t0 = time.monotonic()
    p = subprocess.Popen([sockit] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    most, fds = 0, 0
    while p.poll() is None:
        most = max(most, syn_sent())
        if watch_fds:
            try:
                fds = max(fds, len(os.listdir("/proc/%d/fd" % p.pid)))
            except OSError:
                pass
        time.sleep(0.005)
        if time.monotonic() - t0 > 120:
            p.kill()
    out, err = p.communicate()
    return {"rc": p.returncode, "out": out.decode(), "err": err.decode(),
            "elapsed": time.monotonic() - t0, "syn_sent": most, "fds": fds}

what = sys.argv[2]
if what == "states":
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    r = run(["connect", "-zv", "--timeout", "0.5", "10.5.5.1:80", "10.7.7.1:80",
             "10.6.6.1:80", "10.8.8.1:80", "10.9.9.1:80",
             "127.0.0.1:%d-%d" % (port, port + 1)])
    r["port"] = port
elif what == "bound":
    n, conc, t = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    r = run(["connect", "-zv", "--timeout", t, "--scan-concurrency", str(conc),
             "10.5.5.1:1-%d" % n])
elif what == "all":
    r = run(["connect", "-z", "--scan-concurrency", sys.argv[3], "127.0.0.1:1-65535"],
            watch_fds=True)
print(json.dumps(r))
"""


def _can_unshare():
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return False
    try:
        r = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


needs_netns = pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -n")


def inside(*args):
    import json
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", INSIDE, sockit_bin()]
                       + [str(a) for a in args],
                       capture_output=True, timeout=scaled(180))
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


@needs_netns
def test_filtered_and_unreachable_in_a_namespace():
    """Every state in one scan, one line each in the order named: a SYN
    that vanishes (timed out), an unreachable route (No route to host), a
    prohibit route (EACCES), a blackhole route (Linux: EINVAL), no route at
    all (Network is unreachable), then an open and a refused port."""
    r = inside("states")
    port = r["port"]
    assert r["rc"] == 1, r
    assert r["out"].splitlines() == [
        "10.5.5.1:80 timed out",
        "10.7.7.1:80 unreachable (host is unreachable)",
        "10.6.6.1:80 unreachable (permission denied)",
        "10.8.8.1:80 unreachable (invalid argument)",
        "10.9.9.1:80 unreachable (network is unreachable)",
        "127.0.0.1:%d open" % port,
        "127.0.0.1:%d refused" % (port + 1),
    ], r
    assert r["err"] == "", r
    assert r["elapsed"] < scaled(10), r


@needs_netns
def test_concurrency_is_bounded():
    """24 filtered ports, 4 at a time, 0.3 s each: never more than 4 SYNs
    in flight, and 6 rounds of the timeout at least.  The default of 64
    takes them all at once."""
    r = inside("bound", 24, 4, "0.3")
    assert r["rc"] == 1, r
    assert r["out"].splitlines() == ["10.5.5.1:%d timed out" % p for p in range(1, 25)]
    # A timed-out attempt's socket is closed from the loop's next turn, so
    # for that moment it may still read SYN_SENT beside the attempt that
    # took its place: 4 in flight, and one more on its way out at most.
    assert 1 <= r["syn_sent"] <= 4 + 1, r
    assert r["elapsed"] >= 6 * 0.3 * 0.95, r
    wide = inside("bound", 24, 64, "0.3")
    assert wide["syn_sent"] > 4, wide
    assert wide["elapsed"] < r["elapsed"], (wide, r)


@needs_netns
def test_all_ports_in_bounded_time_and_descriptors():
    """1-65535, 16 at a time: every port tried (all refused: nothing
    listens in the namespace), no more descriptors than the pool needs.
    Among 65535 connects to loopback some get their own destination port
    as the source and connect to themselves: those are no open ports
    either (the library calls them refused)."""
    r = inside("all", 16)
    assert r["rc"] == 1, r
    assert r["out"] == "" and r["err"] == "", r
    assert r["fds"] <= 16 + 16, r
    assert r["elapsed"] < scaled(60), r


def test_concurrency_is_bounded_by_the_descriptor_limit():
    """Asked for more at once than descriptors allow, the scan says so and
    takes what there is: every port gets its true state, none fails for
    want of a descriptor."""
    import resource

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    held, base = port_run(60)                  # refused, all of them
    try:
        p = subprocess.Popen([sockit_bin(), "connect", "-zv", "--scan-concurrency", "1000",
                              "127.0.0.1:%d-%d" % (base, base + 59)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=low_limit)
        out, err = p.communicate(timeout=scaled(30))
    finally:
        for s in held:
            s.close()
    assert p.returncode == 1, err
    assert err.decode().splitlines() == [
        "sockit: connect: --scan-concurrency 1000 is over what the descriptor "
        "limit allows: 32 at a time"], err
    assert out.decode().splitlines() == ["127.0.0.1:%d refused" % port
                                         for port in range(base, base + 60)]
