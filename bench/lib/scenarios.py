"""The scenarios: what each contender runs and how its figure is read.

A scenario is a list of Case objects in the order they run.  suite.py runs
the list once per repetition, reversed on every other repetition, and keeps
every run.  The order is chosen so that each sockit case sits right next to
every peer the summary compares it with: a pair's two runs then come one
after the other, which one goes first alternates, and a noisy neighbour
slows both alike.  A case that has more peers than two neighbours appears
twice in the list (it then runs twice per repetition; its median is over
all those runs).  report.py checks that every pair with a target is
adjacent (report.check_pairs).

A case's run(cfg) returns a dict of figures or raises proc.BenchError.
Servers are started on a free loopback port, awaited through /proc/net
(never by connecting), and stopped in a finally block.

Beside each throughput the cases record the server's CPU time per unit of
work (proc.CpuTrace, or wait4's rusage for a receiver that exits): a
neighbour that takes the CPU away slows a run down, but barely changes how
much CPU each request costs.  Keys: cpu_us (server CPU µs per request,
reply, round trip or connection), cpu_s_gib (CPU seconds per GiB
received; client_cpu_s_gib for the sending side), cpu_s_m (CPU seconds
per million chat deliveries).
"""

import contextlib
import ipaddress
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

import proc
from proc import BenchError

MIB = 1 << 20
GIB = 1 << 30
HERE = os.path.dirname(os.path.abspath(__file__))


class Case:
    """One contender in one scenario.

    id       a stable key, used by the summary (e.g. "echo.p1.sockit-line")
    group    the table it belongs to (e.g. "pipeline 1")
    label    what the table shows in its first column
    run      run(cfg) -> {figure: value}; raises BenchError
    needs    programs that must be installed; missing ones make the case
             "peer unavailable" instead of an error
    once     run in the first repetition only (slow, or a measurement
             that does not change from run to run)
    """

    def __init__(self, id, group, label, run, needs=(), once=False):
        self.id, self.group, self.label = id, group, label
        self.run, self.needs, self.once = run, tuple(needs), once

    def unavailable(self, cfg):
        for prog in self.needs:
            if prog in cfg.features:
                ok, why = cfg.features[prog]
                if not ok:
                    return why
            elif shutil.which(prog) is None:
                return "peer unavailable (%s not installed)" % prog
        return None


# ------------------------------------------------------------ helpers

def _tail(path, n=400):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def server(cfg, name, argv, port, udp=False, nofile=None, stop_sig=signal.SIGTERM,
           may_exit=False, client_side=False):
    """Runs a server for the duration of a with block.  Its stderr goes to
    a log file whose end is quoted if the server dies (or, with may_exit,
    exits with a status other than 0).  client_side: it runs on the
    clients' CPU (a client-side relay such as stunnel's)."""
    log = os.path.join(cfg.tmpdir, "%s-%d.log" % (name, port))
    with open(log, "wb") as errf:
        p = proc.spawn(argv, stdout=subprocess.DEVNULL, stderr=errf, nofile=nofile,
                       cpus=cfg.client_cpus if client_side else cfg.server_cpus)
    try:
        try:
            proc.wait_listening(port, p, udp=udp)
        except BenchError as e:
            raise BenchError("%s: %s %s" % (name, e, _tail(log)))
        p.log = log
        yield p
        if p.poll() is not None and (p.returncode != 0 or not may_exit):
            raise BenchError("%s died during the run (status %s) %s"
                             % (name, p.returncode, _tail(log)))
    finally:
        proc.stop(p, stop_sig)


def sockit_server(cfg, service, port, framing=None, udp=False, extra=(), nofile=None):
    argv = [cfg.sockit, "listen", "-q", "-s", service]
    if framing:
        argv += ["-f", framing]
    argv += list(extra)
    argv.append("%s127.0.0.1:%d" % ("udp://" if udp else "", port))
    return server(cfg, "sockit-" + service, argv, port, udp=udp, nofile=nofile)


def _margin(secs):
    return min(0.25, secs / 8)


def bench_window(cfg, t_start):
    """Inside the window `sockit bench` measures when started at t_start:
    it starts measuring at its first 100 ms tick after --warmup and stops
    at the first tick after --duration.  A margin is left at each end."""
    m = _margin(cfg.duration)
    return t_start + cfg.warmup + m, t_start + cfg.warmup + cfg.duration - m


def tail_window(secs, t_exit):
    """Inside the last secs seconds before t_exit: sockperf and iperf3
    measure their -t seconds after a start-up of their own (sockperf's
    takes some 2 s) and exit right after."""
    m = _margin(secs)
    return t_exit - secs + m, t_exit - m


