"""Nothing lost: 100 connections x 10,000 length-prefixed messages of random
sizes (0 to 64 KiB) through echo, read while they are sent -- every byte
comes back, in order, and the totals are exact.

The load comes from tests/tools/flood.c (built by `make e2e` into
BUILD/tests/flood, passed here as $FLOOD).  It is written on plain POSIX
sockets and poll(2), not on libsockit, so a bug made the same way on the
library's sending and receiving sides cannot hide.  It checks every reply
byte for byte and a checksum per connection, and prints a JSON summary.
This file recomputes the totals from the same seeded generator on its own,
so a flood that silently sent less would fail here too.

Measured on the 2-core test VM (about 32.8 GB each way): 25 s with the -O2
build on a quiet machine, 41 s while others ran; under ASan + UBSan 46 s and
59 s.  That is well inside CI's budget (the whole of .ci/run took 6 min 50 s
with it), so the ASan run keeps the full size too.  flood's own time limit
(FLOOD_TIMEOUT_S) is below the conftest watchdog (150 s), so a machine
loaded past that fails this test alone, saying where flood was.
"""

import json
import os
import socket
import subprocess
import threading

import pytest

from helpers import sockit_bin, under_valgrind

SEED = 20240611
FULL_CONNS = 100
FULL_FRAMES = 10000
# Under valgrind (make test-valgrind) echo runs some 30x slower: the same
# 100 connections send a tenth of the frames, about 30 s there.
if under_valgrind():
    FULL_FRAMES //= 10
MAX_SIZE = 65536
# flood's own limit; it fails cleanly (and says where it was) before the
# conftest watchdog (150 s) would kill the whole run.
FLOOD_TIMEOUT_S = 130

M64 = (1 << 64) - 1


def flood_bin():
    path = os.environ.get("FLOOD") or os.path.join(
        os.path.dirname(sockit_bin()), "tests", "flood")
    if not os.access(path, os.X_OK):
        pytest.fail("flood not found at %s (set FLOOD or run `make e2e`)" % path)
    return path


def expected_payload_bytes(seed, conns, frames, max_size):
    """The payload bytes flood sends, from its generator (flood.c:
    conn_seed, xorshift, frame_next), written out again independently."""
    total = 0
    for i in range(conns):
        x = (seed ^ ((i + 1) << 32)) & M64
        x = (x + 0x9E3779B97F4A7C15) & M64          # splitmix64
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        s = (z ^ (z >> 31)) or 1
        for _ in range(frames):                      # xorshift64*
            s ^= s >> 12
            s ^= (s << 25) & M64
            s ^= s >> 27
            total += (((s * 0x2545F4914F6CDD1D) & M64) >> 32) % (max_size + 1)
    return total


def flood_address(srv):
    if srv.addr.transport == "unix":
        return "unix:" + srv.path
    return "%s:%d" % (srv.addr.host, srv.port)


def run_flood(target, *args, timeout=FLOOD_TIMEOUT_S):
    """Runs flood against target (HOST:PORT or unix:PATH); returns (exit
    status, the JSON summary, stderr)."""
    r = subprocess.run([flood_bin(), "-t", str(timeout), *args, target],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout + 15)
    lines = r.stdout.decode().strip().splitlines()
    assert lines, "flood printed no summary; exit %d, stderr:\n%s" % (
        r.returncode, r.stderr.decode())
    return r.returncode, json.loads(lines[-1]), r.stderr.decode()


def assert_nothing_lost(srv, summary, rc, err, conns, frames, framing, max_size):
    head = 4 if framing == "len:4" else 2 if framing == "len:2" else 0
    trailer = 1 if framing == "line" else 0
    payload = expected_payload_bytes(SEED, conns, frames, max_size)
    wire = payload + (head + trailer) * conns * frames
    assert rc == 0, "flood failed (%s):\n%s\nserver stderr:\n%s" % (
        summary, err, srv.stderr_text())
    assert summary["ok"] is True
    assert summary["mismatches"] == 0 and summary["errors"] == 0
    assert summary["lost_frames"] == 0
    assert summary["frames_sent"] == summary["frames_received"] == conns * frames
    assert summary["payload_bytes_sent"] == summary["payload_bytes_received"] == payload
    assert summary["wire_bytes_sent"] == summary["wire_bytes_received"] == wire
    assert srv.proc.poll() is None, "the server died"


