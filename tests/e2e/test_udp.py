"""UDP specifics: the ready line, datagram boundaries, per-sender replies,
and length framing refused."""

import select
import signal
import socket
import subprocess

import pytest

from helpers import Dgram, _track, run_sockit, sockit_bin


def test_listening_line_udp(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    assert srv.addr.text == "udp://127.0.0.1:%d" % srv.port
    assert srv.port > 0
    assert sum("listening on" in l for l in srv.stderr_lines) == 1


def test_datagram_boundaries_kept(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        sizes = [1, 2, 3, 100, 1000, 1472, 4000, 1, 60000]
        for round_ in range(3):
            for i, n in enumerate(sizes):
                d = bytes([(i + round_) % 256]) * n
                u.send(d)
                assert u.recv() == d
    finally:
        u.close()


def test_interleaved_senders(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    us = [Dgram(srv.addr) for _ in range(8)]
    try:
        for round_ in range(5):
            for i, u in enumerate(us):
                u.send(b"peer %d round %d" % (i, round_))
            for i, u in enumerate(us):
                assert u.recv() == b"PEER %d ROUND %d" % (i, round_)
    finally:
        for u in us:
            u.close()


@pytest.mark.parametrize("service", ["echo", "upper", "chat", "discard"])
@pytest.mark.parametrize("spec", ["len", "len:2le", "len:1", "len:8be"])
def test_len_framing_refused_on_udp(service, spec):
    r = run_sockit(["listen", "-s", service, "-f", spec, "udp://127.0.0.1:0"], timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"sockit: "), r.stderr
    assert b"listening on" not in r.stderr


@pytest.mark.parametrize("service", ["echo", "upper"])
def test_empty_datagram_echoed(start_server, service):
    """An empty datagram is a message like any other: it comes back empty
    and the server goes on serving."""
    srv = start_server("-s", service, "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        u.send(b"")
        assert u.recv() == b""
        u.send(b"after")
        assert u.recv() == (b"AFTER" if service == "upper" else b"after")
    finally:
        u.close()


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_stdio_udp_stdout_bounded():
    """stdout that nobody reads: the UDP listener stops reading its socket
    (the kernel drops the excess) instead of queueing without bound."""
    proc = subprocess.Popen([sockit_bin(), "listen", "--max-queue", "64K", "udp://127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _track(proc)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 10)
        assert ready, "no ready line"
        line = proc.stderr.readline().decode()
        assert line.startswith("listening on udp://127.0.0.1:"), line
        port = int(line.strip().rsplit(":", 1)[1])
        before = _rss_kib(proc.pid)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload = b"x" * 8000
        for _ in range(20000):  # 160 MB offered
            u.sendto(payload, ("127.0.0.1", port))
        u.close()
        grown = _rss_kib(proc.pid) - before
        assert grown < 16 * 1024, "RSS grew by %d KiB" % grown
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.stdout.close()  # the pending stdout is dropped
        assert proc.wait(10) == 0
        proc.stderr.close()


def closed_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


UNREACHABLE = "port unreachable (ICMP): nothing listens there"


@pytest.mark.parametrize("args,stdin", [
    (["--send", "hi"], None),
    (["-f", "line", "--send", "one", "--send", "two"], None),
    ([], b"hi\n"),
    (["-f", "line"], b"one\ntwo\nthree\n"),   # a later send, not the receive, meets the ICMP error
], ids=["send", "send-two", "stdin", "stdin-lines"])
def test_connect_udp_port_unreachable(args, stdin):
    """Nobody on the port: the ICMP port unreachable is named as such, by
    --send as by the stdin path, and the exit status is 1."""
    target = "udp://127.0.0.1:%d" % closed_udp_port()
    r = run_sockit(["connect"] + args + [target], input=stdin, timeout=10)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err == "sockit: %s: %s\n" % (target, UNREACHABLE), err