def sockit_bench(cfg, addr, mode="echo", conns=50, pipeline=1, size=64,
                 framing="line", payload=None, cpu_pids=(), extra=()):
    """Runs `sockit bench --json` and returns its JSON object.  With
    cpu_pids, obj["_util"] is those processes' CPU utilisation over the
    measured window (None when it could not be read)."""
    argv = cfg.bench_cmd + ["--json", "-q", "--mode", mode, "-c", str(conns)]
    if mode != "connect":
        argv += ["-p", str(pipeline), "-s", str(size), "-f", framing]
    argv += ["-d", "%g" % cfg.duration, "--warmup", "%g" % cfg.warmup] + list(extra)
    if payload is not None:
        argv += ["--payload", payload]
    argv.append(addr)
    trace = proc.CpuTrace(cpu_pids) if cpu_pids else None
    try:
        t_start = time.monotonic()
        rc, out, err, _ = proc.run(argv, timeout=cfg.duration + cfg.warmup + 60,
                                   cpus=cfg.client_cpus)
    finally:
        util = trace.stop().utilisation(*bench_window(cfg, t_start)) if trace else None
    obj = None
    for line in out.splitlines()[::-1]:
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                pass
    if obj is None:
        raise BenchError("sockit bench exited %d without JSON: %s" % (rc, err.strip()[-300:]))
    if rc != 0 and not obj.get("errors"):
        raise BenchError("sockit bench exited %d: %s" % (rc, err.strip()[-300:]))
    obj["_util"] = util
    return obj


def cpu_per(util, rate, scale):
    """CPU per unit of work from a utilisation and a rate (units/s):
    scale 1e6 gives µs per unit, GIB-based rates give CPU-s per GiB."""
    if util is None or not rate:
        return None
    return util / rate * scale


def _bench_figures(obj):
    lat = obj.get("latency_us") or {}
    fig = {"rps": obj["requests_per_s"], "errors": obj.get("errors", 0),
           "lost": obj.get("lost", 0), "mismatches": obj.get("mismatches", 0)}
    for k in ("p50", "p99", "p99_9", "mean"):
        if lat.get(k) is not None:
            fig[k] = lat[k]
    if obj.get("duration_s"):
        fig["mib_s"] = obj.get("bytes_sent", 0) / obj["duration_s"] / MIB
    cpu = cpu_per(obj.get("_util"), fig["rps"], 1e6)
    if cpu is not None:
        fig["cpu_us"] = cpu
    if fig["errors"]:
        fig["note"] = "%d errors" % fig["errors"]
    return fig


def _sampled_run(cfg, argv, pids, timeout, secs):
    """proc.run for a peer's own client that measures the last secs
    seconds of its run, with the servers' (pids) CPU utilisation over
    them as a fifth value."""
    trace = proc.CpuTrace(pids)
    try:
        res = proc.run(argv, timeout=timeout, cpus=cfg.client_cpus)
        t_exit = time.monotonic()
    finally:
        trace.stop()
    return res + (trace.utilisation(*tail_window(secs, t_exit)),)


# ------------------------------------------------------- 1. echo

def _redis_server(cfg, port):
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", "", "--databases", "1"]
    return server(cfg, "redis-server", argv, port)


def _floor_server(cfg, port):
    return server(cfg, "floor-echo", [cfg.floor_cmd, str(port)], port)


def sockit_echo(cfg, p, framing="line"):
    port = proc.free_port()
    with sockit_server(cfg, "echo", port, framing=framing) as srv:
        return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=50,
                                           pipeline=p, size=64, framing=framing,
                                           cpu_pids=[srv.pid]))


def echo_cases(cfg):
    by_p = {}
    for p in (1, 16):
        group = "pipeline %d" % p

        def redis_sockit(cfg, p=p):
            port = proc.free_port()
            with _redis_server(cfg, port) as srv:
                return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=50,
                                                   pipeline=p, framing="line",
                                                   payload="PING", cpu_pids=[srv.pid]))

        def floor(cfg, p=p):
            port = proc.free_port()
            with _floor_server(cfg, port) as srv:
                return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=50,
                                                   pipeline=p, size=64, framing="line",
                                                   cpu_pids=[srv.pid]))

        def redis_bench(cfg, p=p):
            port = proc.free_port()
            # redis-benchmark has no duration option: size -n from the
            # rate it reached last time so that it runs about --duration.
            # It runs PING_INLINE, then PING_MBULK, n requests each.
            guess = cfg.calibration.get(("redis-benchmark", p), 60000 * (8 if p > 1 else 1))
            n = max(10000, int(guess * cfg.duration))
            with _redis_server(cfg, port) as srv:
                # Its server's CPU is taken over the whole run (both tests,
                # 2n requests): there is no steady window to pick.
                cpu0 = proc.cpu_seconds(srv.pid)
                rc, out, err, _ = proc.run(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "ping",
                     "-c", "50", "-P", str(p), "-n", str(n), "--csv"],
                    timeout=10 * (cfg.duration + cfg.warmup) + 60, cpus=cfg.client_cpus)
                cpu1 = proc.cpu_seconds(srv.pid)
            rows = {}
            for line in out.splitlines():
                f = [x.strip('"') for x in line.split(",")]
                if len(f) >= 7 and f[0].startswith("PING"):
                    rows[f[0]] = f
            if rc != 0 or "PING_INLINE" not in rows:
                raise BenchError("redis-benchmark exited %d: %s" % (rc, (err or out)[-300:]))
            r = rows["PING_INLINE"]
            cfg.calibration[("redis-benchmark", p)] = float(r[1])
            fig = {"rps": float(r[1]), "p50": float(r[4]) * 1000, "p99": float(r[6]) * 1000,
                   "requests": n}
            if "PING_MBULK" in rows:
                fig["rps_mbulk"] = float(rows["PING_MBULK"][1])
            if cpu0 is not None and cpu1 is not None:
                fig["cpu_us"] = (cpu1 - cpu0) / (n * (2 if "PING_MBULK" in rows else 1)) * 1e6
            return fig

        by_p[p] = {
            "line": Case("echo.p%d.sockit-line" % p, group, "sockit echo, line framing",
                         lambda cfg, p=p: sockit_echo(cfg, p), ["sockit-bench"]),
            "len": Case("echo.p%d.sockit-len" % p, group, "sockit echo, len framing",
                        lambda cfg, p=p: sockit_echo(cfg, p, "len"), ["sockit-bench"]),
            "redis": Case("echo.p%d.redis" % p, group,
                          "redis-server (sockit bench --payload PING)",
                          redis_sockit, ["sockit-bench", "redis-server"]),
            "redis-benchmark": Case("echo.p%d.redis-benchmark" % p, group,
                                    "redis-server (redis-benchmark -t ping, PING_INLINE)",
                                    redis_bench, ["redis-server", "redis-benchmark"]),
        }
        if p == 1:
            by_p[p]["floor"] = Case("echo.p1.floor", group,
                                    "floor: epoll, one read + one write per request "
                                    "(bench/floor/floor_echo.c)", floor,
                                    ["sockit-bench", "floor"])
    c1, c16 = by_p[1], by_p[16]
    # Pairs: P1 line with the floor (the target) and with Redis; P16 line
    # with Redis.  redis-benchmark and len framing are references.
    return [c1["redis-benchmark"], c1["len"], c1["floor"], c1["line"], c1["redis"],
            c16["redis"], c16["line"], c16["len"], c16["redis-benchmark"]]


