"""sockit's side-by-side benchmark suite.  Run through bench/run, which
installs the peers first; `bench/run --help` lists the options.

Each scenario's cases run once per repetition, in reverse order on every
other repetition; each figure in the tables is the median over the
repetitions, and each ratio in the summary the median of the ratios of
pairs of runs made one after the other (see scenarios.py).  Results go to
bench/results/NAME.md, NAME.json and NAME.png (NAME: --out, default
latest), and the summary table is printed at the end.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import proc
import report
import scenarios
from proc import BenchError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def size_arg(text):
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("'%s' is not a size (e.g. 256M, 2G)" % text)
    n = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]
    if n < (1 << 20):
        raise argparse.ArgumentTypeError("'%s': at least 1M" % text)
    return n


def positive(kind):
    def check(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("'%s' is not a number" % text)
        if v <= 0:
            raise argparse.ArgumentTypeError("'%s' must be above 0" % text)
        return v
    return check


def parse_args(argv):
    names = [s[0] for s in scenarios.SCENARIOS]
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description="Runs sockit side by side with redis, nc, socat, ncat, iperf3 and "
                    "sockperf on loopback, and writes bench/results/latest.md and "
                    "ratios.png.  Full run: about 13 minutes on 2 cores; --quick: about 2.")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 repetition, 2 s runs, 256M file, 5,000 connections")
    ap.add_argument("--runs", type=positive(int),
                    help="repetitions of each scenario; figures are medians (default 5; quick 1)")
    ap.add_argument("--duration", type=positive(float),
                    help="seconds measured per run (default 5; quick 2)")
    ap.add_argument("--warmup", type=float,
                    help="unmeasured seconds before each run (default 1; quick 0.5)")
    ap.add_argument("--bulk-size", type=size_arg,
                    help="size of the file sent in the bulk scenario (default 2G; quick 256M)")
    ap.add_argument("--conns", type=positive(int),
                    help="idle connections to open (default 100000; quick 5000)")
    ap.add_argument("--chat-clients", type=positive(int), default=100,
                    help="clients in the chat room (default 100)")
    ap.add_argument("--chat-client", choices=("c", "python"), default="c",
                    help="the chat load client: bench/lib/chatload.c, built with cc at the "
                         "start (default), or chatload.py, which saturates its core sooner")
    ap.add_argument("--only", metavar="LIST",
                    help="comma-separated scenarios to run, from: " + ", ".join(names))
    ap.add_argument("--sockit", default=os.path.join(ROOT, "build", "sockit"),
                    help="the sockit binary (default build/sockit)")
    ap.add_argument("--out", default="latest", metavar="NAME",
                    help="write bench/results/NAME.md, NAME.json and NAME.png (default "
                         "latest); a NAME with a / is a path without the extension")
    ap.add_argument("--quiet-wait", type=float, default=120, metavar="S",
                    help="before each run, wait up to S seconds for the machine to be quiet "
                         "(under %d%%%% of its CPU time busy; default 120, 0: do not wait); a run "
                         "made on a busy machine says so in its note" % (QUIET * 100))
    ap.add_argument("--no-pin", action="store_true",
                    help="let the scheduler place servers and clients (default: servers on "
                         "one CPU, clients on another)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the servers' stderr logs (their directory is printed)")
    a = ap.parse_args(argv)
    q = a.quick
    defaults = {"runs": 1 if q else 5, "duration": 2.0 if q else 5.0,
                "warmup": 0.5 if q else 1.0, "bulk_size": (256 if q else 2048) << 20,
                "conns": 5000 if q else 100000}
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.warmup < 0:
        ap.error("--warmup: must not be negative")
    a.only = [s.strip() for s in a.only.split(",")] if a.only else names
    for s in a.only:
        if s not in names:
            ap.error("--only: unknown scenario '%s' (%s)" % (s, ", ".join(names)))
    if not re.fullmatch(r"[\w.-]+", os.path.basename(a.out)):
        ap.error("--out: '%s' is not a file name (letters, digits, . _ -)" % a.out)
    if "/" not in a.out:
        a.out = os.path.join(ROOT, "bench", "results", a.out)
    return a


class Config:
    """What every case sees: the options, the sockit binary and whether its
    bench command works, a scratch directory, calibration from earlier runs."""

    def __init__(self, a, tmpdir):
        self.__dict__.update(vars(a))
        # A copy, so that a rebuild during the run cannot mix two binaries
        # in one set of results.
        self.sockit = os.path.join(tmpdir, "sockit")
        shutil.copy2(os.path.abspath(a.sockit), self.sockit)
        self.bench_cmd = [self.sockit, "bench"]
        self.tmpdir = tmpdir
        with open(self.sockit, "rb") as f:
            self.sockit_sha = hashlib.sha256(f.read()).hexdigest()
        self.chat_cmd, self.chat_why = self._chat_client(a.chat_client)
        # The revision of the work tree the binary sits in (--sockit may
        # name another checkout's build), which is where it was built from
        # unless someone built it elsewhere and copied it there.
        try:
            self.git_rev = subprocess.run(
                ["git", "-C", os.path.dirname(os.path.abspath(a.sockit)), "describe",
                 "--always", "--dirty"],
                capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            self.git_rev = ""
        self.bulk_path = None
        self.calibration = {}
        self.bench_ok, self.bench_why = self._probe_bench()
        self.floor_cmd, floor_why = self._build("floor_echo", os.path.join(
            ROOT, "bench", "floor", "floor_echo.c"))
        self.tls_cert, self.tls_key, tls_why = self._make_cert()
        # What Case.needs may name besides programs: (available, why not).
        self.features = {
            "sockit-bench": (self.bench_ok, "sockit bench unavailable (%s)" % self.bench_why),
            "floor": (self.floor_cmd is not None, "floor server not built: %s" % floor_why),
        }
        self.features["sockit-tls"] = self._probe_tls(tls_why)
        self.features["sockit-bench-tls"] = self._probe_bench_option(
            ["--insecure"], "unknown option", "sockit bench has no TLS options",
            self.features["sockit-tls"])
        self.features["sockit-bench-connect"] = self._probe_bench_option(
            ["--mode", "connect"], "unknown mode", "sockit bench has no --mode connect",
            (True, ""))
        # Where a server and its client run changes a round trip from ~15 us
        # (same CPU: a direct hand-off) to ~60 us (two CPUs: a cross-CPU
        # wake-up), and the scheduler picks either at random.  Pinning makes
        # every contender pay the same.
        cpus = sorted(os.sched_getaffinity(0))
        if a.no_pin or len(cpus) < 2:
            self.server_cpus = self.client_cpus = None
        else:
            self.server_cpus, self.client_cpus = {cpus[0]}, {cpus[1]}

    def _build(self, name, source):
        """Builds a one-file C helper with cc -O2 into the scratch
        directory: (path, "") or (None, why not)."""
        exe = os.path.join(self.tmpdir, name)
        try:
            r = subprocess.run(["cc", "-O2", "-o", exe, source],
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                return exe, ""
            why = r.stderr.strip()[-200:]
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        log("cannot build %s: %s" % (os.path.relpath(source, ROOT), why))
        return None, why

    def _chat_client(self, which):
        """The chat load client's argv: the C one, built now, or the
        Python one when asked for or when cc fails."""
        py = [sys.executable, os.path.join(scenarios.HERE, "chatload.py")]
        if which == "python":
            return py, "Python client (--chat-client python)"
        exe, _ = self._build("chatload", os.path.join(scenarios.HERE, "chatload.c"))
        if exe:
            return [exe], "C client (bench/lib/chatload.c)"
        log("the chat scenario uses the Python client")
        return py, "Python client (cc failed)"

    def _make_cert(self):
        """One self-signed ECDSA P-256 certificate for every TLS server of
        the suite, sockit's and the peers' alike: (cert, key, "") or
        (None, None, why not)."""
        cert = os.path.join(self.tmpdir, "cert.pem")
        key = os.path.join(self.tmpdir, "key.pem")
        try:
            rc, out, err, _ = proc.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "2", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1"], timeout=30)
        except (BenchError, OSError) as e:
            return None, None, "openssl req: %s" % e
        if rc != 0:
            return None, None, "openssl req exited %d: %s" % (rc, err.strip()[-200:])
        return cert, key, ""

    def _probe_tls(self, cert_why):
        """Whether `sockit listen` serves tls:// with --cert and --key: it
        either listens (then it is stopped) or exits."""
        if self.tls_cert is None:
            return False, "no certificate for the TLS servers (%s)" % cert_why
        port = proc.free_port()
        try:
            p = proc.spawn([self.sockit, "listen", "-q", "-s", "discard", "--cert",
                            self.tls_cert, "--key", self.tls_key, "tls://127.0.0.1:%d" % port],
                           stderr=subprocess.PIPE)
        except OSError as e:
            return False, "sockit listen: %s" % e
        try:
            proc.wait_listening(port, p, timeout=5)
            return True, ""
        except BenchError:
            err = p.stderr.read().decode(errors="replace").strip() if p.poll() is not None else ""
            return False, "this sockit has no TLS (%s)" % (
                err.splitlines()[0] if err else "it does not listen on tls://")
        finally:
            proc.stop(p)
            p.stderr.close()

    def _probe_bench_option(self, args, marker, why, needed):
        """Whether `sockit bench` takes args: port 0 makes a usage error
        come after the options are read, so only an option it does not
        know names the marker."""
        if not needed[0]:
            return needed
        if not self.bench_ok:
            return False, "sockit bench unavailable (%s)" % self.bench_why
        try:
            rc, out, err, _ = proc.run(self.bench_cmd + args + ["127.0.0.1:0"], timeout=10)
        except (BenchError, OSError) as e:
            return False, "%s (%s)" % (why, e)
        if marker in err:
            return False, "%s (%s)" % (why, err.strip().splitlines()[0])
        return True, ""

    def _probe_bench(self):
        try:
            rc, out, err, _ = proc.run(self.bench_cmd + ["--help"], timeout=10)
        except (BenchError, OSError) as e:
            return False, str(e)
        if rc != 0:
            return False, (err.strip().splitlines() or ["exit %d" % rc])[0]
        return True, ""


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


QUIET = 0.10    # the share of all CPU time others may use while a run starts
OTHERS = 0.05   # ... and during a run, or it is made again (up to RETRIES)
RETRIES = 2
QUIET_FOR = 3   # seconds


def wait_quiet(cfg):
    """Waits (up to --quiet-wait seconds) until nothing else keeps the
    machine busy: a test suite or a build running beside the benchmark
    takes the CPUs that the pinned servers and clients need, and neither
    pairing nor CPU time per unit of work makes up for that.  Once the
    machine was seen busy, it must stay quiet for QUIET_FOR seconds in a
    row (a test suite has quiet seconds between its tests).  Returns the
    busy share seen last."""
    busy = proc.busy_share(0.3)
    if busy <= QUIET or cfg.quiet_wait <= 0:
        return busy
    log("the machine is busy (%.0f %% of its CPU time in use by other processes): waiting up "
        "to %g s for it to quiet down" % (busy * 100, cfg.quiet_wait))
    t0 = time.monotonic()
    quiet = 0
    while time.monotonic() < t0 + cfg.quiet_wait:
        busy = proc.busy_share(1.0)
        quiet = quiet + 1 if busy <= QUIET else 0
        if quiet >= QUIET_FOR:
            log("quiet again after %.0f s" % (time.monotonic() - t0))
            return busy
    log("still busy (%.0f %%) after %g s: running anyway; a run that others disturb is made "
        "again, then kept with a note" % (busy * 100, cfg.quiet_wait))
    return busy


def run_watched(cfg, case, what):
    """Runs a case once the machine is quiet, and again (up to RETRIES
    times) when other processes took more than OTHERS of the machine's CPU
    time meanwhile: the machine's task time (/proc/stat) minus the suite's
    own and its children's.  Returns the figures with _others, the share
    others took; a run kept although others were busy says so in its
    note."""
    for attempt in range(RETRIES + 1):
        wait_quiet(cfg)
        m0, o0, t0 = proc.task_cpu_seconds(), proc.own_cpu_seconds(), time.monotonic()
        fig = case.run(cfg)
        m1, o1, t1 = proc.task_cpu_seconds(), proc.own_cpu_seconds(), time.monotonic()
        others = max(0.0, ((m1 - m0) - (o1 - o0)) / ((os.cpu_count() or 1) * (t1 - t0)))
        fig["_others"] = others
        if others <= OTHERS or cfg.quiet_wait <= 0:
            return fig
        if attempt < RETRIES:
            log("%s discarded: other processes took %.0f %% of the CPU time meanwhile; "
                "again" % (what, others * 100))
    fig["note"] = "; ".join(x for x in (fig.get("note"), "other processes took %.0f %% of "
                                        "the CPU time during the run" % (others * 100)) if x)
    return fig


def run_scenario(cfg, key, title, cases):
    """Runs the cases (a case may appear twice) cfg.runs times, the order
    reversed on odd repetitions, and returns {case id: {"label", "group",
    "runs": [...], "unavailable"}}.  Each run's figures carry _rep and
    _slot (the repetition, and the case's place in the list) so that the
    summary can pair runs that ran one after the other."""
    res = {}
    for c in cases:
        res.setdefault(c.id, {"label": c.label, "group": c.group, "runs": [], "errors": [],
                              "unavailable": c.unavailable(cfg)})
    slots = list(enumerate(cases))
    for rep in range(cfg.runs):
        order = slots if rep % 2 == 0 else slots[::-1]
        for slot, c in order:
            r = res[c.id]
            if r["unavailable"] or (c.once and rep > 0):
                continue
            t0 = time.monotonic()
            try:
                fig = run_watched(cfg, c, "%s run %d/%d  %-40s" % (key, rep + 1, cfg.runs, c.id))
                fig["_rep"], fig["_slot"] = rep, slot
                r["runs"].append(fig)
                log("%s run %d/%d  %-40s %s (%.1f s)" % (key, rep + 1, cfg.runs, c.id,
                                                         report.brief(fig), time.monotonic() - t0))
            except BenchError as e:
                r["errors"].append(str(e))
                log("%s run %d/%d  %-40s FAILED: %s" % (key, rep + 1, cfg.runs, c.id, e))
            except Exception as e:   # a bug in the harness: say so and go on
                r["errors"].append("harness error: %r" % e)
                log("%s run %d/%d  %-40s HARNESS ERROR\n%s" % (key, rep + 1, cfg.runs, c.id,
                                                             traceback.format_exc()))
    said = set()
    for r in res.values():
        r["median"] = median_of(r["runs"])
        if r["unavailable"] and r["unavailable"] not in said:
            said.add(r["unavailable"])
            log("%s: %s" % (title, r["unavailable"]))
    return res


def median_of(runs):
    """The median of every numeric figure over the runs that had it; notes
    are kept when they differ from one run to the next."""
    if not runs:
        return None
    out = {}
    keys = []
    for r in runs:
        keys += [k for k in r if k not in keys]
    for k in keys:
        if k.startswith("_"):
            continue   # bookkeeping: _rep, _slot
        vals = [r[k] for r in runs if isinstance(r.get(k), (int, float)) and r.get(k) is not None]
        if vals:
            out[k] = statistics.median(vals)
            if len(vals) > 1:
                out[k + "__min"], out[k + "__max"] = min(vals), max(vals)
        else:
            # Notes: each distinct part once, however many runs said it.
            parts = []
            for r in runs:
                for part in str(r.get(k) or "").split("; "):
                    if part and part not in parts:
                        parts.append(part)
            if parts:
                out[k] = "; ".join(parts[:5]) + (" …" if len(parts) > 5 else "")
    out["n"] = len(runs)
    return out


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "model": model, "kernel": platform.release(),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


def versions(cfg):
    def first_line(argv):
        try:
            rc, out, err, _ = proc.run(argv, timeout=10)
            text = (out + err).strip().splitlines()
            return text[0].strip() if text else "?"
        except (BenchError, OSError):
            return "not installed"
    v = {"sockit": first_line([cfg.sockit, "--version"])}
    v["sockit"] += ", sha256 %s" % cfg.sockit_sha[:12]
    if cfg.git_rev:
        v["sockit"] += " (git %s in its work tree at the start)" % cfg.git_rev
    for name, argv in (("redis-server", ["redis-server", "--version"]),
                       ("iperf3", ["iperf3", "--version"]),
                       ("ncat", ["ncat", "--version"]),
                       ("sockperf", ["sockperf", "--version"])):
        v[name] = first_line(argv)
    v["openssl"] = first_line(["openssl", "version"])
    for name, argv, pattern in (("socat", ["socat", "-V"], r"socat version \S+"),
                                ("stunnel4", ["stunnel4", "-version"], r"stunnel \S+")):
        try:
            rc, out, err, _ = proc.run(argv, timeout=10)
            m = re.search(pattern, out + err)
            v[name] = m.group(0) if m else "?"
        except (BenchError, OSError):
            v[name] = "not installed"
    v["nc"] = "netcat-openbsd " + first_line(
        ["dpkg-query", "-W", "-f", "${Version}", "netcat-openbsd"])
    return v


def main(argv):
    a = parse_args(argv)
    if not os.access(a.sockit, os.X_OK):
        sys.stderr.write("bench/run: no sockit binary at %s (run make first)\n" % a.sockit)
        return 1
    tmpdir = tempfile.mkdtemp(prefix="sockit-bench-")
    cfg = Config(a, tmpdir)
    progs = versions(cfg)   # now: the copy of sockit goes with tmpdir
    report.check_pairs({key: make(cfg) for key, _, make in scenarios.SCENARIOS})

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_signal)   # also when started in the background
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    log("sockit bench suite: %d run(s) of %g s (+%g s warm-up), bulk file %d MiB, "
        "%d connections, %d chat clients; scenarios: %s"
        % (cfg.runs, cfg.duration, cfg.warmup, cfg.bulk_size >> 20, cfg.conns,
           cfg.chat_clients, ", ".join(cfg.only)))
    for name, (ok, why) in cfg.features.items():
        if not ok:
            log("%s: %s; the cases that need it are skipped" % (name, why))
    results = {}
    t_start = time.monotonic()
    status = 0
    try:
        for key, title, make in scenarios.SCENARIOS:
            if key not in cfg.only:
                continue
            log("== %s" % title)
            t0 = time.monotonic()
            cases = make(cfg)
            results[key] = {"title": title, "cases": run_scenario(cfg, key, title, cases),
                            "order": [c.id for c in cases], "seconds": time.monotonic() - t0}
            if key == "bulk" and cfg.bulk_path:
                os.unlink(cfg.bulk_path)
                cfg.bulk_path = None
    except KeyboardInterrupt:
        log("interrupted: stopping every process started; writing the scenarios that finished")
        status = 130
    finally:
        proc.stop_all()
        if cfg.bulk_path and os.path.exists(cfg.bulk_path):
            os.unlink(cfg.bulk_path)
        if a.keep_logs:
            log("server logs kept in %s" % tmpdir)
        else:
            subprocess.run(["rm", "-rf", tmpdir], timeout=60)
    info = {"machine": machine(), "versions": progs,
            "options": {k: getattr(cfg, k) for k in ("runs", "duration", "warmup",
                                                     "bulk_size", "conns", "chat_clients",
                                                     "quick", "server_cpus", "client_cpus",
                                                     "chat_why")},
            "wall_s": time.monotonic() - t_start, "interrupted": status != 0}
    if not results:
        log("no scenario finished: %s.md left as it was" % a.out)
        return status or 1
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    summary = report.summary_rows(results)
    with open(a.out + ".json", "w") as f:
        json.dump({"info": info, "results": results, "summary": summary}, f, indent=1,
                  default=str)
    png = a.out + ".png"
    err = report.chart(summary, png, info)
    if err:
        log("no chart: %s" % err)
        if os.path.exists(png):
            os.unlink(png)   # an old chart would not match the summary
    md = report.markdown(info, results, summary, os.path.basename(png) if not err else None)
    with open(a.out + ".md", "w") as f:
        f.write(md)
    print(report.summary_text(summary))
    log("wrote %s.md (%.0f s in all)" % (a.out, info["wall_s"]))
    return status


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    finally:
        proc.stop_all()
