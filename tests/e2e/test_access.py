"""Access control for `sockit listen`: --allow/--deny (addresses, CIDR
networks, dotted masks, IPv4 and IPv6), --allow-file/--deny-file (comments,
blank lines, SIGHUP reload), the -v refusal log and the bounded summary
without it, bad rules as usage errors, and the per-source limits
--max-conns-per-ip and --rate-per-ip.

Every client here talks over loopback.  A "different host" is a client
socket bound to another address of 127.0.0.0/8 (127.0.0.2, 127.0.0.3, ...)
before it connects to the server on 127.0.0.1; IPv6 tests use ::1 only.

A refused TCP or TLS connection must end (EOF or reset) without one byte
from the server; a refused UDP datagram must get no reply, while an
allowed source in the same test gets its echo.  Every wait is bounded.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

import helpers
from helpers import (IO_TIMEOUT, SANITIZER_MARKS, Conn, has_ipv6_loopback, poll_until,
                     run_sockit, scaled)
from tlscerts import client_context, client_hello, tls_server  # noqa: F401 -- fixture

needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


# ------------------------------------------------------------------ clients

def tcp_from(dest, src, framing="line", timeout=IO_TIMEOUT):
    """A TCP client bound to source address src (port 0), connected to
    dest: an Addr (its host and port) or a (host, port) pair."""
    if isinstance(dest, helpers.Addr):
        dest = (dest.host, dest.port)
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(scaled(timeout))
    try:
        s.bind((src, 0))
        s.connect(dest)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        s.close()
        raise
    return Conn(s, framing)


@pytest.fixture
def clients():
    """tcp_from(...) whose connections are closed at teardown."""
    yield from helpers.tracked(tcp_from)


def peer_of(conn):
    """'HOST:PORT' of the client side, as the server sees its peer."""
    host, port = conn.sock.getsockname()[:2]
    return "%s:%d" % (host, port)


def roundtrip(conn, msg=None):
    """A line-framed echo: asserts msg comes back."""
    msg = msg or b"hello from %s" % peer_of(conn).encode()
    conn.send_msg(msg)
    got = conn.recv_msg()
    assert got == msg, (got, msg)


def assert_refused(conn, probe=b"let me in\n", timeout=IO_TIMEOUT):
    """The server closes conn (EOF or reset) without sending a byte.  Any
    byte fails at once (a served client), as does no close within timeout."""
    try:
        conn.sendall(probe)
    except OSError:           # already reset: refused
        pass
    conn.settimeout(scaled(timeout))
    try:
        got = conn.sock.recv(65536)
    except socket.timeout:
        raise AssertionError("a client that should be refused (%s) was neither served "
                             "nor closed within %.1f s" % (peer_of(conn), scaled(timeout)))
    except (ConnectionError, ssl.SSLError):     # reset: refused
        return
    assert got == b"", "a client that should be refused (%s) received %r" % (peer_of(conn), got)


def served(srv, src, dest=None):
    """A new client from src gets its line back (and is closed)."""
    c = tcp_from(dest or srv.addr, src)
    try:
        roundtrip(c)
    except (EOFError, ConnectionError) as e:
        raise AssertionError("client from %s was not served: %r; server stderr:\n%s"
                             % (src, e, srv.stderr_text()))
    finally:
        c.close()
    return True


def refused(srv, src, dest=None):
    """A new client from src is closed without data."""
    c = tcp_from(dest or srv.addr, src)
    try:
        assert_refused(c)
    finally:
        c.close()
    return True


def check(srv, allowed=(), denied=(), dest=None):
    for src in allowed:
        served(srv, src, dest)
    for src in denied:
        refused(srv, src, dest)


def echo(start_server, *args, addr="tcp://127.0.0.1:0"):
    return start_server("-s", "echo", "-f", "line", *args, addr)


def write_file(path, text):
    """Replaces path's content at once (a reload never sees half a file)."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, str(path))
    return str(path)


def refusal_lines(srv, start=0):
    return [l for l in srv.stderr_lines[start:] if "refused" in l.lower()]


# ------------------------------------------------------ allow and deny

def test_allow_one_host_refuses_another(start_server, clients):
    srv = echo(start_server, "--allow", "127.0.0.2")
    ok = clients(srv.addr, "127.0.0.2")
    roundtrip(ok, b"first")
    no = clients(srv.addr, "127.0.0.3")
    assert_refused(no)
    # The refusal did not disturb the allowed client, nor the server.
    roundtrip(ok, b"second")
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3", "127.0.0.1"])


@pytest.mark.parametrize("service", ["echo", "upper", "discard"])
def test_every_service_refuses(start_server, clients, service):
    srv = start_server("-s", service, "-f", "line", "--deny", "127.0.0.3", "tcp://127.0.0.1:0")
    no = clients(srv.addr, "127.0.0.3")
    assert_refused(no)
    ok = clients(srv.addr, "127.0.0.2")
    ok.send_msg(b"hello")
    if service == "discard":
        # Served: kept open (and silent), unlike the refused client.
        ok.expect_silence(0.5)
        ok.send_msg(b"more")
        ok.expect_silence(0.2)
    else:
        want = b"HELLO" if service == "upper" else b"hello"
        assert ok.recv_msg() == want