# ------------------------------------------------------- 2. bulk

def bulk_file(cfg):
    """The file sent by every transfer: cfg.bulk_size bytes in tmpfs, made
    once per suite run from a repeated random MiB (nothing on the path
    compresses, so its contents do not matter beyond not being all zeros)."""
    if cfg.bulk_path and os.path.exists(cfg.bulk_path):
        return cfg.bulk_path
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else cfg.tmpdir
    st = os.statvfs(shm)
    if st.f_bavail * st.f_frsize < cfg.bulk_size + 256 * MIB:
        raise BenchError("not enough room in %s for a %d MiB file" % (shm, cfg.bulk_size // MIB))
    path = os.path.join(shm, "sockit-bench-%d.bin" % os.getpid())
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        left = cfg.bulk_size
        while left > 0:
            f.write(block[:min(left, MIB)])
            left -= MIB
    cfg.bulk_path = path
    return path


def _transfer(cfg, name, receiver, sender, port, receiver_exits=True, verify=None,
              relays=()):
    """Times one transfer of the bulk file: from the moment the sender is
    started (the receiver already listens) to the receiver's exit, or to the
    sender's exit when the receiver is a server that keeps running.

    relays: (process, "server" or "client") that the caller started and
    keeps running (stunnel); their CPU over the transfer counts on their
    side.  The receiver's and sender's CPU is their whole life's (wait4),
    or, for a receiver that keeps running, what it used from the sender's
    start to its exit."""
    path = bulk_file(cfg)
    size = os.path.getsize(path)
    limit = size / (20 * MIB) + 30   # slower than 20 MiB/s is a failure
    log_r = os.path.join(cfg.tmpdir, "%s-recv-%d.log" % (name, port))
    log_s = os.path.join(cfg.tmpdir, "%s-send-%d.log" % (name, port))
    with open(log_r, "wb") as er:
        r = proc.spawn(receiver, stderr=er, cpus=cfg.server_cpus)
    s = None
    try:
        proc.wait_listening(port, r)
        kept = [r] if not receiver_exits else []
        kept_cpu0 = {p.pid: proc.cpu_seconds(p.pid) for p in kept + [x for x, _ in relays]}
        with open(path, "rb") as fin, open(log_s, "wb") as es:
            t0 = time.monotonic()
            s = proc.spawn(sender, stdin=fin, stderr=es, cpus=cfg.client_cpus)
        waited = r if receiver_exits else s
        t_end = proc.wait_exit(waited, limit)
        if t_end is None:
            raise BenchError("%s: transfer not done after %.0f s" % (name, limit))
        other = s if receiver_exits else None
        if other is not None and proc.wait_exit(other, 10) is None:
            raise BenchError("%s: sender still running 10 s after the receiver exited" % name)
        for who, p, log in (("receiver", r, log_r), ("sender", s, log_s)):
            if p.poll() is not None and p.returncode != 0:
                raise BenchError("%s: %s exited %d: %s" % (name, who, p.returncode, _tail(log)))
        if verify:
            verify(r, log_r, size)
        secs = t_end - t0
        fig = {"mib_s": size / secs / MIB, "seconds": secs}
        cpu = {"server": getattr(r, "cpu_s", None) if receiver_exits else 0.0,
               "client": getattr(s, "cpu_s", None)}
        for p, side in ([] if receiver_exits else [(r, "server")]) + list(relays):
            c0, c1 = kept_cpu0.get(p.pid), proc.cpu_seconds(p.pid)
            if cpu[side] is None or c0 is None or c1 is None:
                cpu[side] = None
            else:
                cpu[side] += c1 - c0
        if cpu["server"] is not None:
            fig["cpu_s_gib"] = cpu["server"] / (size / GIB)
        if cpu["client"] is not None:
            fig["client_cpu_s_gib"] = cpu["client"] / (size / GIB)
        return fig
    finally:
        if s is not None:
            proc.stop(s)
        proc.stop(r)


def _verify_discard(r, log, size):
    """sockit's discard service with -v logs a summary per connection
    ("N bytes sent, M received in ..."); wait (bounded) for that line and
    check the count received."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        m = re.search(r"bytes sent, ([\d,]+) received in ", _tail(log, 4000))
        if m:
            got = int(m.group(1).replace(",", ""))
            if got != size:
                raise BenchError("discard received %d of %d bytes" % (got, size))
            return
        time.sleep(0.01)
    raise BenchError("discard never logged how many bytes it received")


def sockit_discard(cfg, tls=False):
    """sockit connect < file → sockit listen -s discard, over TCP or TLS."""
    port = proc.free_port()
    scheme = "tls://" if tls else ""
    server_tls = ["--cert", cfg.tls_cert, "--key", cfg.tls_key] if tls else []
    client_tls = ["--insecure"] if tls else []
    return _transfer(cfg, "sockit-discard" + ("-tls" if tls else ""),
                     [cfg.sockit, "listen", "-v", "-s", "discard"] + server_tls +
                     ["%s127.0.0.1:%d" % (scheme, port)],
                     [cfg.sockit, "connect", "-q"] + client_tls +
                     ["%s127.0.0.1:%d" % (scheme, port)], port,
                     receiver_exits=False, verify=_verify_discard)


def bulk_cases(cfg):
    g = "file transfer"

    def sockit_stdio(cfg):
        port = proc.free_port()
        return _transfer(cfg, "sockit-stdio",
                         [cfg.sockit, "listen", "-q", "127.0.0.1:%d" % port],
                         [cfg.sockit, "connect", "-q", "127.0.0.1:%d" % port], port)

    def nc(cfg):
        port = proc.free_port()
        return _transfer(cfg, "nc", ["nc", "-l", "127.0.0.1", str(port)],
                         ["nc", "-N", "127.0.0.1", str(port)], port)

    def socat(cfg):
        port = proc.free_port()
        return _transfer(cfg, "socat",
                         ["socat", "-u", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr" % port, "STDOUT"],
                         ["socat", "-u", "STDIN", "TCP:127.0.0.1:%d" % port], port)

    def ncat(cfg):
        port = proc.free_port()
        return _transfer(cfg, "ncat",
                         ["ncat", "-l", "--recv-only", "127.0.0.1", str(port)],
                         ["ncat", "--send-only", "127.0.0.1", str(port)], port)

    def iperf3(cfg):
        port = proc.free_port()
        secs = max(1, round(cfg.duration))
        with server(cfg, "iperf3", ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                    port, may_exit=True) as srv:
            rc, out, err, _, util = _sampled_run(
                cfg, ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs), "-J"],
                [srv.pid], timeout=cfg.duration + 60, secs=secs)
        try:
            bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        except (ValueError, KeyError) as e:
            raise BenchError("iperf3 exited %d, no end.sum_received (%s): %s"
                             % (rc, e, (err or out)[-300:]))
        fig = {"mib_s": bps / 8 / MIB}
        cpu = cpu_per(util, bps / 8 / GIB, 1)
        if cpu is not None:
            fig["cpu_s_gib"] = cpu
        return fig

    return [
        Case("bulk.socat", g, "socat -u STDIN TCP: < file → socat -u TCP-LISTEN: STDOUT > /dev/null",
             socat, ["socat"]),
        Case("bulk.sockit-stdio", g, "sockit connect < file → sockit listen > /dev/null",
             sockit_stdio),
        Case("bulk.nc", g, "nc -N < file → nc -l > /dev/null", nc, ["nc"]),
        Case("bulk.sockit-discard", g, "sockit connect < file → sockit listen -s discard",
             sockit_discard),
        Case("bulk.iperf3", "memory to memory", "iperf3 -c (1 stream, -t duration), received",
             iperf3, ["iperf3"]),
        Case("bulk.sockit-stream", "memory to memory",
             "sockit bench --mode stream -c 1 -s 128K → sockit listen -s discard",
             sockit_stream, ["sockit-bench"]),
        Case("bulk.ncat", g, "ncat --send-only < file → ncat -l --recv-only > /dev/null",
             ncat, ["ncat"]),
    ]


def sockit_stream(cfg):
    port = proc.free_port()
    with sockit_server(cfg, "discard", port) as srv:
        obj = sockit_bench(cfg, "127.0.0.1:%d" % port, mode="stream", conns=1,
                           size=128 * 1024, framing="raw", cpu_pids=[srv.pid])
    rate = obj["bytes_sent"] / obj["duration_s"]
    fig = {"mib_s": rate / MIB, "errors": obj.get("errors", 0)}
    cpu = cpu_per(obj["_util"], rate / GIB, 1)
    if cpu is not None:
        fig["cpu_s_gib"] = cpu
    return fig


# ------------------------------------------------------- 3. latency

def _sockperf(cfg, mode, port, udp, extra=(), srv=None):
    """Runs a sockperf client; returns its output, and the server srv's
    CPU utilisation over the run's steady part (None without srv)."""
    secs = max(1, round(cfg.duration))
    argv = ["sockperf", mode, "-i", "127.0.0.1", "-p", str(port), "-m", "64",
            "-t", str(secs)] + (["--tcp"] if not udp else []) + list(extra)
    if srv is not None:
        rc, out, err, _, util = _sampled_run(cfg, argv, [srv.pid], cfg.duration + 60, secs)
    else:
        (rc, out, err, _), util = proc.run(argv, timeout=cfg.duration + 60,
                                           cpus=cfg.client_cpus), None
    text = out + err
    if rc != 0:
        raise BenchError("sockperf %s exited %d: %s" % (mode, rc, text[-300:]))
    return re.sub(r"\x1b\[[0-9;]*m", "", text), util


def _with_cpu(fig, util, key="rps"):
    cpu = cpu_per(util, fig.get(key), 1e6)
    if cpu is not None:
        fig["cpu_us"] = cpu
    return fig


def _sockperf_pp(text):
    fig = {}
    for pct, key in (("50.000", "p50"), ("99.000", "p99"), ("99.900", "p99_9")):
        m = re.search(r"percentile %s =\s*([\d.]+)" % re.escape(pct), text)
        if m:
            fig[key] = float(m.group(1))
    m = re.search(r"avg-(?:rtt|latency)=([\d.]+)", text)
    if m:
        fig["mean"] = float(m.group(1))
    m = re.search(r"\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=(\d+); "
                  r"ReceivedMessages=(\d+)", text)
    if m:
        fig["rps"] = int(m.group(3)) / float(m.group(1))
        fig["lost"] = int(m.group(2)) - int(m.group(3))
    m = re.search(r"# dropped messages = (\d+)", text)
    if m:
        fig["dropped"] = int(m.group(1))
    if "p50" not in fig or "rps" not in fig:
        raise BenchError("cannot read sockperf's output: %s" % text[-300:])
    return fig


def _sockperf_server(cfg, port, udp):
    argv = ["sockperf", "sr", "-i", "127.0.0.1", "-p", str(port)] + ([] if udp else ["--tcp"])
    return server(cfg, "sockperf-sr", argv, port, udp=udp, stop_sig=signal.SIGINT)


def latency_cases(cfg):
    g = "1 connection, ping-pong, 64 bytes"

    def sockit_lat(cfg):
        port = proc.free_port()
        with sockit_server(cfg, "echo", port, framing="line") as srv:
            return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=1,
                                               pipeline=1, size=64, framing="line",
                                               cpu_pids=[srv.pid]))

    def sockperf_lat(cfg):
        port = proc.free_port()
        with _sockperf_server(cfg, port, udp=False) as srv:
            text, util = _sockperf(cfg, "pp", port, udp=False, extra=["--full-rtt"], srv=srv)
        return _with_cpu(_sockperf_pp(text), util)

    return [
        Case("lat.sockit", g, "sockit bench -c 1 -p 1 → sockit listen -s echo (line)",
             sockit_lat, ["sockit-bench"]),
        Case("lat.sockperf", g, "sockperf pp --tcp --full-rtt → sockperf sr --tcp",
             sockperf_lat, ["sockperf"]),
    ]