def test_100_conns_x_10000_random_frames(start_server):
    """The issue's figure: 100 x 10,000 frames of 0..65536 bytes, len:4."""
    srv = start_server("-s", "echo", "-f", "len", "tcp://127.0.0.1:0")
    rc, summary, err = run_flood(flood_address(srv), "-c", str(FULL_CONNS),
                                 "-n", str(FULL_FRAMES), "-m", str(MAX_SIZE),
                                 "-s", str(SEED))
    assert_nothing_lost(srv, summary, rc, err, FULL_CONNS, FULL_FRAMES, "len:4", MAX_SIZE)


# Smaller runs of the other framings, over both stream transports, and with
# a queue cap small enough that backpressure pauses reading all the time.
# (transport, listen args, flood framing, max size, conns, frames)
VARIANTS = [
    ("unix", ["-f", "len"], "len:4", 65536, 20, 500),
    ("tcp", ["-f", "len:2"], "len:2", 65535, 20, 1000),
    ("unix", ["-f", "len:2"], "len:2", 65535, 10, 500),
    ("tcp", ["-f", "line"], "line", 65536, 20, 1000),
    ("unix", ["-f", "line"], "line", 65536, 10, 500),
    ("tcp", ["-f", "len", "--max-queue", "16K"], "len:4", 65536, 20, 500),
]
VARIANT_IDS = ["unix-len4", "tcp-len2", "unix-len2", "tcp-line", "unix-line",
               "tcp-len4-queue16K"]


@pytest.mark.parametrize("transport,listen_args,framing,max_size,conns,frames",
                         VARIANTS, ids=VARIANT_IDS)
def test_framings_nothing_lost(start_server, listen_addr, transport, listen_args,
                               framing, max_size, conns, frames):
    srv = start_server("-s", "echo", *listen_args, listen_addr(transport))
    rc, summary, err = run_flood(flood_address(srv), "-c", str(conns), "-n", str(frames),
                                 "-f", framing, "-m", str(max_size), "-s", str(SEED))
    assert_nothing_lost(srv, summary, rc, err, conns, frames, framing, max_size)


# ------------------------------------------------- the checker can fail

class FaultyEcho:
    """A deliberately broken echo server (one thread per connection): it
    flips one bit of the reply stream at byte `flip_at`, or hangs up after
    `close_after` bytes.  flood must notice either."""

    def __init__(self, flip_at=None, close_after=None):
        self.flip_at = flip_at
        self.close_after = close_after
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.lst.settimeout(30)
        self.port = self.lst.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lst.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(30)
        done = 0
        try:
            while True:
                data = bytearray(c.recv(65536))
                if not data:
                    break
                if self.flip_at is not None and done <= self.flip_at < done + len(data):
                    data[self.flip_at - done] ^= 0x01
                if self.close_after is not None:
                    # Reads on to the client's end, so the hang-up is an
                    # orderly one, not a reset.
                    data = data[:max(0, self.close_after - done)]
                c.sendall(data)
                done += len(data)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.lst.close()


@pytest.mark.parametrize("fault", ["flip", "truncate"])
def test_flood_detects_corruption_and_loss(fault):
    """The instrument itself: against a server that corrupts one bit or
    drops the tail, flood exits 1 and says what went wrong."""
    srv = FaultyEcho(flip_at=70001) if fault == "flip" else FaultyEcho(close_after=70001)
    try:
        rc, summary, err = run_flood("127.0.0.1:%d" % srv.port, "-c", "2", "-n", "50",
                                     "-m", "4000", "-s", str(SEED), timeout=30)
    finally:
        srv.close()
    assert rc == 1, (summary, err)
    assert summary["ok"] is False
    if fault == "flip":
        assert summary["mismatches"] == 2, summary
        assert "payload byte" in err or "length" in err, err
    else:
        assert summary["lost_frames"] > 0 and summary["errors"] == 2, summary
        assert "the server closed after" in err, err