@pytest.mark.parametrize("order", ["allow-first", "deny-first"])
def test_deny_wins_over_allow(start_server, order):
    allow = ["--allow", "127.0.0.0/8"]
    deny = ["--deny", "127.0.0.3"]
    args = allow + deny if order == "allow-first" else deny + allow
    srv = echo(start_server, *args)
    check(srv, allowed=["127.0.0.1", "127.0.0.2", "127.0.0.4"], denied=["127.0.0.3"])


def test_deny_alone_allows_the_rest(start_server):
    srv = echo(start_server, "--deny", "127.0.0.3", "--deny", "127.0.0.8/30")
    check(srv, allowed=["127.0.0.1", "127.0.0.2", "127.0.0.7", "127.0.0.12"],
          denied=["127.0.0.3", "127.0.0.8", "127.0.0.11"])


def test_allow_list_refuses_the_rest(start_server):
    srv = echo(start_server, "--allow", "127.0.0.2", "--allow", "127.0.0.4/31")
    check(srv, allowed=["127.0.0.2", "127.0.0.4", "127.0.0.5"],
          denied=["127.0.0.1", "127.0.0.3", "127.0.0.6", "127.0.1.2"])


@pytest.mark.parametrize("spec", ["127.0.0.2/255.255.255.254", "127.0.0.2/31",
                                  "127.0.0.0/255.255.255.252"])
def test_cidr_with_dotted_mask(start_server, spec):
    srv = echo(start_server, "--allow", spec)
    if spec.startswith("127.0.0.0"):          # .0-.3
        check(srv, allowed=["127.0.0.1", "127.0.0.3"], denied=["127.0.0.4", "127.0.1.1"])
    else:                                     # .2-.3
        check(srv, allowed=["127.0.0.2", "127.0.0.3"], denied=["127.0.0.1", "127.0.0.4"])


def test_dotted_mask_deny(start_server):
    srv = echo(start_server, "--deny", "127.0.0.8/255.255.255.248")     # .8-.15
    check(srv, allowed=["127.0.0.7", "127.0.0.16"], denied=["127.0.0.8", "127.0.0.15"])


@needs_ipv6
@pytest.mark.parametrize("args,ok", [
    (["--deny", "::1"], False),
    (["--deny", "0:0:0:0:0:0:0:1"], False),
    (["--allow", "::1"], True),
    (["--allow", "::1/128"], True),
    (["--allow", "::/127"], True),
    (["--allow", "::2"], False),                    # an allow-list without ::1
    (["--allow", "::1", "--deny", "::/64"], False),  # deny wins
    (["--deny", "127.0.0.0/8"], True),              # an IPv4 rule: not ::1
    (["--allow", "127.0.0.1"], False),              # nor is an IPv4 allow
], ids=["deny", "deny-long-form", "allow", "allow-128", "allow-127", "allow-other",
        "deny-wins", "v4-deny", "v4-allow"])
def test_ipv6_loopback_rules(start_server, args, ok):
    srv = echo(start_server, *args, addr="tcp://[::1]:0")
    if ok:
        served(srv, "::1")
    else:
        refused(srv, "::1")


def dual_stack(start_server, *args):
    srv = echo(start_server, *args, addr="tcp://[::]:0")
    assert srv.addr.host == "::", srv.addr
    return srv


@needs_ipv6
def test_v4_mapped_peer_matched_as_ipv4(start_server, clients):
    srv = dual_stack(start_server, "--deny", "127.0.0.0/8")
    # An AF_INET client of a [::] listener: the server sees ::ffff:127.0.0.1.
    c = clients(("127.0.0.1", srv.port), "127.0.0.1")
    assert_refused(c)
    refused(srv, "127.0.0.2", ("127.0.0.1", srv.port))
    # A real IPv6 peer is not in 127.0.0.0/8.
    served(srv, "::1", ("::1", srv.port))


@needs_ipv6
def test_v4_mapped_peer_on_allow_list(start_server):
    srv = dual_stack(start_server, "--allow", "127.0.0.2")
    dest = ("127.0.0.1", srv.port)
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3", "127.0.0.1"], dest=dest)
    refused(srv, "::1", ("::1", srv.port))


@needs_ipv6
def test_v4_mapped_peer_not_matched_by_ipv6_rule(start_server):
    """Matched as the IPv4 address it is: ::/0 (every IPv6 address) does
    not cover an IPv4 peer that arrives mapped."""
    srv = dual_stack(start_server, "--deny", "::/0")
    served(srv, "127.0.0.2", ("127.0.0.1", srv.port))
    refused(srv, "::1", ("::1", srv.port))


# --------------------------------------------------------------- files

ALLOW_TEXT = """\
# who may connect

127.0.0.2   # the build host
127.0.0.4/31
\t
# 127.0.0.3 is commented out
127.0.0.16/255.255.255.248 # .16-.23
"""