# ------------------------------------------------------- 4. connections

def _conns_run(cfg):
    want = cfg.conns
    # Where this process may raise its hard limit, the children started
    # from it inherit the room.
    proc.raise_nofile(want + 1024)
    hard = proc.nofile_hard()
    # Each process holds at most `hard` descriptors and nothing here can
    # raise that without CAP_SYS_RESOURCE: the server is the limit.
    cap = hard - 64
    n = min(want, cap)
    port = proc.free_port()
    per_proc = max(1, cap - 64)
    spread = n > 25000
    note = []
    if n < want:
        note.append("capped at %d by RLIMIT_NOFILE hard limit %d" % (n, hard))
    with sockit_server(cfg, "discard", port, extra=["--max-conns", "0"],
                       nofile=n + 1024) as srv:
        time.sleep(0.2)
        rss0 = proc.proc_status(srv.pid, "VmRSS")
        fd0 = proc.fd_count(srv.pid)
        clients = []
        t0 = time.monotonic()
        try:
            first = 0
            while first < n:
                k = min(per_proc, n - first)
                argv = [sys.executable, os.path.join(HERE, "connflood.py"),
                        "--port", str(port), "--count", str(k), "--first", str(first)]
                if spread:
                    argv.append("--spread")
                clients.append(proc.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          nofile=k + 64, cpus=cfg.client_cpus))
                first += k
            ok = failed = 0
            errors = {}
            limit = 60 + n / 500
            for c in clients:
                line = _read_line(c, t0 + limit - time.monotonic())
                r = json.loads(line)
                ok += r["ok"]
                failed += r["failed"]
                for e, cnt in r["errors"].items():
                    errors[e] = errors.get(e, 0) + cnt
            t_connect = time.monotonic() - t0
            # The server accepts what the kernel queued at its own pace:
            # wait until its descriptor count stops moving (bounded).
            held = _settle(lambda: proc.fd_count(srv.pid) - fd0, target=ok, limit=20)
            rss1 = proc.proc_status(srv.pid, "VmRSS")
            alive = 0
            for c in clients:
                c.stdin.write(b"check\n")
                c.stdin.flush()
            for c in clients:
                alive += json.loads(_read_line(c, 30))["alive"]
        finally:
            for c in clients:
                try:
                    c.stdin.close()
                except OSError:
                    pass
            for c in clients:
                if proc.wait_exit(c, 30) is None:
                    proc.stop(c)
    if failed:
        note.append("%d connects failed (%s)" % (failed, ", ".join(
            "%s: %d" % kv for kv in sorted(errors.items()))))
    return {"requested": want, "attempted": n, "connected": ok, "alive": alive,
            "server_held": held, "rss_before_kib": rss0, "rss_after_kib": rss1,
            "kib_per_conn": (rss1 - rss0) / held if held else None,
            "connect_s": t_connect, "note": "; ".join(note)}


