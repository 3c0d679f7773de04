"""Ports by service name, looked up in the services database
(/etc/services) for the address's transport: `localhost:http` is port 80,
`udp://127.0.0.1:domain` port 53.  Nothing here talks to a well-known
port: the low ones are checked on a path that fails before any packet
leaves, and real traffic uses a named port above 1024 that is free now."""

import os
import socket

import pytest

from helpers import Dgram, run_sockit

pytestmark = pytest.mark.skipif(not os.path.exists("/etc/services"),
                                reason="no /etc/services (Debian: netbase)")


def services(proto):
    """{name: port} of /etc/services for proto, aliases included."""
    out = {}
    with open("/etc/services") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) < 2 or "/" not in words[1]:
                continue
            port, p = words[1].split("/", 1)
            if p == proto:
                for name in [words[0]] + words[2:]:
                    out.setdefault(name, int(port))
    return out


def free_named_port(proto):
    """A service name of proto whose port is above 1024 and free on
    127.0.0.1 right now, and that port."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    for name, port in sorted(services(proto).items(), key=lambda kv: -kv[1]):
        if port <= 1024 or not name[0].isalpha():
            continue
        assert socket.getservbyname(name, proto) == port
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        return name, port
    pytest.skip("no free %s port above 1024 with a service name" % proto)


def test_tcp_service_name_listen_and_connect(start_server):
    name, port = free_named_port("tcp")
    srv = start_server("-s", "upper", "-f", "line", "127.0.0.1:" + name)
    # The ready line shows the number: the name was looked up.
    assert srv.addr.text == "tcp://127.0.0.1:%d" % port
    r = run_sockit(["connect", "-f", "line", "--send", "named", "localhost:" + name], timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"NAMED\n"


def test_udp_service_name(start_server):
    name, port = free_named_port("udp")
    srv = start_server("-s", "echo", "udp://127.0.0.1:" + name)
    assert srv.addr.text == "udp://127.0.0.1:%d" % port
    u = Dgram(srv.addr)
    try:
        u.send(b"by name")
        assert u.recv() == b"by name"
    finally:
        u.close()


@pytest.mark.parametrize("address, shown", [
    ("localhost:http", "tcp://localhost:80"),
    ("tls://localhost:https", "tls://localhost:443"),
    ("udp://127.0.0.1:domain", "udp://127.0.0.1:53"),
])
def test_well_known_names_resolve_to_their_numbers(address, shown):
    # A source that is nobody's address stops the connect at its bind,
    # before a packet leaves, with a message that shows the address.
    tls = ["--insecure"] if address.startswith("tls") else []  # says so first
    r = run_sockit(["connect"] + tls + ["--send", "x", "--source", "192.0.2.1", address], timeout=20)
    assert r.returncode == 1
    last = r.stderr.decode().splitlines()[-1]
    assert last.startswith("sockit: connect %s: --source 192.0.2.1: " % shown), r.stderr


def test_a_name_is_looked_up_for_its_transport():
    tcp, udp = services("tcp"), services("udp")
    only_tcp = sorted(n for n in tcp if n not in udp and n[0].isalpha() and len(n) <= 32)
    if not only_tcp:
        pytest.skip("every TCP service name is a UDP one too here")
    name = only_tcp[0]
    r = run_sockit(["listen", "-s", "echo", "udp://127.0.0.1:" + name], timeout=10)
    assert r.returncode == 2
    assert r.stderr.decode().splitlines()[0] == (
        "sockit: listen: bad address 'udp://127.0.0.1:%s': unknown udp service '%s' "
        "(see /etc/services)" % (name, name))
