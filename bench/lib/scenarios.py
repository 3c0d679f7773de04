"""The six scenarios: what each contender runs and how its figure is read.

A scenario is a list of Case objects.  suite.py runs every case of a
scenario once per repetition, reversing the order on every other repetition
so that machine noise falls on all contenders alike, and keeps the median.

A case's run(cfg) returns a dict of figures or raises proc.BenchError.
Servers are started on a free loopback port, awaited through /proc/net
(never by connecting), and stopped in a finally block.
"""

import contextlib
import json
import os
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
            if prog == "sockit-bench":
                if not cfg.bench_ok:
                    return "sockit bench unavailable (%s)" % cfg.bench_why
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
           may_exit=False):
    """Runs a server for the duration of a with block.  Its stderr goes to
    a log file whose end is quoted if the server dies (or, with may_exit,
    exits with a status other than 0)."""
    log = os.path.join(cfg.tmpdir, "%s-%d.log" % (name, port))
    with open(log, "wb") as errf:
        p = proc.spawn(argv, stdout=subprocess.DEVNULL, stderr=errf, nofile=nofile,
                       cpus=cfg.server_cpus)
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


def sockit_bench(cfg, addr, mode="echo", conns=50, pipeline=1, size=64,
                 framing="line", payload=None):
    """Runs `sockit bench --json` and returns its JSON object."""
    argv = cfg.bench_cmd + ["--json", "-q", "--mode", mode, "-c", str(conns),
                            "-p", str(pipeline), "-s", str(size), "-f", framing,
                            "-d", "%g" % cfg.duration, "--warmup", "%g" % cfg.warmup]
    if payload is not None:
        argv += ["--payload", payload]
    argv.append(addr)
    rc, out, err, _ = proc.run(argv, timeout=cfg.duration + cfg.warmup + 60,
                               cpus=cfg.client_cpus)
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
    return obj


def _bench_figures(obj):
    lat = obj.get("latency_us") or {}
    fig = {"rps": obj["requests_per_s"], "errors": obj.get("errors", 0),
           "lost": obj.get("lost", 0), "mismatches": obj.get("mismatches", 0)}
    for k in ("p50", "p99", "p99_9", "mean"):
        if lat.get(k) is not None:
            fig[k] = lat[k]
    if obj.get("duration_s"):
        fig["mib_s"] = obj.get("bytes_sent", 0) / obj["duration_s"] / MIB
    if fig["errors"]:
        fig["note"] = "%d errors" % fig["errors"]
    return fig


# ------------------------------------------------------- 1. echo

def _redis_server(cfg, port):
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", "", "--databases", "1"]
    return server(cfg, "redis-server", argv, port)


def echo_cases(cfg):
    cases = []
    for p in (1, 16):
        group = "pipeline %d" % p

        def sockit_echo(cfg, p=p, framing="line"):
            port = proc.free_port()
            with sockit_server(cfg, "echo", port, framing=framing):
                return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=50,
                                                   pipeline=p, size=64, framing=framing))

        def redis_sockit(cfg, p=p):
            port = proc.free_port()
            with _redis_server(cfg, port):
                return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=50,
                                                   pipeline=p, framing="line",
                                                   payload="PING"))

        def redis_bench(cfg, p=p):
            port = proc.free_port()
            # redis-benchmark has no duration option: size -n from the
            # rate it reached last time so that it runs about --duration.
            # It runs PING_INLINE, then PING_MBULK, n requests each.
            guess = cfg.calibration.get(("redis-benchmark", p), 60000 * (8 if p > 1 else 1))
            n = max(10000, int(guess * cfg.duration))
            with _redis_server(cfg, port):
                rc, out, err, _ = proc.run(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "ping",
                     "-c", "50", "-P", str(p), "-n", str(n), "--csv"],
                    timeout=10 * (cfg.duration + cfg.warmup) + 60, cpus=cfg.client_cpus)
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
            return fig

        cases += [
            Case("echo.p%d.sockit-line" % p, group, "sockit echo, line framing",
                 sockit_echo, ["sockit-bench"]),
            Case("echo.p%d.sockit-len" % p, group, "sockit echo, len framing",
                 lambda cfg, p=p: sockit_echo(cfg, p, "len"), ["sockit-bench"]),
            Case("echo.p%d.redis" % p, group, "redis-server (sockit bench --payload PING)",
                 redis_sockit, ["sockit-bench", "redis-server"]),
            Case("echo.p%d.redis-benchmark" % p, group,
                 "redis-server (redis-benchmark -t ping, PING_INLINE)",
                 redis_bench, ["redis-server", "redis-benchmark"]),
        ]
    return cases


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