def _read_line(p, timeout):
    """One line from p's stdout within timeout seconds."""
    if timeout <= 0 or not select.select([p.stdout], [], [], timeout)[0]:
        raise BenchError("connection client silent for too long")
    line = p.stdout.readline()
    if not line:
        raise BenchError("connection client exited (status %s)" % p.poll())
    return line


def _settle(sample, target, limit):
    deadline = time.monotonic() + limit
    last, still = sample(), 0
    while time.monotonic() < deadline and last < target and still < 10:
        time.sleep(0.1)
        cur = sample()
        still = still + 1 if cur == last else 0
        last = cur
    return last


def conns_cases(cfg):
    return [Case("conns.sockit", "idle TCP connections",
                 "sockit listen -s discard --max-conns 0", _conns_run, once=True)]


# ------------------------------------------------------- 5. chat

def _chat_run(cfg, server_argv_fn, name, stalled, stop_sig=signal.SIGTERM):
    port = proc.free_port()
    with server(cfg, name, server_argv_fn(port), port, nofile=4096, stop_sig=stop_sig) as srv:
        argv = cfg.chat_cmd + ["--port", str(port),
                "--clients", str(cfg.chat_clients), "--duration", "%g" % cfg.duration,
                "--warmup", "%g" % cfg.warmup, "--server-pid", str(srv.pid)]
        if stalled:
            argv.append("--stalled")
        rc, out, err, _ = proc.run(argv, timeout=cfg.duration + cfg.warmup + 60, nofile=4096,
                                   cpus=cfg.client_cpus)
    if rc != 0:
        raise BenchError("chat client exited %d: %s" % (rc, err.strip()[-400:]))
    fig = json.loads(out)
    if fig.get("server_cpu") is not None and fig.get("deliveries_s"):
        fig["cpu_s_m"] = fig["server_cpu"] / fig["deliveries_s"] * 1e6
    return fig


