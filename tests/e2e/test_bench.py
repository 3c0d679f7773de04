"""`sockit bench` against `sockit listen`: the report's fields, zero
errors, and errors counted when replies are wrong; new connections per
second (--mode connect); the same over TLS."""
import json
import os
import signal

import pytest

import helpers
from helpers import run_sockit, under_valgrind


def bench_json(*args, timeout=60):
    r = run_sockit(["bench", "--json", "-q"] + list(args), timeout=timeout)
    out = r.stdout.decode()
    assert out.count("\n") == 1, (out, r.stderr)
    return r, json.loads(out)


@pytest.mark.parametrize("framing", ["line", "len", "len:2le"])
def test_echo_report(start_server, framing):
    srv = start_server("-s", "echo", "-f", framing, "tcp://127.0.0.1:0")
    r, j = bench_json("-c", "4", "-p", "4", "-s", "100", "-f", framing,
                      "-d", "0.5", "--warmup", "0.2", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["mode"] == "echo" and j["conns"] == 4 and j["pipeline"] == 4
    assert j["size"] == 100 and j["errors"] == 0 and j["mismatches"] == 0
    assert j["requests"] > 100
    assert 0.4 < j["duration_s"] < 1.5
    # duration_s is printed to the microsecond: over a run of a few ms
    # that rounding alone moves requests/duration by up to 1e-4 of it.
    rate = j["requests"] / j["duration_s"]
    assert abs(j["requests_per_s"] - rate) <= rate * 1e-4 + 1
    lat = j["latency_us"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]
    overhead = {"line": 1, "len": 4, "len:2le": 2}[framing]
    assert j["bytes_received"] == j["requests"] * (100 + overhead)


def test_requests_count_exact(start_server):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    r, j = bench_json("-c", "3", "-p", "2", "-n", "1000", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 1000 and j["errors"] == 0


def test_wrong_replies_are_errors(start_server):
    """upper changes every reply: each one is a mismatch and the exit
    status says so."""
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    r, j = bench_json("-c", "2", "-n", "200", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 1
    assert j["mismatches"] == 200 and j["errors"] == 200


def test_a_run_where_nothing_moves_ends_with_a_reason(start_server):
    """-n 10 in len framing against a line-framed echo server: no reply
    ever comes.  The run ends after --timeout with nothing moving, says
    why, and exits 1, instead of waiting for ever."""
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["bench", "-q", "-c", "2", "-n", "10", "-f", "len", "--timeout", "1",
                    "127.0.0.1:%d" % srv.port], timeout=30)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "nothing moved for 1 s (--timeout)" in err and "-f len:4be" in err, err


def test_payload_counts_replies(start_server):
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    r, j = bench_json("-c", "2", "-n", "300", "--payload", "ping", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 300 and j["size"] == 4


def test_stream_mode(start_server):
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    r, j = bench_json("--mode", "stream", "-c", "2", "-s", "64K", "-f", "raw",
                      "-d", "0.5", "--warmup", "0", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["latency_us"] is None
    assert j["bytes_sent"] >= j["requests"] * 65536 > 0
    assert j["mb_per_s"] > 1


def test_udp_mode(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    r, j = bench_json("--mode", "udp", "-c", "2", "-p", "4", "-n", "2000",
                      "udp://127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 2000 and j["lost"] == 0 and j["errors"] == 0
    assert j["latency_us"]["p50"] > 0


def test_connection_refused_is_an_error():
    from helpers import free_tcp_port
    holder, port = free_tcp_port()
    r, j = bench_json("-c", "2", "-d", "0.3", "127.0.0.1:%d" % port)
    holder.close()
    assert r.returncode == 1
    assert j["errors"] == 2 and j["requests"] == 0
    assert "connection refused" in j["first_error"]


def test_human_table(start_server):
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["bench", "-c", "2", "-n", "100", "127.0.0.1:%d" % srv.port], timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("sockit bench: echo tcp://127.0.0.1:")
    for word in ("requests", "throughput", "errors", "latency", "p99.9"):
        assert word in out, out


@pytest.mark.parametrize("args,msg", [
    (["--mode", "udp", "127.0.0.1:1"], "--mode udp needs a udp:// address"),
    (["-f", "raw", "127.0.0.1:1"], "needs message framing"),
    (["-d", "1", "-n", "5", "127.0.0.1:1"], "exclude each other"),
    (["--mode", "nope", "127.0.0.1:1"], "unknown mode 'nope'"),
    (["-c", "0", "127.0.0.1:1"], "--conns: 0 is out of range"),
])
def test_usage_errors(args, msg):
    r = run_sockit(["bench"] + args, timeout=10)
    assert r.returncode == 2
    assert msg.encode() in r.stderr, r.stderr


def test_chat_mode(start_server):
    """Every line reaches the other clients; deliveries are counted with
    their latency, and a stalled client is dropped by the server without
    errors on the readers' side."""
    srv = start_server("-s", "chat", "--max-queue", "64K", "tcp://127.0.0.1:0")
    # Under valgrind the room moves some 5x fewer lines a second: the
    # stalled client's kernel buffers then take several seconds to fill.
    secs = "8" if under_valgrind() else "1"
    r, j = bench_json("--mode", "chat", "-c", "5", "--stall", "1", "-s", "100",
                      "-d", secs, "--warmup", "0.2", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["mode"] == "chat" and j["errors"] == 0
    assert j["requests"] > 1000
    assert j["latency_us"]["p50"] > 0
    srv.wait_stderr(r"dropping .*: too slow", timeout=10)


def test_chat_mode_needs_time_stamp_room():
    r = run_sockit(["bench", "--mode", "chat", "-s", "8", "127.0.0.1:1"], timeout=10)
    assert r.returncode == 2
    assert b"--mode chat needs --size 16 or more" in r.stderr, r.stderr


# ------------------------------------------------------------ --mode connect

def test_connect_mode_exact_count(start_server):
    """-n N makes exactly N connections, each opened and closed; the
    latency is the connect's."""
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    r, j = bench_json("--mode", "connect", "-c", "4", "-n", "500", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["mode"] == "connect" and j["conns"] == 4
    assert j["requests"] == 500 and j["errors"] == 0
    assert j["bytes_sent"] == 0 and j["bytes_received"] == 0
    lat = j["latency_us"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    rate = j["requests"] / j["duration_s"]  # duration_s rounded to 1 µs
    assert abs(j["requests_per_s"] - rate) <= rate * 1e-4 + 1


def test_connect_mode_fewer_than_in_flight(start_server):
    """-n below -c: the slots past the count never connect."""
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    r, j = bench_json("--mode", "connect", "-c", "10", "-n", "3", "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 3 and j["errors"] == 0


def test_connect_mode_for_a_duration(start_server):
    """Counted over the measured window.  The window is longer than a SYN
    retransmission (1 s): at some 20,000 connections a second, loopback
    runs out of fresh ports within seconds and reuses TIME_WAIT ones, and
    an unlucky reuse waits for one."""
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    r, j = bench_json("--mode", "connect", "-c", "8", "-d", "1.5", "--warmup", "0.2",
                      "127.0.0.1:%d" % srv.port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] > 50 and j["errors"] == 0
    assert 1.4 < j["duration_s"] < 2.5


def test_connect_mode_unix(start_server, sockdir):
    srv = start_server("-s", "discard", "unix:" + os.path.join(sockdir, "c.sock"))
    r, j = bench_json("--mode", "connect", "-c", "2", "-n", "200", srv.addr.text)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 200 and j["errors"] == 0


def test_connect_mode_refused_counts_every_attempt():
    holder, port = helpers.free_tcp_port()
    holder.close()
    r, j = bench_json("--mode", "connect", "-c", "3", "-n", "50", "127.0.0.1:%d" % port)
    assert r.returncode == 1
    assert j["requests"] == 0 and j["errors"] == 50
    assert "connection refused" in j["first_error"]


def test_connect_mode_table(start_server):
    srv = start_server("-s", "discard", "tcp://127.0.0.1:0")
    r = run_sockit(["bench", "--mode", "connect", "-c", "2", "-n", "20",
                    "127.0.0.1:%d" % srv.port], timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("sockit bench: connect tcp://127.0.0.1:%d, 2 in flight" % srv.port)
    assert "connects" in out and "latency" in out and "throughput" not in out, out


@pytest.mark.parametrize("args,msg", [
    (["--mode", "connect", "udp://127.0.0.1:1"], "a udp:// address needs --mode udp"),
    (["--mode", "connect", "-p", "2", "127.0.0.1:1"], "--pipeline does not go with --mode connect"),
    (["--mode", "connect", "--payload", "x", "127.0.0.1:1"], "--payload needs --mode echo"),
    (["--insecure", "127.0.0.1:1"], "TLS options need a TLS address"),
    (["--cert", "/x.pem", "tls://127.0.0.1:1"], "--cert needs --key too"),
    (["--insecure", "--pin", "sha256:00", "tls://127.0.0.1:1"],
     "--insecure turns verification off: it cannot go with --pin"),
])
def test_connect_and_tls_usage_errors(args, msg):
    r = run_sockit(["bench"] + args, timeout=10)
    assert r.returncode == 2, r.stderr
    assert msg.encode() in r.stderr, r.stderr


# ------------------------------------------------------------------ over TLS

@pytest.fixture
def tls_server():
    """`sockit listen ... tls://127.0.0.1:0` (a self-signed certificate made
    by the server); returns its port.  Stopped with SIGTERM at the end,
    which must give 0."""
    procs = []

    def start(*args):
        p = helpers.Proc(["listen"] + list(args) + ["tls://127.0.0.1:0"])
        try:
            _, m = p.wait_stderr(r"listening on tls://127\.0\.0\.1:(\d+)",
                                 timeout=helpers.READY_TIMEOUT)
        except AssertionError:
            p.kill()
            raise
        procs.append(p)
        return int(m.group(1))

    yield start
    for p in procs:
        p.signal(signal.SIGTERM)
        rc = p.wait_exit()
        p.finish_drains()
        assert rc == 0, p.stderr_text()
        assert p.sanitizer_report() is None, p.stderr_text()


def test_tls_echo(tls_server):
    """Every reply over TLS checked, as over TCP; --insecure warns."""
    port = tls_server("-s", "echo", "-f", "line")
    r, j = bench_json("--insecure", "-c", "3", "-p", "2", "-n", "300",
                      "tls://127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    assert j["address"] == "tls://127.0.0.1:%d" % port
    assert j["requests"] == 300 and j["errors"] == 0 and j["mismatches"] == 0
    assert b"warning: --insecure" in r.stderr, r.stderr


def test_tls_unverified_is_refused(tls_server):
    """Without --insecure a self-signed server fails the handshake: every
    connection is an error."""
    port = tls_server("-s", "echo")
    r, j = bench_json("-c", "2", "-n", "10", "tls://127.0.0.1:%d" % port)
    assert r.returncode == 1
    assert j["requests"] == 0 and j["errors"] == 2


def test_tls_connect_mode(tls_server):
    """--mode connect over TLS: each connection counts once its handshake
    is done."""
    port = tls_server("-s", "discard")
    r, j = bench_json("--mode", "connect", "--insecure", "-c", "4", "-n", "60",
                      "tls://127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    assert j["requests"] == 60 and j["errors"] == 0
    assert j["latency_us"]["p50"] > 0
