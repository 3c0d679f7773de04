"""Abstract Unix sockets (Linux): `unix:@NAME` listens on and connects to
the abstract name NAME -- no file anywhere -- and is shown as
`unix:@NAME`.  The other side is Python's socket module with the address
it uses for those names: a NUL, then the name."""

import os
import socket
import subprocess
import sys
import uuid

import pytest

from helpers import IO_TIMEOUT, Proc, run_sockit, scaled

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="abstract sockets are Linux only")


@pytest.fixture
def name():
    """A fresh abstract name, so that parallel runs never meet."""
    return "sockit-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])


def abstract_names():
    """The abstract names bound on this host, from /proc/net/unix."""
    with open("/proc/net/unix") as f:
        return {line.split()[-1] for line in f.readlines()[1:] if line.split()[-1].startswith("@")}


def py_connect(name):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(scaled(IO_TIMEOUT))
    c.connect("\0" + name)
    return c


def test_listen_shows_the_name_and_python_connects(start_server, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a file named "@..." would appear by mistake
    srv = start_server("-s", "upper", "unix:@" + name)
    assert srv.stderr_lines == ["listening on unix:@" + name]
    assert "@" + name in abstract_names()
    assert os.listdir(tmp_path) == []
    c = py_connect(name)
    try:
        c.sendall(b"abstract")
        got = b""
        while len(got) < 8:
            got += c.recv(64)
        assert got == b"ABSTRACT"
    finally:
        c.close()


def test_connect_to_a_python_listener(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(1)
    s.settimeout(scaled(IO_TIMEOUT))
    p = Proc(["connect", "-f", "line", "--send", "hello", "unix:@" + name], capture_stdout=True)
    try:
        c, _ = s.accept()
        c.settimeout(scaled(IO_TIMEOUT))
        got = b""
        while not got.endswith(b"\n"):
            got += c.recv(64)
        assert got == b"hello\n"
        c.sendall(b"from python\n")
        assert p.wait_exit() == 0, p.stderr_text()
        assert p.stdout_bytes() == b"from python\n"
        c.close()
    finally:
        p.kill()
        s.close()


def test_sockit_to_sockit_and_the_name_is_freed(start_server, name):
    srv = start_server("-s", "echo", "-f", "line", "unix:@" + name)
    r = run_sockit(["connect", "-f", "line", "--send", "ping", "unix:@" + name], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ping\n"
    assert srv.stop() == 0
    # No file was left behind: the name is free as soon as the server is
    # gone, and nothing stale needs clearing.
    assert "@" + name not in abstract_names()
    again = start_server("-s", "echo", "unix:@" + name)
    assert again.stderr_lines == ["listening on unix:@" + name]


def test_name_in_use(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + name)
    s.listen(1)
    try:
        r = run_sockit(["listen", "-s", "echo", "unix:@" + name], timeout=10)
        assert r.returncode == 1, r.stderr
        assert r.stderr.decode() == "sockit: listen unix:@%s: address already in use\n" % name
    finally:
        s.close()


def test_connect_refused_names_the_address(name):
    r = run_sockit(["connect", "--send", "x", "unix:@" + name], timeout=10)
    assert r.returncode == 1
    assert r.stderr.decode() == "sockit: connect unix:@%s: connection refused\n" % name


def test_tls_over_an_abstract_socket(start_server, name):
    srv = start_server("-s", "upper", "-f", "line", "tls+unix:@" + name)
    assert srv.stderr_lines[-1] == "listening on tls+unix:@" + name
    r = run_sockit(["connect", "--insecure", "-q", "-f", "line", "--send", "secret",
                    "tls+unix:@" + name], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"SECRET\n"


def test_a_file_named_at_is_reached_by_path(start_server, sockdir):
    # "@" starts an abstract name; a file whose name starts with it is
    # written with a directory in front.
    path = os.path.join(sockdir, "@file")
    srv = start_server("-s", "echo", "unix:" + path)
    assert os.path.exists(path)
    r = run_sockit(["connect", "--send", "f", "unix:" + path], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"f"
    srv.stop()
    assert not os.path.exists(path)