DENY_TEXT = """\
# flaky ones

127.0.0.5 # deny wins over the allow-file's /31
127.0.0.20/30
"""


def test_file_rules_with_comments_and_blank_lines(start_server, tmp_path):
    allow = write_file(tmp_path / "allow.txt", ALLOW_TEXT)
    deny = write_file(tmp_path / "deny.txt", DENY_TEXT)
    srv = echo(start_server, "--allow-file", allow, "--deny-file", deny)
    check(srv, allowed=["127.0.0.2", "127.0.0.4", "127.0.0.16", "127.0.0.19"],
          denied=["127.0.0.1", "127.0.0.3", "127.0.0.5", "127.0.0.6",
                  "127.0.0.20", "127.0.0.23", "127.0.0.24"])


def test_file_and_command_line_rules_combine(start_server, tmp_path):
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "--allow-file", allow, "--allow", "127.0.0.3",
               "--deny", "127.0.0.2")
    check(srv, allowed=["127.0.0.3"], denied=["127.0.0.2", "127.0.0.4"])


def test_comment_only_deny_file_denies_nothing(start_server, tmp_path):
    """A deny-file of comments only denies nothing."""
    deny = write_file(tmp_path / "deny.txt", "# nothing yet\n\n")
    srv = echo(start_server, "--deny-file", deny)
    check(srv, allowed=["127.0.0.2", "127.0.0.3"])


# ------------------------------------------------------------- logging

def test_verbose_logs_each_refusal_with_rule(start_server, clients, tmp_path):
    deny = write_file(tmp_path / "deny.txt", "# line 1\n\n127.0.0.4   # line 3\n")
    srv = echo(start_server, "-v", "--allow", "127.0.0.0/24", "--deny", "127.0.0.3",
               "--deny", "127.0.0.6/31", "--deny-file", deny)
    base = len(srv.stderr_lines)

    def refusal(src):
        c = clients(srv.addr, src)
        assert_refused(c)
        peer = peer_of(c)
        i, _ = srv.wait_stderr(re.escape(peer) + r"(?!\d)", start=base)
        line = srv.stderr_lines[i]
        assert "refused" in line.lower(), line
        return line

    assert "--deny 127.0.0.3" in refusal("127.0.0.3")
    assert "--deny 127.0.0.6/31" in refusal("127.0.0.7")      # as written, not .6/31 normalized
    assert "deny.txt:3" in refusal("127.0.0.4")
    assert "no allow rule matches" in refusal("127.0.1.1")
    # An allowed client is not logged as refused.
    ok = clients(srv.addr, "127.0.0.2")
    roundtrip(ok)
    assert not any(peer_of(ok) in l for l in refusal_lines(srv, base)), srv.stderr_text()


def test_verbose_logs_allow_file_miss(start_server, clients, tmp_path):
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "-v", "--allow-file", allow)
    base = len(srv.stderr_lines)
    c = clients(srv.addr, "127.0.0.3")
    assert_refused(c)
    i, _ = srv.wait_stderr(re.escape(peer_of(c)) + r"(?!\d)", start=base)
    line = srv.stderr_lines[i]
    assert "refused" in line.lower() and "no allow rule matches" in line, line


def test_refusals_without_verbose_are_summarized(start_server, clients):
    srv = echo(start_server, "--deny", "127.0.0.3")
    base = len(srv.stderr_lines)
    peers = []
    for _ in range(20):
        c = clients(srv.addr, "127.0.0.3")
        assert_refused(c)
        peers.append(peer_of(c))
        c.close()
    served(srv, "127.0.0.2")
    time.sleep(0.5)           # whatever the refusals print, printed by now
    lines = refusal_lines(srv, base)
    assert len(lines) <= 2, "20 refusals without -v printed:\n" + "\n".join(lines)
    # No line per connection either.
    per_conn = [l for l in srv.stderr_lines[base:] if any(p in l for p in peers)]
    assert len(per_conn) <= 2, "\n".join(per_conn)
    assert srv.proc.poll() is None


# -------------------------------------------------------------- reload

def test_sighup_reload_applies_new_rules(start_server, clients, tmp_path):
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n127.0.0.4\n")
    srv = echo(start_server, "--allow-file", allow, "--deny", "127.0.0.4")
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3", "127.0.0.4"])
    before = clients(srv.addr, "127.0.0.2")        # allowed, and stays connected
    roundtrip(before)

    base = len(srv.stderr_lines)
    write_file(allow, "# swapped\n127.0.0.3\n127.0.0.4\n")
    srv.signal(signal.SIGHUP)
    srv.wait_stderr("reloaded", start=base)
    assert srv.proc.poll() is None
    # New rules for new connections; the command line's --deny still holds.
    check(srv, allowed=["127.0.0.3"], denied=["127.0.0.2", "127.0.0.4"])
    # A connection accepted under the old rules is not cut.
    roundtrip(before, b"still here")

    # Reloads repeat.
    base = len(srv.stderr_lines)
    write_file(allow, "127.0.0.0/29\n")
    srv.signal(signal.SIGHUP)
    srv.wait_stderr("reloaded", start=base)
    check(srv, allowed=["127.0.0.2", "127.0.0.3"], denied=["127.0.0.4", "127.0.0.9"])