def chat_cases(cfg):
    def sockit_argv(port):
        return [cfg.sockit, "listen", "-q", "-s", "chat", "127.0.0.1:%d" % port]

    def ncat_argv(port):
        return ["ncat", "-l", "--chat", "--max-conns", "1000", "127.0.0.1", str(port)]

    cases = {}
    for stalled in (False, True):
        g = "one client never reads" if stalled else "every client reads"
        tag = ".stalled" if stalled else ""
        cases["sockit" + tag] = Case(
            "chat.sockit" + tag, g, "sockit listen -s chat",
            lambda cfg, s=stalled: _chat_run(cfg, sockit_argv, "sockit-chat", s))
        cases["ncat" + tag] = Case(
            "chat.ncat" + tag, g, "ncat -l --chat",
            lambda cfg, s=stalled: _chat_run(cfg, ncat_argv, "ncat-chat", s), ["ncat"])
    # Pairs: sockit with ncat, and sockit with one reader stalled with
    # sockit without.
    return [cases["ncat"], cases["sockit"], cases["sockit.stalled"], cases["ncat.stalled"]]


# ------------------------------------------------------- 6. UDP

def udp_cases(cfg):
    g1 = "many datagrams in flight"
    g2 = "1 datagram in flight (ping-pong)"

    def sockit_udp(cfg, conns, pipeline):
        port = proc.free_port(socket.SOCK_DGRAM)
        with sockit_server(cfg, "echo", port, udp=True) as srv:
            return _bench_figures(sockit_bench(cfg, "udp://127.0.0.1:%d" % port, mode="udp",
                                               conns=conns, pipeline=pipeline, size=64,
                                               framing="raw", cpu_pids=[srv.pid]))

    def sockperf_ul(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True) as srv:
            text, util = _sockperf(cfg, "ul", port, udp=True, srv=srv,
                                   extra=["--mps=max", "--reply-every", "1", "--full-rtt"])
        return _with_cpu(_sockperf_pp(text), util)

    def sockperf_pp(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True) as srv:
            text, util = _sockperf(cfg, "pp", port, udp=True, extra=["--full-rtt"], srv=srv)
        return _with_cpu(_sockperf_pp(text), util)

    def sockperf_tp(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True) as srv:
            text, util = _sockperf(cfg, "tp", port, udp=True, srv=srv)
        m = re.search(r"Message Rate is ([\d.]+)", text)
        if not m:
            raise BenchError("cannot read sockperf tp's output: %s" % text[-300:])
        return _with_cpu({"rps": float(m.group(1))}, util)

    return [
        Case("udp.sockperf-tp", g1, "sockperf tp --udp → sockperf sr (one way, no replies)",
             sockperf_tp, ["sockperf"]),
        Case("udp.sockit", g1, "sockit bench --mode udp -c 8 -p 16 → sockit listen -s echo udp://",
             lambda cfg: sockit_udp(cfg, 8, 16), ["sockit-bench"]),
        Case("udp.sockperf-ul", g1, "sockperf ul --udp --mps=max --reply-every 1 → sockperf sr",
             sockperf_ul, ["sockperf"]),
        Case("udp.pp.sockit", g2, "sockit bench --mode udp -c 1 -p 1",
             lambda cfg: sockit_udp(cfg, 1, 1), ["sockit-bench"]),
        Case("udp.pp.sockperf", g2, "sockperf pp --udp --full-rtt → sockperf sr",
             sockperf_pp, ["sockperf"]),
    ]


