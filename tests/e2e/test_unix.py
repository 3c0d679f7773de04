"""Unix-domain sockets: the ready line, both address forms, stale socket file
replaced, a live one refused, the file removed on exit; and what a failure
means, in words: a missing directory, a file where a directory should be,
permission, a missing or stale socket file."""

import os
import signal
import socket
import stat
import subprocess

import pytest

from helpers import Proc, run_sockit, sockit_bin


def test_listening_line_and_forms(start_server, sockdir, conns):
    path = os.path.join(sockdir, "a.sock")
    srv = start_server("-s", "echo", "unix:" + path)
    assert srv.addr.text == "unix:" + path
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    path2 = os.path.join(sockdir, "b.sock")
    srv2 = start_server("-s", "upper", "unix://" + path2)     # unix:///abs/path
    assert srv2.path == path2
    c = conns(srv2.addr)
    c.sendall(b"abc")
    assert c.recv_exact(3) == b"ABC"


def test_stale_socket_file_replaced(start_server, sockdir, conns):
    path = os.path.join(sockdir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()                     # the file stays, nothing listens: stale
    assert os.path.exists(path)
    srv = start_server("-s", "echo", "unix:" + path)
    c = conns(srv.addr)
    c.sendall(b"fresh")
    assert c.recv_exact(5) == b"fresh"


def test_live_socket_file_refused(sockdir):
    path = os.path.join(sockdir, "live.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    try:
        r = run_sockit(["listen", "-s", "echo", "unix:" + path], timeout=10)
        assert r.returncode == 1, r.stderr
        assert b"address already in use" in r.stderr, r.stderr
        # The live server's socket file was left alone.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(path)
        c.close()
    finally:
        s.close()


def test_live_sockit_refused(start_server, sockdir, conns):
    path = os.path.join(sockdir, "two.sock")
    srv = start_server("-s", "echo", "unix:" + path)
    r = run_sockit(["listen", "-s", "echo", "unix:" + path], timeout=10)
    assert r.returncode == 1, r.stderr
    assert b"address already in use" in r.stderr, r.stderr
    assert path.encode() in r.stderr, r.stderr
    c = conns(srv.addr)
    c.sendall(b"first still works")
    assert c.recv_exact(17) == b"first still works"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_socket_file_removed_on_exit(start_server, sockdir, conns, sig):
    path = os.path.join(sockdir, "gone.sock")
    srv = start_server("-s", "echo", "unix:" + path)
    c = conns(srv.addr)
    c.sendall(b"x")
    assert c.recv_exact(1) == b"x"
    assert srv.stop(sig) == 0
    assert not os.path.exists(path)


def test_stdio_socket_file_removed_when_client_leaves(sockdir, conns):
    path = os.path.join(sockdir, "io.sock")
    srv = Proc(["listen", "unix:" + path], stdin=subprocess.PIPE, capture_stdout=True)
    try:
        srv.wait_stderr("listening on unix:")
        c = conns("unix:" + path)
        c.sendall(b"hi")
        c.close()
        assert srv.wait_exit() == 0
        assert not os.path.exists(path)
    finally:
        srv.kill()
        srv.proc.stdin.close()


# --------------------------------------------------- what a failure means

def test_listen_in_a_missing_directory(sockdir):
    # libuv's own bind says "permission denied" here (it turns ENOENT into
    # EACCES); sockit names the directory.
    path = os.path.join(sockdir, "missing", "dir", "x.sock")
    r = run_sockit(["listen", "-s", "echo", "unix:" + path], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: listen unix:%s: directory %s does not exist\n" % (
        path, os.path.dirname(path))


def test_listen_under_a_file(sockdir):
    f = os.path.join(sockdir, "plain")
    open(f, "w").close()
    r = run_sockit(["listen", "-s", "echo", "unix:%s/x.sock" % f], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: listen unix:%s/x.sock: %s is not a directory\n" % (f, f)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run sockit as nobody")
def test_listen_without_permission_says_so(sockdir):
    # The directory exists, but nobody may not write in it: that is
    # permission denied, and said so.
    os.chmod(sockdir, 0o755)
    path = os.path.join(sockdir, "x.sock")
    r = subprocess.run([sockit_bin(), "listen", "-s", "echo", "unix:" + path],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                       preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: listen unix:%s: permission denied\n" % path


def test_connect_to_a_missing_directory(sockdir):
    path = os.path.join(sockdir, "nodir", "x.sock")
    r = run_sockit(["connect", "--send", "x", "unix:" + path], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: connect unix:%s: directory %s does not exist\n" % (
        path, os.path.dirname(path))


def test_connect_to_a_missing_socket_file(sockdir):
    path = os.path.join(sockdir, "none.sock")
    r = run_sockit(["connect", "--send", "x", "unix:" + path], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: connect unix:%s: no such socket file\n" % path


def test_connect_to_a_stale_socket_file(sockdir):
    path = os.path.join(sockdir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    r = run_sockit(["connect", "--send", "x", "unix:" + path], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == ("sockit: connect unix:%s: connection refused (a stale socket "
                                 "file: nothing listens on it)\n" % path)