def test_sighup_with_command_line_rules_only_keeps_serving(start_server):
    # Nothing to read again, but a server given rules is one that expects
    # SIGHUP to mean "reload", never "die".
    srv = echo(start_server, "--allow", "127.0.0.2")
    base = len(srv.stderr_lines)
    srv.signal(signal.SIGHUP)
    srv.wait_stderr("reloaded", start=base)
    assert srv.proc.poll() is None, "SIGHUP ended a server with access rules"
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])


def test_sighup_reloads_deny_file(start_server, tmp_path):
    deny = write_file(tmp_path / "deny.txt", "127.0.0.3\n")
    srv = echo(start_server, "--deny-file", deny)
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])
    base = len(srv.stderr_lines)
    write_file(deny, "127.0.0.2 # now this one\n")
    srv.signal(signal.SIGHUP)
    srv.wait_stderr("reloaded", start=base)
    check(srv, allowed=["127.0.0.3"], denied=["127.0.0.2"])


def test_sighup_emptied_allow_file_keeps_old_rules(start_server, tmp_path):
    # An allow file emptied by mistake must not open the door to everyone.
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "--allow-file", allow)
    base = len(srv.stderr_lines)
    write_file(allow, "# everyone out for now\n")
    srv.signal(signal.SIGHUP)
    i, _ = srv.wait_stderr(r"no network", start=base)
    assert "keeping" in srv.stderr_lines[i], srv.stderr_lines[i]
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])


def test_sighup_broken_file_keeps_old_rules(start_server, tmp_path):
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "--allow-file", allow)
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])

    base = len(srv.stderr_lines)
    write_file(allow, "127.0.0.3\nfoo\n")
    srv.signal(signal.SIGHUP)
    i, _ = srv.wait_stderr(r"allow\.txt:2\b", start=base)
    line = srv.stderr_lines[i]
    assert "keeping" in line, line
    assert srv.proc.poll() is None, "a bad reload ended the server"
    # The old rules, not the half that parsed.
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])

    # Fixed: the next SIGHUP loads it.
    base = len(srv.stderr_lines)
    write_file(allow, "127.0.0.3\n")
    srv.signal(signal.SIGHUP)
    i, _ = srv.wait_stderr("reloaded", start=base)
    assert "keeping" not in srv.stderr_lines[i], srv.stderr_lines[i]
    check(srv, allowed=["127.0.0.3"], denied=["127.0.0.2"])


@pytest.mark.parametrize("text,line,problem", [
    ("127.0.0.3\nfoo\n", "2 'foo'", "not"),
    ("127.0.0.3 127.0.0.4\n", "1 '127.0.0.3 127.0.0.4'", "one network a line"),
])
def test_file_errors_in_one_format(start_server, tmp_path, text, line, problem):
    """At start and on reload, a bad line reads FILE:LINE 'TEXT': PROBLEM,
    as the man page says, whatever the problem."""
    bad = write_file(tmp_path / "bad.txt", text)
    r = run_sockit(["listen", "-s", "echo", "--allow-file", bad, "tcp://127.0.0.1:0"], timeout=10)
    assert r.returncode == 2, r.stderr
    want = "%s:%s: " % (bad, line)
    first = r.stderr.decode().splitlines()[0]
    assert want in first and problem in first, first

    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "--allow-file", allow)
    base = len(srv.stderr_lines)
    write_file(allow, text)
    srv.signal(signal.SIGHUP)
    i, _ = srv.wait_stderr(r"allow\.txt:", start=base)
    reload_line = srv.stderr_lines[i]
    assert "%s:%s: " % (allow, line) in reload_line, reload_line
    assert "keeping the old access rules" in reload_line, reload_line


def test_sighup_missing_file_keeps_old_rules(start_server, tmp_path):
    """Not in the spec's words (it says a file that no longer parses):
    a file that is gone is read as no better than one that does not
    parse -- the old rules stay, and a line names the file."""
    allow = write_file(tmp_path / "allow.txt", "127.0.0.2\n")
    srv = echo(start_server, "--allow-file", allow)
    os.unlink(allow)
    base = len(srv.stderr_lines)
    srv.signal(signal.SIGHUP)
    i, _ = srv.wait_stderr(r"allow\.txt", start=base)
    assert "keeping" in srv.stderr_lines[i], srv.stderr_lines[i]
    assert srv.proc.poll() is None
    check(srv, allowed=["127.0.0.2"], denied=["127.0.0.3"])


# -------------------------------------------------------- usage errors

def _file(name, text):
    return ("file", name, text)