# ------------------------------------------------------- 7. TLS

def _stunnel(cfg, name, port, connect, client):
    """An stunnel relay from 127.0.0.1:port to 127.0.0.1:connect: a TLS
    server around a plain one (client False), or a TLS client in front of
    a plain one (client True, on the clients' CPU)."""
    conf = os.path.join(cfg.tmpdir, "%s-%d.conf" % (name, port))
    lines = ["foreground = yes", "pid =", "debug = warning", "[relay]",
             "accept = 127.0.0.1:%d" % port, "connect = 127.0.0.1:%d" % connect]
    lines += ["client = yes"] if client else ["cert = " + cfg.tls_cert, "key = " + cfg.tls_key]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return server(cfg, name, [shutil.which("stunnel4") or "stunnel", conf], port,
                  client_side=client)


def tls_cases(cfg):
    g1 = "bulk: %d MiB file from tmpfs" % (cfg.bulk_size >> 20)
    g2 = "echo, 64-byte messages, 50 connections, pipeline 1"
    g3 = "new connections, 50 in flight, each closed once open"

    def stunnel(cfg):
        recv, srv_port, cli_port = proc.free_port(), proc.free_port(), proc.free_port()
        with _stunnel(cfg, "stunnel-server", srv_port, recv, client=False) as ss, \
                _stunnel(cfg, "stunnel-client", cli_port, srv_port, client=True) as sc:
            return _transfer(cfg, "stunnel", ["nc", "-l", "127.0.0.1", str(recv)],
                             ["nc", "-N", "127.0.0.1", str(cli_port)], recv,
                             relays=[(ss, "server"), (sc, "client")])

    def socat(cfg):
        port = proc.free_port()
        return _transfer(cfg, "socat-tls",
                         ["socat", "-u", "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,cert=%s,"
                          "key=%s,verify=0" % (port, cfg.tls_cert, cfg.tls_key), "STDOUT"],
                         ["socat", "-u", "STDIN", "OPENSSL:127.0.0.1:%d,verify=0" % port], port)

    def ncat(cfg):
        port = proc.free_port()
        return _transfer(cfg, "ncat-tls",
                         ["ncat", "-l", "--ssl", "--ssl-cert", cfg.tls_cert, "--ssl-key",
                          cfg.tls_key, "--recv-only", "127.0.0.1", str(port)],
                         ["ncat", "--ssl", "--send-only", "127.0.0.1", str(port)], port)

    def echo_tls(cfg):
        port = proc.free_port()
        argv = [cfg.sockit, "listen", "-q", "-s", "echo", "-f", "line", "--cert", cfg.tls_cert,
                "--key", cfg.tls_key, "tls://127.0.0.1:%d" % port]
        with server(cfg, "sockit-echo-tls", argv, port) as srv:
            return _bench_figures(sockit_bench(cfg, "tls://127.0.0.1:%d" % port, conns=50,
                                               pipeline=1, size=64, framing="line",
                                               cpu_pids=[srv.pid], extra=["--insecure"]))

    def connects(cfg, srv_argv, addr, name, extra=()):
        port = proc.free_port()
        with server(cfg, name, srv_argv(port), port) as srv:
            obj = sockit_bench(cfg, addr % port, mode="connect", conns=50,
                               cpu_pids=[srv.pid], extra=extra)
        fig = _bench_figures(obj)
        fig.pop("mib_s", None)
        return fig

    def sockit_argv(tls):
        return lambda port: [cfg.sockit, "listen", "-q", "-s", "discard"] + (
            ["--cert", cfg.tls_cert, "--key", cfg.tls_key, "tls://127.0.0.1:%d" % port]
            if tls else ["127.0.0.1:%d" % port])

    def s_server_argv(port):
        # -www: answers an HTTP GET, and never reads stdin (whose end
        # would stop s_server).  Serves one connection at a time.
        return ["openssl", "s_server", "-quiet", "-www", "-accept", "127.0.0.1:%d" % port,
                "-cert", cfg.tls_cert, "-key", cfg.tls_key]

    tls_bulk = Case("tls.bulk.sockit", g1,
                    "sockit connect --insecure tls:// < file → sockit listen -s discard tls://",
                    lambda cfg: sockit_discard(cfg, tls=True), ["sockit-tls"])
    cases = {
        "plain": Case("tls.bulk.sockit-plain", g1,
                      "sockit connect < file → sockit listen -s discard (plain TCP)",
                      sockit_discard, ["sockit-tls"]),
        "stunnel": Case("tls.bulk.stunnel", g1,
                        "nc -N < file → stunnel client → stunnel server → nc -l > /dev/null",
                        stunnel, ["sockit-tls", "stunnel4", "nc"]),
        "socat": Case("tls.bulk.socat", g1,
                      "socat -u STDIN OPENSSL: < file → socat -u OPENSSL-LISTEN: STDOUT",
                      socat, ["sockit-tls", "socat"]),
        "ncat": Case("tls.bulk.ncat", g1,
                     "ncat --ssl --send-only < file → ncat -l --ssl --recv-only",
                     ncat, ["sockit-tls", "ncat"]),
        "echo-plain": Case("tls.echo.sockit-plain", g2,
                           "sockit bench → sockit listen -s echo (plain TCP)",
                           lambda cfg: sockit_echo(cfg, 1), ["sockit-bench-tls"]),
        "echo-tls": Case("tls.echo.sockit", g2,
                         "sockit bench --insecure tls:// → sockit listen -s echo tls://",
                         echo_tls, ["sockit-bench-tls"]),
        "hs-sockit": Case("tls.connect.sockit", g3,
                          "sockit bench --mode connect --insecure tls:// → sockit listen tls://",
                          lambda cfg: connects(cfg, sockit_argv(True), "tls://127.0.0.1:%d",
                                               "sockit-discard-tls", ["--insecure"]),
                          ["sockit-bench-tls", "sockit-bench-connect"]),
        "hs-s_server": Case("tls.connect.s_server", g3,
                            "sockit bench --mode connect --insecure tls:// → openssl s_server",
                            lambda cfg: connects(cfg, s_server_argv, "tls://127.0.0.1:%d",
                                                 "s_server", ["--insecure"]),
                            ["sockit-bench-tls", "sockit-bench-connect", "openssl"]),
        "tcp-sockit": Case("tls.connect.sockit-plain", g3,
                           "sockit bench --mode connect → sockit listen (plain TCP)",
                           lambda cfg: connects(cfg, sockit_argv(False), "127.0.0.1:%d",
                                                "sockit-discard"), ["sockit-bench-connect"]),
    }
    # sockit over TLS has four peers in bulk: it runs twice per repetition
    # so that each peer has a sockit run next to it.
    return [cases["socat"], tls_bulk, cases["plain"], cases["stunnel"], tls_bulk, cases["ncat"],
            cases["echo-plain"], cases["echo-tls"],
            cases["hs-s_server"], cases["hs-sockit"], cases["tcp-sockit"]]


