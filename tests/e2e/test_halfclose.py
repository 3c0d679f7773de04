"""File transfer survives the other side shutting its own direction
first: what stdin holds is still sent in full (nothing lost), and the
session ends when both directions are done."""
import hashlib
import os
import socket
import subprocess
import threading

from helpers import sockit_bin, _track

SIZE = 3_000_000


def _payload(tmp_path):
    data = os.urandom(SIZE)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _drain_digest(sock):
    """Reads sock to its end: (bytes, sha256 hex digest)."""
    h, n = hashlib.sha256(), 0
    while True:
        d = sock.recv(65536)
        if not d:
            return n, h.hexdigest()
        h.update(d)
        n += len(d)


def test_connect_sends_all_stdin_after_server_half_closed(tmp_path):
    """A server that shuts down its sending side at once still receives
    every byte of the client's stdin file."""
    path, digest = _payload(tmp_path)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(10)
    got = {}

    def serve():
        c, _ = lst.accept()
        c.settimeout(20)
        c.shutdown(socket.SHUT_WR)
        got["n"], got["digest"] = _drain_digest(c)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with open(path, "rb") as f:
        r = subprocess.run([sockit_bin(), "connect", "127.0.0.1:%d" % lst.getsockname()[1]],
                           stdin=f, capture_output=True, timeout=30)
    t.join(20)
    lst.close()
    assert r.returncode == 0, r.stderr
    assert got == {"n": SIZE, "digest": digest}


def test_listen_stdio_sends_all_stdin_to_half_closed_client(start_server, tmp_path):
    """A client that half-closes at once still gets the whole file the
    server was given on stdin, then the server exits 0."""
    path, digest = _payload(tmp_path)
    with open(path, "rb") as f:
        srv = start_server("tcp://127.0.0.1:0", stdin=f)
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    c.shutdown(socket.SHUT_WR)
    n, got = _drain_digest(c)
    c.close()
    assert (n, got) == (SIZE, digest)
    assert srv.wait_exit() == 0


def test_file_through_listen_and_connect(tmp_path):
    """`sockit listen > copy` with nothing on stdin, `sockit connect <
    file`: the copy is byte-identical and both exit 0."""
    path, digest = _payload(tmp_path)
    copy = tmp_path / "copy.bin"
    with open(copy, "wb") as out:
        recv = subprocess.Popen([sockit_bin(), "listen", "tcp://127.0.0.1:0"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        _track(recv)
        line = recv.stderr.readline().decode()
        assert line.startswith("listening on tcp://127.0.0.1:"), line
        port = line.strip().rsplit(":", 1)[1]
        with open(path, "rb") as f:
            r = subprocess.run([sockit_bin(), "connect", "127.0.0.1:" + port],
                               stdin=f, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert recv.wait(20) == 0
        recv.stderr.close()
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
