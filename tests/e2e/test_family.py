"""-4 and -6: host names resolve to one family only, for listen, connect
and bench.  `localhost` is given both ::1 and 127.0.0.1 (a private mount
namespace with its own /etc/hosts, as in test_resolve.py), and two Python
servers share one port, one on ::1 only and one on 127.0.0.1 only: which
one answers says which family was used."""

import os
import shutil
import socket
import subprocess
import threading

import pytest

from helpers import IO_TIMEOUT, has_ipv6_loopback, run_sockit, scaled, sockit_bin


def _can_unshare():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
needs_hosts = pytest.mark.skipif(not (_can_unshare() and has_ipv6_loopback()),
                                 reason="needs root, unshare --mount and IPv6")

# ::1 first, as many systems list it: without -4 a client tries it first.
HOSTS = "::1 localhost\n127.0.0.1 localhost\n"


def with_hosts(tmp_path, args):
    """The command line that runs sockit ARGS with HOSTS as /etc/hosts."""
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, "sh", str(hosts), sockit_bin()] + list(args)


def run_with_hosts(tmp_path, args, timeout=20):
    return subprocess.run(with_hosts(tmp_path, args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=scaled(timeout))


class TwoServers:
    """One port, bound on ::1 by one server and on 127.0.0.1 by the other;
    each answers every line with its family's name."""

    def __init__(self):
        self.v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.v6.bind(("::1", 0))
        self.port = self.v6.getsockname()[1]
        self.v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.v4.bind(("127.0.0.1", self.port))
        self.threads = []
        for s, name in ((self.v6, b"v6"), (self.v4, b"v4")):
            s.listen(4)
            s.settimeout(scaled(IO_TIMEOUT))
            t = threading.Thread(target=self._serve, args=(s, name), daemon=True)
            t.start()
            self.threads.append(t)

    @staticmethod
    def _serve(s, name):
        try:
            c, _ = s.accept()
        except OSError:
            return
        with c:
            c.settimeout(scaled(IO_TIMEOUT))
            try:
                while not c.recv(64).endswith(b"\n"):
                    pass
                c.sendall(name + b"\n")
            except OSError:
                pass

    def close(self):
        self.v6.close()
        self.v4.close()


@pytest.fixture
def two_servers():
    try:
        s = TwoServers()
    except OSError as e:
        pytest.skip("cannot bind one port on both loopbacks: %s" % e)
    yield s
    s.close()


@needs_hosts
@pytest.mark.parametrize("flag, family", [(None, "v6"), ("-4", "v4"), ("-6", "v6"), ("--ipv4", "v4")])
def test_connect_localhost(tmp_path, two_servers, flag, family):
    args = ["connect", "-f", "line", "--send", "which", "--timeout", "5"]
    args += [flag] if flag else []
    r = run_with_hosts(tmp_path, args + ["localhost:%d" % two_servers.port])
    assert r.returncode == 0, r.stderr
    assert r.stdout == family.encode() + b"\n"


@needs_hosts
@pytest.mark.parametrize("flag, shown", [("-4", "tcp://127.0.0.1:"), ("-6", "tcp://[::1]:")])
def test_listen_localhost(tmp_path, flag, shown):
    p = subprocess.Popen(with_hosts(tmp_path, ["listen", flag, "-s", "echo", "localhost:0"]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = p.stderr.readline().decode()
        assert line.startswith("listening on " + shown), line
    finally:
        p.terminate()
        assert p.wait(scaled(10)) == 0
        p.stderr.close()


@needs_hosts
def test_bench_localhost_ipv6(tmp_path, start_server):
    srv = start_server("-v", "-s", "echo", "-f", "line", "tcp://[::1]:0")
    r = run_with_hosts(tmp_path, ["bench", "-6", "-q", "-c", "1", "-n", "5", "localhost:%d" % srv.port])
    assert r.returncode == 0, r.stderr
    srv.wait_stderr(r"connection from \[::1\]:\d+$")


def test_listen_ipv4_localhost(start_server):
    srv = start_server("-4", "-s", "echo", "localhost:0")
    assert srv.addr.host == "127.0.0.1"


@needs_ipv6
def test_missing_host_under_ipv6_is_the_ipv6_loopback(start_server):
    srv = start_server("-6", "-s", "upper", "-f", "line", ":0")
    assert srv.addr.text == "tcp://[::1]:%d" % srv.port
    r = run_sockit(["connect", "-6", "-f", "line", "--send", "six", ":%d" % srv.port], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"SIX\n"


@needs_ipv6
def test_udp_ipv6(start_server):
    srv = start_server("-6", "-s", "upper", "udp://:0")
    assert srv.addr.text == "udp://[::1]:%d" % srv.port
    r = run_sockit(["connect", "-6", "--send", "d", "udp://:%d" % srv.port], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"D"



def one_family_name():
    """A name of this host with addresses in one family only, and the
    flag that asks for the other: (name, flag, "IPv4"/"IPv6"), or None."""
    for name in ("localhost", "ip6-localhost", "ip6-loopback"):
        fams = set()
        for fam in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.getaddrinfo(name, 1, fam, socket.SOCK_STREAM)
                fams.add(fam)
            except socket.gaierror:
                pass
        if fams == {socket.AF_INET}:
            return name, "-6", "IPv6"
        if fams == {socket.AF_INET6}:
            return name, "-4", "IPv4"
    return None


def test_a_name_without_the_family_asked_for_says_so():
    """-6 with a name that has no IPv6 address (or -4 and no IPv4 one)
    says that, not the resolver's "unknown node or service"."""
    found = one_family_name()
    if found is None:
        pytest.skip("no name of this host with addresses in one family only")
    name, flag, want = found
    expect = "%s has no %s address (%s)" % (name, want, flag)
    for args in (["connect", flag, "%s:1" % name], ["listen", flag, "%s:0" % name],
                 ["connect", "-zv", flag, "%s:1" % name]):
        r = run_sockit(args, input=b"", timeout=scaled(10))
        assert r.returncode == 1, (args, r.stderr)
        assert expect in r.stderr.decode(), (args, r.stderr)
    source = "[::1]" if flag == "-6" else "127.0.0.1"
    r = run_sockit(["connect", "--source", source, "%s:1" % name], input=b"", timeout=scaled(10))
    assert "%s has no %s address (--source %s is %s)" % (name, want, source, want) \
        in r.stderr.decode(), r.stderr
