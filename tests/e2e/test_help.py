"""Help where a user looks for it: `--help`/`-h` anywhere on a command line
prints that command's help on stdout and exits 0, whatever else is there;
`sockit help [COMMAND]`; an option's value that reads "--help" is a value;
and netcat's `connect HOST PORT` is taken as HOST:PORT.

The mistakes (suggestions, netcat's habits) are rows of the table in
test_cli_table.py: each exits 2 with one line.
"""

import pytest

from helpers import run_sockit

USAGE = {
    None: b"usage: sockit COMMAND",
    "listen": b"usage: sockit listen ",
    "connect": b"usage: sockit connect ",
    "bench": b"usage: sockit bench ",
}

# (argv, whose help)
ANYWHERE = [
    (["listen", "-s", "echo", "--help"], "listen"),
    (["listen", "-s", "echo", "0", "-h"], "listen"),
    (["listen", "--help", "extra", "words"], "listen"),
    (["listen", "-h", "-s", "echo", "0"], "listen"),
    (["listen", "-vh", "0"], "listen"),
    (["listen", "--bogus", "--help"], "listen"),              # the mistake is ignored
    (["listen", "-s", "nosuch", "-f", "lines", "--help"], "listen"),
    (["listen", "--hel"], "listen"),                          # an abbreviation, as getopt allows
    (["connect", "--help", "127.0.0.1:1"], "connect"),
    (["connect", "--send", "x", "127.0.0.1:1", "--help"], "connect"),
    (["connect", "--timeout", "nonsense", "-h"], "connect"),
    (["bench", "--json", "-h"], "bench"),
    (["bench", "-c", "0", "--help", "127.0.0.1:1"], "bench"),
    (["help"], None),
    (["--help"], None),
    (["-h", "-h"], None),
    (["--help", "--verbose"], None),
    (["-l", "8000", "--help"], None),                          # netcat's words, then --help
    (["help", "listen"], "listen"),
    (["help", "connect", "extra"], "connect"),
    (["--help", "bench"], "bench"),
    (["-h", "connect"], "connect"),
]


def case_id(case):
    return " ".join(case[0])


@pytest.mark.parametrize("case", ANYWHERE, ids=[case_id(c) for c in ANYWHERE])
def test_help_anywhere(case):
    argv, whose = case
    r = run_sockit(argv, timeout=10)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stderr == b"", r.stderr
    assert r.stdout.startswith(USAGE[whose]), r.stdout[:80]


def test_help_of_a_command_is_its_own_help():
    for cmd in ("listen", "connect", "bench"):
        direct = run_sockit([cmd, "--help"], timeout=10)
        via = run_sockit(["help", cmd], timeout=10)
        assert direct.returncode == via.returncode == 0
        assert direct.stdout == via.stdout


def test_summary_says_where_help_is():
    r = run_sockit(["--help"], timeout=10)
    assert b"sockit help COMMAND" in r.stdout, r.stdout


def test_send_value_that_reads_help_is_sent(start_server):
    """--send takes the next word as its value, even "--help": getopt
    decides, not a scan for the word."""
    srv = start_server("-s", "echo", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "--send", "--help", str(srv.addr)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"--help\n"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connect_host_port_two_words(start_server, host):
    """netcat's habit: `sockit connect HOST PORT` is HOST:PORT."""
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "-f", "line", "--send", "hi", host, str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"HI\n"


def test_connect_host_port_two_words_service_name():
    """HOST SERVICE is HOST:SERVICE: localhost http is port 80."""
    r = run_sockit(["connect", "-v", "-f", "line", "--send", "x", "--timeout", "2",
                    "localhost", "http"], timeout=10)
    assert b"tcp://localhost:80" in r.stderr, r.stderr


def test_scan_host_ports_two_words():
    """-z takes netcat's HOST PORTS too."""
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    try:
        r = run_sockit(["connect", "-z", "127.0.0.1", "%d,%d" % (port, port)], timeout=10)
    finally:
        lsock.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"127.0.0.1:%d open\n" % port


def test_connect_host_port_two_words_ipv6(start_server):
    try:
        srv = start_server("-s", "upper", "-f", "line", "tcp://[::1]:0")
    except AssertionError:
        pytest.skip("no IPv6 loopback")
    r = run_sockit(["connect", "-f", "line", "--send", "v6", "::1", str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"V6\n"


def test_connect_host_port_two_words_udp(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    r = run_sockit(["connect", "--send", "dgram", "udp://127.0.0.1", str(srv.port)], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"DGRAM"


def test_connect_host_port_stdin(start_server):
    """The stdin path too: what it sends arrives, the reply is printed."""
    srv = start_server("-s", "echo", "tcp://127.0.0.1:0")
    r = run_sockit(["connect", "127.0.0.1", str(srv.port)], input=b"bytes\n", timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"bytes\n"


@pytest.mark.parametrize("argv", [["--help"], ["help"], ["listen", "--help"],
                                  ["connect", "--help"], ["bench", "--help"],
                                  ["help", "listen"]], ids=" ".join)
def test_help_fits_80_columns(argv):
    """Every line of every help text fits a terminal of 80 columns,
    the services' summaries included."""
    r = run_sockit(argv, timeout=10)
    assert r.returncode == 0, r.stderr
    long_lines = [line for line in r.stdout.decode().splitlines() if len(line) > 80]
    assert long_lines == [], long_lines


def _man():
    import os
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "sockit.1")
    with open(path, encoding="utf-8") as f:
        return f.read().replace("\\-", "-")


def _synopsis(man, cmd):
    import re
    for block in re.findall(r"^\.SY sockit\n(.*?)^\.YS", man, re.S | re.M):
        if block.startswith(".B %s\n" % cmd) and "-z" not in block.splitlines()[1]:
            return block
    raise AssertionError("no SYNOPSIS for %s" % cmd)


@pytest.mark.parametrize("cmd", ["listen", "connect", "bench"])
def test_man_page_lists_every_option_of_help(cmd):
    """Every option `sockit CMD --help` names is in the man page's options
    of CMD, -h/--help included; bench's SYNOPSIS names its options too."""
    import re
    man = _man()
    section = man.split(".SS Options of sockit %s" % cmd, 1)[1].split("\n.S", 1)[0]
    text = run_sockit([cmd, "--help"], timeout=10).stdout.decode()
    longs = set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", text, re.M))
    assert "--help" in longs
    missing = sorted(o for o in longs if o not in section)
    assert missing == [], missing
    if cmd == "bench":
        synopsis = _synopsis(man, "bench")
        tls = {"--ca", "--pin", "--insecure", "--cert", "--key", "--alpn"}
        absent = sorted(o for o in longs - tls - {"--help", "--ipv4", "--ipv6", "--quiet",
                                                  "--conns", "--pipeline", "--size",
                                                  "--framing", "--duration", "--requests"}
                        if o not in synopsis)
        assert absent == [] and "TLS options" in synopsis, (absent, synopsis)
