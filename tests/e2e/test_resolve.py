"""A name with several addresses: connect tries each in turn, as netcat
does.  A private mount namespace gives the name ::1 first and 127.0.0.1
second while the server listens on 127.0.0.1 only, so the first try is
refused and the second must succeed."""
import os
import shutil
import subprocess

import pytest

from helpers import sockit_bin


def _can_unshare():
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare --mount")
def test_connect_tries_every_address(start_server, tmp_path):
    srv = start_server("-s", "upper", "-f", "line", "tcp://127.0.0.1:0")
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 sockit-two\n127.0.0.1 sockit-two\n")
    script = ('mount --bind "$1" /etc/hosts && getent ahosts sockit-two | head -1 && '
              'exec "$2" connect -f line --send hello --timeout 5 sockit-two:"$3"')
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(hosts),
                        sockit_bin(), str(srv.addr.port)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    out = r.stdout.decode()
    assert out.startswith("::1"), out  # the refused address comes first
    assert r.returncode == 0, r.stderr
    assert out.splitlines()[1:] == ["HELLO"]