# (id, listen arguments before the address, substrings of the error line)
BAD_RULES = [
    # An allow list with no network would let everyone in: refused.
    ("empty-allow-file", ["--allow-file", _file("allow.txt", "# nobody yet\n\n")],
     ["allow.txt", "no network"]),
    ("octet-256", ["--allow", "10.0.0.256"], ["10.0.0.256"]),
    ("prefix-33", ["--allow", "1.2.3.4/33"], ["1.2.3.4/33"]),
    ("v6-prefix-129", ["--deny", "::/129"], ["::/129"]),
    ("word", ["--allow", "foo"], ["foo"]),
    ("empty", ["--deny", ""], ["--deny"]),
    ("empty-prefix", ["--allow", "10.0.0.0/"], ["10.0.0.0/"]),
    ("negative-prefix", ["--allow", "10.0.0.0/-1"], ["10.0.0.0/-1"]),
    ("two-prefixes", ["--deny", "10.0.0.0/8/8"], ["10.0.0.0/8/8"]),
    ("mask-not-contiguous", ["--deny", "10.0.0.0/255.0.255.0"], ["10.0.0.0/255.0.255.0"]),
    ("bad-mask-octet", ["--allow", "10.0.0.0/255.0.0.256"], ["10.0.0.0/255.0.0.256"]),
    ("bad-v6", ["--allow", "2001:db8::g"], ["2001:db8::g"]),
    ("v6-dotted-mask", ["--allow", "::1/255.255.255.0"], ["::1/255.255.255.0"]),
    ("allow-needs-value", ["--allow"], ["--allow"]),
    ("allow-file-missing", ["--allow-file", "/nonexistent"], ["/nonexistent"]),
    ("deny-file-missing", ["--deny-file", "/nonexistent/deny.txt"], ["/nonexistent/deny.txt"]),
    ("allow-file-line-2", ["--allow-file", _file("allow.txt", "127.0.0.1\nfoo\n")],
     ["allow.txt:2"]),
    ("deny-file-line-3", ["--deny-file", _file("deny.txt", "# c\n\n10.0.0.0/33 # no\n")],
     ["deny.txt:3"]),
    ("max-conns-per-ip-negative", ["--max-conns-per-ip", "-1"], ["--max-conns-per-ip", "-1"]),
    ("max-conns-per-ip-word", ["--max-conns-per-ip", "x"], ["--max-conns-per-ip", "'x'"]),
    ("rate-per-ip-zero", ["--rate-per-ip", "0/1"], ["--rate-per-ip", "0"]),
    ("rate-per-ip-zero-seconds", ["--rate-per-ip", "5/0"], ["--rate-per-ip", "5/0"]),
    ("rate-per-ip-word", ["--rate-per-ip", "x"], ["--rate-per-ip", "'x'"]),
    # For N/S, naming the part that is wrong will do.
    ("rate-per-ip-bad-seconds", ["--rate-per-ip", "5/x"], ["--rate-per-ip", "x"]),
    ("rate-per-ip-no-seconds", ["--rate-per-ip", "5/"], ["--rate-per-ip"]),
    ("rate-per-ip-negative", ["--rate-per-ip", "-1"], ["--rate-per-ip", "-1"]),
]


@pytest.mark.parametrize("args,expect", [(a, e) for _, a, e in BAD_RULES],
                         ids=[i for i, _, _ in BAD_RULES])
def test_bad_rules_are_usage_errors(tmp_path, args, expect):
    argv = ["listen", "-s", "echo"]
    for a in args:
        if isinstance(a, tuple):
            a = write_file(tmp_path / a[1], a[2])
        argv.append(a)
    if args != ["--allow"]:
        argv.append("tcp://127.0.0.1:0")
    r = run_sockit(argv, timeout=10)
    err = r.stderr.decode("utf-8", "replace")
    for mark in SANITIZER_MARKS + ("Traceback",):
        assert mark not in err, err
    assert r.returncode == 2, (r.returncode, err)
    assert r.stdout == b"", r.stdout
    assert "listening on" not in err, err
    lines = [l for l in err.splitlines() if l.strip()]
    # One line naming the problem (the usual hint where to read more may follow).
    assert lines, "no message on stderr"
    hint = "Try 'sockit listen --help' for more information."
    assert len(lines) == 1 or lines[1:] == [hint], "more than one line:\n" + err
    assert "unknown option" not in lines[0], lines[0]
    for want in expect:
        assert want in lines[0], (want, lines[0])


@pytest.mark.parametrize("args,network,allowed,denied", [
    (["--allow", "127.0.0.1/8"], "127.0.0.0/8", ["127.0.0.2", "127.0.1.1"], []),
    (["--allow", "127.0.0.5/30"], "127.0.0.4/30", ["127.0.0.4", "127.0.0.7"],
     ["127.0.0.3", "127.0.0.8"]),
    (["--deny", "127.0.0.9/29"], "127.0.0.8/29", ["127.0.0.2", "127.0.0.7", "127.0.0.16"],
     ["127.0.0.8", "127.0.0.15"]),
    (["--allow", "127.0.0.5/255.255.255.252"], "127.0.0.4/30", ["127.0.0.4", "127.0.0.7"],
     ["127.0.0.3", "127.0.0.8"]),
], ids=["allow-8", "allow-30", "deny-29", "allow-dotted"])
def test_host_bits_warning(start_server, args, network, allowed, denied):
    srv = echo(start_server, *args)
    warn = [l for l in srv.stderr_lines if "host bits" in l]
    assert warn, "no warning about host bits:\n" + srv.stderr_text()
    assert network in warn[0], warn[0]
    check(srv, allowed=allowed, denied=denied)


