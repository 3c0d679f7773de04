"""A regular file on stdin goes out by the library's sk_peer_sendfile:
zero-copy (sendfile(2)) over a plain socket, and read through the stream
over TLS, which has no socket to give.  Either way every byte arrives, in
order, and the transfer is bounded by the write queue.

Checked with checksums against receivers that are not sockit where one
exists (Python's socket and ssl modules), and with sockit's own stdio
listener writing to a file.
"""

import hashlib
import os
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

from helpers import IO_TIMEOUT, scaled, sockit_bin

SIZE = 24 << 20  # spans many 256 KiB reads and several queue caps


def make_file(path, size=SIZE):
    """A file of random bytes; returns its SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            chunk = os.urandom(min(left, 1 << 20))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def fingerprint(srv):
    _, m = srv.wait_stderr(r"sha256:([0-9a-f]{64})")
    return "sha256:" + m.group(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def drain_socket(sock, timeout):
    """Reads until EOF; returns (bytes, sha256)."""
    sock.settimeout(scaled(timeout))
    h = hashlib.sha256()
    n = 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return n, h.hexdigest()
        n += len(data)
        h.update(data)


def listen_to_file(tmp_path, *args):
    """`sockit listen ARGS > copy` (stdio service); returns (server, path)."""
    out = tmp_path / "copy.bin"
    f = open(out, "wb")
    try:
        proc = subprocess.Popen([sockit_bin(), "listen"] + list(args),
                                stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.PIPE)
    finally:
        f.close()
    return proc, out


def wait_listening(proc):
    """The address from the `listening on` line, and the stderr read so far."""
    seen = []
    for line in iter(proc.stderr.readline, b""):
        text = line.decode(errors="replace")
        seen.append(text)
        m = re.search(r"listening on (\S+)", text)
        if m:
            return m.group(1), "".join(seen)
    raise AssertionError("no listening line: %s" % "".join(seen))


def test_file_to_tls_listener_through_the_stream(tmp_path):
    """connect tls:// < file: the TLS stream has no descriptor to offer,
    so the file is read and encrypted; the copy is byte-exact."""
    src = tmp_path / "src.bin"
    want = make_file(src)
    proc, out = listen_to_file(tmp_path, "tls://127.0.0.1:0")
    try:
        addr, err = wait_listening(proc)
        fp = re.search(r"sha256:[0-9a-f]{64}", err).group(0)
        with open(src, "rb") as f:
            r = subprocess.run([sockit_bin(), "connect", "--pin", fp, addr],
                               stdin=f, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=scaled(60))
        assert r.returncode == 0, r.stderr
        assert proc.wait(scaled(30)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert os.path.getsize(out) == SIZE
    assert sha256_file(out) == want


def test_file_from_tls_listener_to_python_ssl(tmp_path, start_server):
    """listen tls:// < file: the server sends the file through TLS to a
    Python ssl client, which checks every byte."""
    src = tmp_path / "src.bin"
    want = make_file(src)
    with open(src, "rb") as f:
        srv = start_server("tls://127.0.0.1:0", stdin=f)
    fp = fingerprint(srv)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the pin is checked by hand below
    with socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(IO_TIMEOUT)) as raw:
        with ctx.wrap_socket(raw) as s:
            der = s.getpeercert(binary_form=True)
            assert "sha256:" + hashlib.sha256(der).hexdigest() == fp
            n, got = drain_socket(s, 60)
    assert n == SIZE
    assert got == want
    assert srv.wait_exit() == 0


def test_file_from_plain_listener_zero_copy(tmp_path, start_server):
    """The same over plain TCP goes by sendfile(2): byte-exact too."""
    src = tmp_path / "src.bin"
    want = make_file(src)
    with open(src, "rb") as f:
        srv = start_server("tcp://127.0.0.1:0", stdin=f)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(IO_TIMEOUT)) as s:
        n, got = drain_socket(s, 60)
    assert n == SIZE
    assert got == want
    assert srv.wait_exit() == 0


def test_tls_file_to_slow_reader_stays_bounded(tmp_path, start_server):
    """Through TLS the file is read only as the queue drains: a client
    that reads slowly keeps the server's memory near its queue cap, not
    the file's size."""
    src = tmp_path / "src.bin"
    make_file(src, 64 << 20)
    with open(src, "rb") as f:
        srv = start_server("--max-queue", "256K", "tls://127.0.0.1:0", stdin=f)
    fp = fingerprint(srv)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(IO_TIMEOUT))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s = ctx.wrap_socket(raw)
    try:
        assert "sha256:" + hashlib.sha256(s.getpeercert(True)).hexdigest() == fp
        s.recv(1 << 16)
        base = srv.rss_kib()
        # Read 4 MiB slowly; the rest of the 64 MiB waits in the file.
        got = 0
        while got < (4 << 20):
            got += len(s.recv(1 << 16))
        grown = srv.rss_kib() - base
        assert grown < 16 * 1024, "server RSS grew by %d KiB" % grown
    finally:
        s.close()
        srv.crash()


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)  # zeros, no disk used


def test_tls_client_reset_mid_file_is_the_clients_going(tmp_path, start_server):
    """A TLS client that resets while the file goes out through the stream:
    the transfer stops at once (no read after the close touches freed
    memory), the server says it was the client, not stdin, and exits 1."""
    src = tmp_path / "big.bin"
    sparse(src, 2 << 30)
    for _ in range(3):  # the race has more than one window
        with open(src, "rb") as f:
            srv = start_server("-v", "tls://127.0.0.1:0", stdin=f)
        srv.expect_clean_exit = False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(IO_TIMEOUT))
        s = ctx.wrap_socket(raw)
        s.recv(1 << 16)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset: the ssl socket owns the descriptor now
        assert srv.wait_exit() == 1
        srv.finish_drains()
        assert srv.sanitizer_report() is None, srv.sanitizer_report()
        assert not [x for x in srv.stderr_lines if "stdin:" in x], srv.stderr_text()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:0", "tls://127.0.0.1:0"])
def test_idle_timeout_spares_a_file_going_out(tmp_path, start_server, address):
    """--idle-timeout counts a file going out as activity: a client that
    reads slowly for longer than the timeout gets it all."""
    src = tmp_path / "src.bin"
    want = make_file(src, 8 << 20)
    with open(src, "rb") as f:
        srv = start_server("-v", "--idle-timeout", "0.5", "--max-queue", "64K",
                           address, stdin=f)
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(IO_TIMEOUT))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s = raw
    if address.startswith("tls"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(raw)
    h, n = hashlib.sha256(), 0
    t0 = time.monotonic()
    with s:
        while True:
            data = s.recv(1 << 16)
            if not data:
                break
            h.update(data)
            n += len(data)
            if time.monotonic() - t0 < 1.5:
                time.sleep(0.02)  # slower than the file for 1.5 s: 3 timeouts
    assert n == 8 << 20, srv.stderr_text()
    assert h.hexdigest() == want
    assert not [x for x in srv.stderr_lines if "idle" in x], srv.stderr_text()
    assert srv.wait_exit() == 0