def _transfer(cfg, name, receiver, sender, port, receiver_exits=True, verify=None):
    """Times one transfer of the bulk file: from the moment the sender is
    started (the receiver already listens) to the receiver's exit, or to the
    sender's exit when the receiver is a server that keeps running."""
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
        return {"mib_s": size / secs / MIB, "seconds": secs}
    finally:
        if s is not None:
            proc.stop(s)
        proc.stop(r)


def _verify_discard(r, log, size):
    """sockit's discard service with -v logs the bytes it dropped per
    connection; wait (bounded) for that line and check the count."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        m = re.search(r"discarded (\d+) bytes", _tail(log, 4000))
        if m:
            if int(m.group(1)) != size:
                raise BenchError("discard received %s of %d bytes" % (m.group(1), size))
            return
        time.sleep(0.01)
    raise BenchError("discard never logged how many bytes it received")


def bulk_cases(cfg):
    g = "file transfer"

    def sockit_discard(cfg):
        port = proc.free_port()
        return _transfer(cfg, "sockit-discard",
                         [cfg.sockit, "listen", "-v", "-s", "discard", "127.0.0.1:%d" % port],
                         [cfg.sockit, "connect", "-q", "127.0.0.1:%d" % port], port,
                         receiver_exits=False, verify=_verify_discard)

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
        with server(cfg, "iperf3", ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                    port, may_exit=True):
            rc, out, err, _ = proc.run(
                ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(max(1, round(cfg.duration))),
                 "-J"], timeout=cfg.duration + 60, cpus=cfg.client_cpus)
        try:
            bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        except (ValueError, KeyError) as e:
            raise BenchError("iperf3 exited %d, no end.sum_received (%s): %s"
                             % (rc, e, (err or out)[-300:]))
        return {"mib_s": bps / 8 / MIB}

    def sockit_stream(cfg):
        port = proc.free_port()
        with sockit_server(cfg, "discard", port):
            obj = sockit_bench(cfg, "127.0.0.1:%d" % port, mode="stream", conns=1,
                               size=128 * 1024, framing="raw")
        return {"mib_s": obj["bytes_sent"] / obj["duration_s"] / MIB,
                "errors": obj.get("errors", 0)}

    return [
        Case("bulk.sockit-discard", g, "sockit connect < file → sockit listen -s discard",
             sockit_discard),
        Case("bulk.sockit-stdio", g, "sockit connect < file → sockit listen > /dev/null",
             sockit_stdio),
        Case("bulk.nc", g, "nc -N < file → nc -l > /dev/null", nc, ["nc"]),
        Case("bulk.socat", g, "socat -u STDIN TCP: < file → socat -u TCP-LISTEN: STDOUT > /dev/null",
             socat, ["socat"]),
        Case("bulk.ncat", g, "ncat --send-only < file → ncat -l --recv-only > /dev/null",
             ncat, ["ncat"]),
        Case("bulk.iperf3", "memory to memory", "iperf3 -c (1 stream, -t duration), received",
             iperf3, ["iperf3"]),
        Case("bulk.sockit-stream", "memory to memory",
             "sockit bench --mode stream -c 1 -s 128K → sockit listen -s discard",
             sockit_stream, ["sockit-bench"]),
    ]


# ------------------------------------------------------- 3. latency

def _sockperf(cfg, mode, port, udp, extra=()):
    argv = ["sockperf", mode, "-i", "127.0.0.1", "-p", str(port), "-m", "64",
            "-t", str(max(1, round(cfg.duration)))] + (["--tcp"] if not udp else []) + list(extra)
    rc, out, err, _ = proc.run(argv, timeout=cfg.duration + 60, cpus=cfg.client_cpus)
    text = out + err
    if rc != 0:
        raise BenchError("sockperf %s exited %d: %s" % (mode, rc, text[-300:]))
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


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
        with sockit_server(cfg, "echo", port, framing="line"):
            return _bench_figures(sockit_bench(cfg, "127.0.0.1:%d" % port, conns=1,
                                               pipeline=1, size=64, framing="line"))

    def sockperf_lat(cfg):
        port = proc.free_port()
        with _sockperf_server(cfg, port, udp=False):
            text = _sockperf(cfg, "pp", port, udp=False, extra=["--full-rtt"])
        return _sockperf_pp(text)

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
    return json.loads(out)


def chat_cases(cfg):
    def sockit_argv(port):
        return [cfg.sockit, "listen", "-q", "-s", "chat", "127.0.0.1:%d" % port]

    def ncat_argv(port):
        return ["ncat", "-l", "--chat", "--max-conns", "1000", "127.0.0.1", str(port)]

    cases = []
    for stalled in (False, True):
        g = "one client never reads" if stalled else "every client reads"
        tag = ".stalled" if stalled else ""
        cases += [
            Case("chat.sockit" + tag, g, "sockit listen -s chat",
                 lambda cfg, s=stalled: _chat_run(cfg, sockit_argv, "sockit-chat", s)),
            Case("chat.ncat" + tag, g, "ncat -l --chat",
                 lambda cfg, s=stalled: _chat_run(cfg, ncat_argv, "ncat-chat", s), ["ncat"]),
        ]
    return cases


# ------------------------------------------------------- 6. UDP

def udp_cases(cfg):
    g1 = "many datagrams in flight"
    g2 = "1 datagram in flight (ping-pong)"

    def sockit_udp(cfg, conns, pipeline):
        port = proc.free_port(socket.SOCK_DGRAM)
        with sockit_server(cfg, "echo", port, udp=True):
            return _bench_figures(sockit_bench(cfg, "udp://127.0.0.1:%d" % port, mode="udp",
                                               conns=conns, pipeline=pipeline, size=64,
                                               framing="raw"))

    def sockperf_ul(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True):
            text = _sockperf(cfg, "ul", port, udp=True,
                             extra=["--mps=max", "--reply-every", "1", "--full-rtt"])
        return _sockperf_pp(text)

    def sockperf_pp(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True):
            text = _sockperf(cfg, "pp", port, udp=True, extra=["--full-rtt"])
        return _sockperf_pp(text)

    def sockperf_tp(cfg):
        port = proc.free_port(socket.SOCK_DGRAM)
        with _sockperf_server(cfg, port, udp=True):
            text = _sockperf(cfg, "tp", port, udp=True)
        m = re.search(r"Message Rate is ([\d.]+)", text)
        if not m:
            raise BenchError("cannot read sockperf tp's output: %s" % text[-300:])
        return {"rps": float(m.group(1))}

    return [
        Case("udp.sockit", g1, "sockit bench --mode udp -c 8 -p 16 → sockit listen -s echo udp://",
             lambda cfg: sockit_udp(cfg, 8, 16), ["sockit-bench"]),
        Case("udp.sockperf-ul", g1, "sockperf ul --udp --mps=max --reply-every 1 → sockperf sr",
             sockperf_ul, ["sockperf"]),
        Case("udp.sockperf-tp", g1, "sockperf tp --udp → sockperf sr (one way, no replies)",
             sockperf_tp, ["sockperf"]),
        Case("udp.pp.sockit", g2, "sockit bench --mode udp -c 1 -p 1",
             lambda cfg: sockit_udp(cfg, 1, 1), ["sockit-bench"]),
        Case("udp.pp.sockperf", g2, "sockperf pp --udp --full-rtt → sockperf sr",
             sockperf_pp, ["sockperf"]),
    ]


SCENARIOS = [
    ("echo", "1. Echo: 64-byte messages, 50 connections", echo_cases),
    ("bulk", "2. Bulk transfer", bulk_cases),
    ("latency", "3. Latency: one connection, ping-pong", latency_cases),
    ("conns", "4. Concurrent idle connections", conns_cases),
    ("chat", "5. Chat fan-out", chat_cases),
    ("udp", "6. UDP echo", udp_cases),
]
