"""CLI errors and exits: usage errors exit 2 with a message naming the
problem, runtime failures exit 1, --help and --version exit 0."""

import pytest

from helpers import free_tcp_port, run_sockit

FORMS = ("expected tcp://HOST:PORT, udp://HOST:PORT, unix:PATH, HOST:PORT, :PORT or PORT")


@pytest.mark.parametrize("cmd", ["listen", "connect"])
@pytest.mark.parametrize("text", ["tcp://127.0.0.1:notaport", "ftp://127.0.0.1:21", "127.0.0.1:70000",
                                  "tcp://127.0.0.1", "udp://:-1", "[::1:80", "unix:", "tcp://:65536"])
def test_bad_address(cmd, text):
    r = run_sockit([cmd, text], input=b"", timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert ("sockit: bad address '%s': %s" % (text, FORMS)).encode() in r.stderr, r.stderr
    assert r.stdout == b""


@pytest.mark.parametrize("cmd", ["listen", "connect"])
def test_unknown_option(cmd):
    r = run_sockit([cmd, "--bogus", "127.0.0.1:1"], input=b"", timeout=10)
    assert r.returncode == 2
    assert r.stderr.startswith(("sockit: %s: unknown option '--bogus'\n" % cmd).encode()), r.stderr
    # ... followed by a hint line.
    assert len(r.stderr.decode().strip().splitlines()) >= 2, r.stderr


def test_unknown_short_option():
    r = run_sockit(["listen", "-Z", "0"], timeout=10)
    assert r.returncode == 2
    assert b"-Z" in r.stderr and r.stderr.startswith(b"sockit: "), r.stderr


@pytest.mark.parametrize("cmd", ["listen", "connect"])
@pytest.mark.parametrize("spec", ["len:3", "len:16", "len:4xe", "lenx", "lines", "len:", ""])
def test_bad_framing(cmd, spec):
    r = run_sockit([cmd, "-f", spec, "127.0.0.1:1"], input=b"", timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"sockit: "), r.stderr
    if spec:
        assert ("'%s'" % spec).encode() in r.stderr or spec.encode() in r.stderr, r.stderr


@pytest.mark.parametrize("opt,value", [("--max-frame", "abc"), ("--max-frame", "12Q"),
                                       ("--max-queue", "-5"), ("--max-conns", "x"),
                                       ("--backlog", "lots"), ("--idle-timeout", "soon")])
def test_bad_number(opt, value):
    r = run_sockit(["listen", "-s", "echo", opt, value, "127.0.0.1:0"], timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert value.encode() in r.stderr, r.stderr
    assert b"listening on" not in r.stderr


def test_unknown_service():
    r = run_sockit(["listen", "-s", "nosuchservice", "127.0.0.1:0"], timeout=10)
    assert r.returncode == 2
    assert b"nosuchservice" in r.stderr


def test_missing_address():
    r = run_sockit(["listen", "-s", "echo"], timeout=10)
    assert r.returncode == 2
    assert r.stderr.startswith(b"sockit: "), r.stderr


def test_unknown_command():
    r = run_sockit(["frobnicate"], timeout=10)
    assert r.returncode == 2
    assert b"frobnicate" in r.stderr


def test_len_on_udp():
    r = run_sockit(["listen", "-s", "echo", "-f", "len", "udp://127.0.0.1:0"], timeout=10)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(b"sockit: "), r.stderr


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


def test_unknown_short_option_in_cluster():
    r = run_sockit(["listen", "-xv", "0"], timeout=10)
    assert r.returncode == 2
    assert r.stderr.startswith(b"sockit: listen: unknown option '-x'"), r.stderr


@pytest.mark.parametrize("opt", ["--max-frame", "--send"])
def test_long_option_missing_value(opt):
    r = run_sockit(["connect", "127.0.0.1:9", opt], timeout=10)
    assert r.returncode == 2
    assert ("option '%s' needs a value" % opt).encode() in r.stderr, r.stderr


@pytest.mark.parametrize("spec,limit", [("len:1", 255), ("len:2le", 65535)])
def test_max_frame_wider_than_header(spec, limit):
    r = run_sockit(["listen", "-s", "echo", "-f", spec, "--max-frame", "1M", "0"], timeout=10)
    assert r.returncode == 2
    assert b"--max-frame 1M does not fit" in r.stderr and str(limit).encode() in r.stderr, r.stderr