def test_host_bits_in_file_warns_with_line(start_server, tmp_path):
    allow = write_file(tmp_path / "allow.txt", "# nets\n127.0.0.5/30\n")
    srv = echo(start_server, "--allow-file", allow)
    warn = [l for l in srv.stderr_lines if "host bits" in l]
    assert warn and "127.0.0.4/30" in warn[0], srv.stderr_text()
    check(srv, allowed=["127.0.0.6"], denied=["127.0.0.3"])


# ----------------------------------------------------------------- TLS

def tls_from(addr, src, timeout=IO_TIMEOUT):
    """A Python TLS client (no verification) from source address src."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(scaled(timeout))
    try:
        raw.bind((src, 0))
        raw.connect((addr.host, addr.port))
        s = client_context(verify=False).wrap_socket(raw, server_hostname=addr.host,
                                                     suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise
    return Conn(s, "line")


def test_tls_refused_before_handshake(tls_server):
    srv = tls_server("-s", "echo", "-f", "line", "--allow", "127.0.0.2", "tls://127.0.0.1:0")
    assert srv.addr.tls

    # Allowed: the handshake completes (self-signed, unverified) and echoes.
    ok = tls_from(srv.addr, "127.0.0.2")
    try:
        assert ok.sock.version() in ("TLSv1.2", "TLSv1.3")
        roundtrip(ok, b"over tls")
    finally:
        ok.close()

    # Refused: a real ClientHello gets no ServerHello -- not one byte.
    raw = tcp_from(srv.addr, "127.0.0.3", framing="raw")
    try:
        assert_refused(raw, probe=client_hello())
    finally:
        raw.close()

    # Refused, seen by Python's ssl: the handshake fails with EOF or reset.
    try:
        c = tls_from(srv.addr, "127.0.0.3")
    except socket.timeout:
        raise AssertionError("a refused TLS client was neither served nor closed")
    except (ssl.SSLError, ConnectionError):
        pass
    else:
        c.close()
        raise AssertionError("a refused client completed the TLS handshake (%s)" % c.sock.version())


def test_tls_refused_openssl_s_client(tls_server):
    """openssl s_client (source 127.0.0.1, not allowed) gets no certificate."""
    srv = tls_server("-s", "echo", "--allow", "127.0.0.2", "tls://127.0.0.1:0")
    try:
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(20))
    except FileNotFoundError:
        pytest.skip("no openssl")
    out = r.stdout.decode(errors="replace")
    assert "BEGIN CERTIFICATE" not in out, out
    assert "Cipher is (NONE)" in out or r.returncode != 0, (r.returncode, out)
    # Still serving the allowed source.
    ok = tls_from(srv.addr, "127.0.0.2")
    try:
        roundtrip(ok, b"after s_client")
    finally:
        ok.close()


# ----------------------------------------------------------------- UDP

def udp_from(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(scaled(IO_TIMEOUT))
    s.bind((src, 0))
    return s


@pytest.mark.parametrize("rule", [["--deny", "127.0.0.3"], ["--allow", "127.0.0.2"]],
                         ids=["deny", "allow"])
def test_udp_refused_datagrams_dropped(start_server, rule):
    srv = start_server("-s", "echo", *rule, "udp://127.0.0.1:0")
    dest = (srv.addr.host, srv.addr.port)
    good, bad = udp_from("127.0.0.2"), udp_from("127.0.0.3")
    try:
        for i in range(3):
            bad.sendto(b"drop me %d" % i, dest)
            msg = b"echo me %d" % i
            good.sendto(msg, dest)
            data, frm = good.recvfrom(65536)
            assert (data, frm[1]) == (msg, srv.port)
        # Sent before the allowed ones were echoed: had it been answered,
        # the answer would be here by now.
        helpers.expect_silence(bad, 0.5)
    finally:
        good.close()
        bad.close()


# ---------------------------------------------------------- chat, stdio

def test_chat_refused_client_never_joins(start_server, clients):
    srv = start_server("-s", "chat", "--deny", "127.0.0.3", "tcp://127.0.0.1:0")
    c1 = clients(srv.addr, "127.0.0.2")
    assert c1.recv_text() == "* you are guest1; here: guest1"
    no = clients(srv.addr, "127.0.0.3")
    assert_refused(no, probe=b"hello room\n")
    # No greeting for it, no join (or leave, or message) for those inside:
    # c1's next message is c2's join, and the refused one took no guest name.
    c2 = clients(srv.addr, "127.0.0.2")
    assert c2.recv_text() == "* you are guest2; here: guest1, guest2"
    assert c1.recv_text() == "* guest2 joined"
    c2.send_text("hi")
    assert c1.recv_text() == "guest2: hi"


def udp_lines(sock, port):
    """The '\\n'-separated messages of the next datagram from port."""
    while True:
        data, frm = sock.recvfrom(65536)
        if frm[1] == port:
            return data.decode().rstrip("\n").split("\n")


def test_chat_udp_refused_sender_never_joins(start_server):
    srv = start_server("-s", "chat", "--deny", "127.0.0.3", "udp://127.0.0.1:0")
    dest = (srv.addr.host, srv.port)
    u1, bad, u2 = udp_from("127.0.0.2"), udp_from("127.0.0.3"), udp_from("127.0.0.2")
    got1 = []

    def next1():
        while not got1:
            got1.extend(udp_lines(u1, srv.port))
        return got1.pop(0)

    try:
        u1.sendto(b"/who\n", dest)
        assert next1() == "* you are guest1; here: guest1"
        assert next1() == "* here: guest1"
        bad.sendto(b"hello room\n", dest)
        bad.sendto(b"/who\n", dest)
        u2.sendto(b"/who\n", dest)
        got2 = []
        while len(got2) < 2:
            got2.extend(udp_lines(u2, srv.port))
        # The refused sender took no name and is nobody's peer.
        assert got2[:2] == ["* you are guest2; here: guest1, guest2", "* here: guest1, guest2"]
        assert next1() == "* guest2 joined"
        helpers.expect_silence(bad, 0.3)
    finally:
        for u in (u1, bad, u2):
            u.close()


def test_stdio_refused_client_gets_nothing(start_server, clients):
    """stdio serves one client: a refused one is not it -- it gets none of
    stdin, its bytes reach no stdout, and the server waits on."""
    srv = start_server("--deny", "127.0.0.3", "tcp://127.0.0.1:0",
                       stdin=subprocess.PIPE, capture_stdout=True)
    srv.proc.stdin.write(b"from the server\n")
    srv.proc.stdin.flush()
    no = clients(srv.addr, "127.0.0.3", "raw")
    assert_refused(no, probe=b"secret\n")
    assert srv.proc.poll() is None, "the refused client ended the stdio server"
    ok = clients(srv.addr, "127.0.0.2", "line")
    assert ok.recv_line() == b"from the server"
    ok.sendall(b"hello\n")
    srv.wait_stdout(b"hello\n")
    ok.close()
    assert srv.wait_exit() == 0
    assert srv.stdout_bytes() == b"hello\n"


# ---------------------------------------------------------------- Unix

@pytest.mark.parametrize("rule", [["--allow", "10.0.0.0/8"], ["--deny", "127.0.0.0/8"],
                                  ["--max-conns-per-ip", "1"]],
                         ids=["allow", "deny", "max-conns-per-ip"])
def test_unix_only_listener_and_ip_rules(sockdir, conns, rule):
    """Unix peers have no IP address, so rules cannot apply to them.  The
    spec's reading is that a Unix client is served regardless; this
    implementation instead refuses rules on a server whose every address
    is a Unix socket, as a usage error.  Either is accepted here: served,
    or exit 2 with one line saying why (and no socket left behind)."""
    path = "%s/a.sock" % sockdir
    argv = ["listen", "-s", "echo", "-f", "line"] + rule + ["unix:" + path]
    p = helpers.Proc(argv)
    try:
        got = poll_until(lambda: any("listening on" in l for l in p.stderr_lines)
                         or p.proc.poll() is not None, 10)
        assert got, "neither listening nor exited:\n" + p.stderr_text()
        if any("listening on" in l for l in p.stderr_lines):
            for i in range(2):         # served, rule or not (twice: per-ip 1)
                c = conns(helpers.Addr("unix:" + path), "line")
                c.send_msg(b"no address, no rule")
                assert c.recv_msg() == b"no address, no rule"
            p.signal(signal.SIGTERM)
            assert p.wait_exit() == 0
            return
        assert p.wait_exit() == 2, p.stderr_text()
        p.finish_drains()
        lines = [l for l in p.stderr_lines if l.strip()]
        hint = "Try 'sockit listen --help' for more information."
        assert lines and (len(lines) == 1 or lines[1:] == [hint]), p.stderr_text()
        assert "unix" in lines[0].lower(), lines[0]
        assert not os.path.exists(path)
    finally:
        p.kill()


def test_unix_and_tcp_listeners_with_ip_rules(tls_server, sockdir, conns):
    """One server, two addresses: the rule refuses the TCP peer and leaves
    the Unix one alone."""
    srv = tls_server("-s", "echo", "-f", "line", "--allow", "10.0.0.0/8",
                     "unix:%s/b.sock" % sockdir, "tcp://127.0.0.1:0", addresses=2)
    by = {a.transport: a for a in srv.addrs}
    c = conns(by["unix"], "line")
    c.send_msg(b"unix")
    assert c.recv_msg() == b"unix"
    refused(srv, "127.0.0.1", by["tcp"])


# ------------------------------------------------------ per-source limits

def first_served(srv, src, timeout=10):
    """Polls with new connections from src until one is served; returns
    that connection, still open (bounded)."""
    def attempt():
        c = tcp_from(srv.addr, src, timeout=5)
        try:
            roundtrip(c)
            return c
        except (EOFError, OSError):
            c.close()
            return None
    c = poll_until(attempt, timeout, interval=0.05)
    assert c, "no connection from %s served within %s s" % (src, timeout)
    return c


def test_max_conns_per_ip(start_server, clients):
    srv = echo(start_server, "-v", "--max-conns-per-ip", "3")
    held = [clients(srv.addr, "127.0.0.2") for _ in range(3)]
    for c in held:
        roundtrip(c)
    base = len(srv.stderr_lines)
    extra = clients(srv.addr, "127.0.0.2")
    assert_refused(extra)
    i, _ = srv.wait_stderr(re.escape(peer_of(extra)) + r"(?!\d)", start=base)
    assert "refused" in srv.stderr_lines[i].lower(), srv.stderr_lines[i]
    # Another source is counted on its own.
    other = [clients(srv.addr, "127.0.0.3") for _ in range(3)]
    for c in other:
        roundtrip(c)
    refused(srv, "127.0.0.3")
    # The held ones are unaffected.
    for c in held:
        roundtrip(c, b"still")
    # One leaves: one more from 127.0.0.2 gets in (noticed asynchronously:
    # polled), and no more than one.
    held[0].close()
    again = first_served(srv, "127.0.0.2")
    try:
        refused(srv, "127.0.0.2")
    finally:
        again.close()


def test_refusals_are_counted(start_server, clients):
    """-v's last line sums up who was let in and what turned the others
    away, each cause counted."""
    srv = echo(start_server, "-v", "--deny", "127.0.0.4", "--max-conns-per-ip", "1",
               "--rate-per-ip", "2/60")
    held = clients(srv.addr, "127.0.0.2")
    roundtrip(held)
    refused(srv, "127.0.0.2")            # per source: 127.0.0.2 holds one
    refused(srv, "127.0.0.4")            # access rule
    refused(srv, "127.0.0.4")
    # 127.0.0.3 spends its bucket of 2, one connection at a time (each
    # seen gone before the next, so that its per-source limit of 1 never
    # decides), and the third is refused by rate.
    def gone(n):
        return poll_until(lambda: sum("127.0.0.3" in l and "disconnected" in l
                                      for l in srv.stderr_lines) >= n, 5)
    served(srv, "127.0.0.3")
    assert gone(1)
    served(srv, "127.0.0.3")
    assert gone(2)
    refused(srv, "127.0.0.3")            # rate: the bucket is empty
    held.close()
    assert srv.stop() == 0
    srv.finish_drains()
    last = [l for l in srv.stderr_lines if "let in" in l]
    assert last == ["sockit: listen: 3 let in; refused 2 by access rules, 1 per source, "
                    "1 by rate"], srv.stderr_text()


def test_max_conns_per_ip_zero_is_no_limit(start_server, clients):
    """--help: 0 means no limit (as for --max-conns)."""
    srv = echo(start_server, "--max-conns-per-ip", "0")
    held = [clients(srv.addr, "127.0.0.2") for _ in range(8)]
    for c in held:
        roundtrip(c)


@needs_ipv6
def test_max_conns_per_ip_ipv6(start_server, clients):
    srv = echo(start_server, "--max-conns-per-ip", "1", addr="tcp://[::1]:0")
    first = clients(srv.addr, "::1")
    roundtrip(first)
    refused(srv, "::1")
    first.close()
    first_served(srv, "::1").close()


@pytest.mark.parametrize("spec,n,seconds", [("3/2", 3, 2.0), ("2", 2, 1.0)],
                         ids=["3-per-2s", "2-per-default-1s"])
def test_rate_per_ip(start_server, clients, spec, n, seconds):
    srv = echo(start_server, "-v", "--rate-per-ip", spec)

    def burst(src):
        """n+1 connections at once: n served, the last refused (the bucket
        refills one token per seconds/n, far longer than a burst takes)."""
        t0 = time.monotonic()
        cs = [clients(srv.addr, src) for _ in range(n + 1)]
        took = time.monotonic() - t0
        assert took < seconds / n / 2, "the burst itself took %.2f s" % took
        for c in cs[:n]:
            roundtrip(c)
        assert_refused(cs[n])
        i, _ = srv.wait_stderr(re.escape(peer_of(cs[n])) + r"(?!\d)")
        assert "refused" in srv.stderr_lines[i].lower(), srv.stderr_lines[i]
        for c in cs:
            c.close()

    t0 = time.monotonic()
    burst("127.0.0.2")
    burst("127.0.0.3")          # another source, its own bucket
    # After `seconds`, the bucket is full again.
    left = t0 + seconds * 1.2 + 0.1 - time.monotonic()
    if left > 0:
        time.sleep(left)
    burst("127.0.0.2")
