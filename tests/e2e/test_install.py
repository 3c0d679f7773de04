"""`make install` gives a usable library: sockit.h, libsockit.a and a
sockit.pc that an outside program builds against, plus the binary and the
man page."""
import os
import select
import signal
import socket
import struct
import subprocess

import pytest

from helpers import Addr, _track

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    # A plain install, whatever build (SANITIZE=1 ...) runs this suite.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZE", "BUILD")}
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "PREFIX=%s" % prefix],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr.decode()
    return prefix


def test_install_layout(prefix):
    for rel in ("bin/sockit", "lib/libsockit.a", "include/sockit.h",
                "lib/pkgconfig/sockit.pc", "share/man/man1/sockit.1"):
        assert os.path.isfile(os.path.join(prefix, rel)), rel
    r = subprocess.run([os.path.join(prefix, "bin/sockit"), "--version"],
                       capture_output=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith(b"sockit ")


def test_outside_program_builds_and_serves(prefix, tmp_path):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib/pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sockit"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert flags.returncode == 0, flags.stderr
    exe = str(tmp_path / "upper_server")
    cc = subprocess.run(["cc", "-Wall", "-Wextra", "-Werror",
                         os.path.join(REPO, "examples/upper_server.c"), "-o", exe]
                        + flags.stdout.split(), capture_output=True, text=True, timeout=120)
    assert cc.returncode == 0, cc.stderr
    proc = subprocess.Popen([exe, "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _track(proc)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 10)
        assert ready, "no ready line within 10 s"
        line = proc.stderr.readline().decode()
        assert line.startswith("listening on "), line
        addr = Addr(line[len("listening on "):].strip())
        with socket.create_connection((addr.host, addr.port), timeout=10) as s:
            s.sendall(struct.pack("!I", 5) + b"hello" + struct.pack("!I", 0))
            want = struct.pack("!I", 5) + b"HELLO" + struct.pack("!I", 0)
            got = b""
            while len(got) < len(want):
                chunk = s.recv(64)
                assert chunk, got
                got += chunk
            assert got == want
        # Clients that leave with replies unread: the server's next writes
        # meet a reset (EPIPE).  The library keeps SIGPIPE from killing a
        # program that did not ignore it (this one does not).
        for _ in range(5):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect((addr.host, addr.port))
            s.sendall((struct.pack("!I", 500000) + b"a" * 500000) * 2)
            s.close()
        with socket.create_connection((addr.host, addr.port), timeout=10) as s:
            s.sendall(struct.pack("!I", 2) + b"ok")
            got = b""
            while len(got) < 6:
                chunk = s.recv(64)
                assert chunk, "the server died (status %s)" % proc.poll()
                got += chunk
            assert got == struct.pack("!I", 2) + b"OK"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stderr.close()
