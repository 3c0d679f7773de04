"""CLI exits: runtime failures exit 1 with a message naming the operation
and the address, --help and --version exit 0.  Usage errors (exit 2) are
all in one table, test_cli_table.py."""

import pytest

from helpers import free_tcp_port, run_sockit


def test_port_in_use(start_server):
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    r = run_sockit(["listen", "-s", "echo", "tcp://127.0.0.1:%d" % srv.port], timeout=10)
    assert r.returncode == 1
    assert ("sockit: listen tcp://127.0.0.1:%d: address already in use" % srv.port).encode() in r.stderr, r.stderr


def test_port_in_use_by_other_program():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = run_sockit(["listen", "-s", "echo", str(port)], timeout=10)
    finally:
        s.close()
    assert r.returncode == 1
    assert ("sockit: listen tcp://127.0.0.1:%d: address already in use" % port).encode() in r.stderr, r.stderr


def test_connection_refused():
    held, port = free_tcp_port()
    try:
        r = run_sockit(["connect", "--send", "x", str(port)], timeout=10)
    finally:
        held.close()
    assert r.returncode == 1
    assert ("sockit: connect tcp://127.0.0.1:%d: connection refused" % port).encode() in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["listen", "--help"], ["listen", "-h"],
                                  ["connect", "--help"], ["connect", "-h"]])
def test_help(args):
    r = run_sockit(args, timeout=10)
    assert r.returncode == 0, r.stderr
    assert b"sockit" in r.stdout
    assert len(r.stdout.splitlines()) >= 3
    if args[0] != "listen" and args[0] != "connect":
        assert b"listen" in r.stdout and b"connect" in r.stdout
    elif args[0] == "listen":
        for opt in (b"--service", b"--framing", b"--max-frame", b"--max-queue", b"--max-conns",
                    b"--idle-timeout", b"--keep-open"):
            assert opt in r.stdout, opt
    else:
        for opt in (b"--send", b"--expect", b"--timeout", b"--framing"):
            assert opt in r.stdout, opt


def test_version():
    r = run_sockit(["--version"], timeout=10)
    assert r.returncode == 0
    assert r.stdout.strip() == b"sockit 0.1.0"