def _rules_file(cfg, name, n, seed):
    """n random networks, one a line, IPv4 and IPv6 with prefixes of every
    length, none of them covering 127.0.0.0/8: the check of a loopback
    client probes every prefix length the list has and matches nothing."""
    rnd = random.Random(seed)
    path = os.path.join(cfg.tmpdir, name)
    with open(path, "w") as f:
        f.write("# %d random networks, none on loopback\n" % n)
        for i in range(n):
            if i % 4 == 3:
                plen = rnd.randint(16, 128)
                addr = ipaddress.IPv6Address(rnd.getrandbits(128) | (0x2001 << 112))
                net = ipaddress.IPv6Network((addr, plen), strict=False)
            else:
                plen = rnd.randint(9, 32)
                first = rnd.choice([10, 100, 172, 192, 198, 203]) << 24
                addr = ipaddress.IPv4Address(first | rnd.getrandbits(24))
                net = ipaddress.IPv4Network((addr, plen), strict=False)
            f.write("%s\n" % net)
    return path


def door_cases(cfg):
    g = "new connections/s, 50 in flight, each closed once open"

    def accepts(cfg, extra, name):
        port = proc.free_port()
        argv = [cfg.sockit, "listen", "-q", "-s", "discard"] + extra + ["127.0.0.1:%d" % port]
        with server(cfg, name, argv, port) as srv:
            obj = sockit_bench(cfg, "127.0.0.1:%d" % port, mode="connect", conns=50,
                               cpu_pids=[srv.pid])
        fig = _bench_figures(obj)
        fig.pop("mib_s", None)
        return fig

    def deny(cfg):
        path = _rules_file(cfg, "deny-10000.txt", 10000, 9)
        return accepts(cfg, ["--deny-file", path], "sockit-deny-10000")

    def allow(cfg):
        path = _rules_file(cfg, "allow-10000.txt", 9999, 10)
        with open(path, "a") as f:
            f.write("127.0.0.1\n")
        return accepts(cfg, ["--allow-file", path], "sockit-allow-10000")

    def limits(cfg):
        return accepts(cfg, ["--max-conns-per-ip", "1000", "--rate-per-ip", "1000000/1"],
                       "sockit-per-ip")

    none = Case("door.sockit-none", g, "sockit listen -s discard, no rules",
                lambda cfg: accepts(cfg, [], "sockit-discard"), ["sockit-bench-connect"])
    return [none,
            Case("door.sockit-deny", g, "the same with --deny-file of 10,000 networks",
                 deny, ["sockit-bench-connect"]),
            none,
            Case("door.sockit-allow", g,
                 "the same with --allow-file of 10,000 networks (the last 127.0.0.1)",
                 allow, ["sockit-bench-connect"]),
            none,
            Case("door.sockit-per-ip", g,
                 "the same with --max-conns-per-ip 1000 --rate-per-ip 1000000",
                 limits, ["sockit-bench-connect"])]


SCENARIOS = [
    ("echo", "1. Echo: 64-byte messages, 50 connections", echo_cases),
    ("bulk", "2. Bulk transfer", bulk_cases),
    ("latency", "3. Latency: one connection, ping-pong", latency_cases),
    ("conns", "4. Concurrent idle connections", conns_cases),
    ("chat", "5. Chat fan-out", chat_cases),
    ("udp", "6. UDP echo", udp_cases),
    ("tls", "7. TLS", tls_cases),
    ("door", "8. The door: new connections/s under access rules", door_cases),
]
