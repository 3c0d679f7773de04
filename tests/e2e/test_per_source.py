"""The per-source limits count an IPv6 client by its /64 network, as the
man page says: one host usually holds a whole /64, so counting single
addresses would let it open one connection per address.

Loopback has one IPv6 address, so the test makes a network namespace of its
own (unshare -n, root only) with three addresses on its lo: two in one /64,
one in another.  Everything runs inside that namespace and nothing leaves
it.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import sockit_bin

INSIDE = r"""
import re, socket, subprocess, sys, time

sockit = sys.argv[1]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for a in ("2001:db8:1::1", "2001:db8:1::2", "2001:db8:2::1"):
    subprocess.run(["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"], check=True)

srv = subprocess.Popen([sockit, "listen", "-v", "-s", "echo", "--max-conns-per-ip", "1"]
                       + sys.argv[2:] + ["tcp://[2001:db8:1::1]:0"],
                       stderr=subprocess.PIPE, text=True)
line = srv.stderr.readline()
port = int(re.search(r":(\d+)$", line.strip()).group(1))

def echo(src):
    s = socket.socket(socket.AF_INET6)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("2001:db8:1::1", port))
    try:
        s.sendall(b"hi\n")
        got = s.recv(100)
    except ConnectionResetError:
        got = b""
    return s, got

held, first = echo("2001:db8:1::1")
_, same64 = echo("2001:db8:1::2")
_, other64 = echo("2001:db8:2::1")
print("first=%r same64=%r other64=%r" % (first, same64, other64))
srv.terminate()
out = srv.communicate(timeout=10)[1]
print("status=%d" % srv.returncode)
print(out)
"""


def _can_unshare():
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


def _inside(*extra):
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", INSIDE, sockit_bin()] + list(extra),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -n")
def test_ipv6_sources_are_counted_per_64():
    out = _inside()
    assert "first=b'hi\\n'" in out
    # 2001:db8:1::2 shares 2001:db8:1::/64 with the connection held open.
    assert "same64=b''" in out
    assert "other64=b'hi\\n'" in out
    assert "status=0" in out
    assert re.search(r"refused connection from \[2001:db8:1::2\]:\d+ \(already 1 open "
                     r"from 2001:db8:1::2's network", out), out


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -n")
def test_ipv4_rules_never_match_an_ipv6_source():
    # 2001:db8:1::2 is no IPv4 address: an IPv4 deny rule leaves it alone,
    # and an IPv6 one refuses it.
    out = _inside("--deny", "0.0.0.0/0", "--deny", "2001:db8:2::/64")
    assert "first=b'hi\\n'" in out
    assert "other64=b''" in out
    assert "rule --deny 2001:db8:2::/64" in out
