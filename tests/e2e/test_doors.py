"""Several doors, one service: `sockit listen ADDRESS ADDRESS...` serves
every address with one service instance (one chat room whose members come
in over TCP, TLS and a Unix socket), prints one `listening on` line per
address in the order given, refuses a bad address as a whole, and removes
its Unix socket files when it stops."""

import os
import re
import socket

import pytest

from helpers import Conn, run_sockit
from tlscerts import (  # noqa: F401 -- tls_certs and tls_server are fixtures
    TLSConn, client_context, server_args, tls_certs, tls_server)


def test_chat_one_room_three_doors(tls_certs, tls_server, sockdir):
    path = sockdir + "/chat.sock"
    srv = tls_server("-s", "chat", *server_args(tls_certs.server),
                     "tcp://127.0.0.1:0", "tls://127.0.0.1:0", "unix:" + path, addresses=3)
    tcp, tls, unix = srv.addrs
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", tcp.text), tcp.text
    assert re.fullmatch(r"tls://127\.0\.0\.1:\d+", tls.text), tls.text
    assert unix.text == "unix:" + path
    assert tcp.port != tls.port

    plain = Conn.connect(tcp, "line")
    secure = TLSConn.connect(tls, client_context(tls_certs.ca), "line")
    local = Conn.connect(unix, "line")
    try:
        # Joins, in the order they came, whatever the door.
        assert plain.recv_text() == "* you are guest1; here: guest1"
        assert secure.recv_text() == "* you are guest2; here: guest1, guest2"
        assert plain.recv_text() == "* guest2 joined"
        assert local.recv_text() == "* you are guest3; here: guest1, guest2, guest3"
        assert plain.recv_text() == "* guest3 joined"
        assert secure.recv_text() == "* guest3 joined"

        # Each one's line reaches the two others, never its sender.
        plain.send_text("from tcp")
        assert secure.recv_text() == "guest1: from tcp"
        assert local.recv_text() == "guest1: from tcp"
        secure.send_text("from tls")
        assert plain.recv_text() == "guest2: from tls"
        assert local.recv_text() == "guest2: from tls"
        local.send_text("from unix")
        assert plain.recv_text() == "guest3: from unix"
        assert secure.recv_text() == "guest3: from unix"

        # One list of names.
        secure.send_text("/nick tess")
        assert secure.recv_text() == "* you are now tess"
        assert plain.recv_text() == "* guest2 is now tess"
        assert local.recv_text() == "* guest2 is now tess"
        local.send_text("/who")
        assert local.recv_text() == "* here: guest1, tess, guest3"
        plain.send_text("/nick tess")
        assert plain.recv_text() == "* error: name taken: tess"

        # Leaving through one door is seen at the others.
        secure.close()
        assert plain.recv_text() == "* tess left"
        assert local.recv_text() == "* tess left"
        plain.send_text("/who")
        assert plain.recv_text() == "* here: guest1, guest3"
    finally:
        for c in (plain, secure, local):
            c.close()


def test_echo_serves_both_addresses(tls_server, sockdir):
    """Two doors, Unix first: both `listening on` lines in that order, both
    served at once; on SIGTERM the server exits 0 and removes its socket
    file."""
    path = sockdir + "/echo.sock"
    srv = tls_server("-s", "echo", "-f", "line", "unix:" + path, "tcp://127.0.0.1:0",
                     addresses=2)
    assert srv.addrs[0].text == "unix:" + path
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", srv.addrs[1].text)
    a = Conn.connect(srv.addrs[0], "line")
    b = Conn.connect(srv.addrs[1], "line")
    try:
        a.send_msg(b"through unix")
        b.send_msg(b"through tcp")
        assert b.recv_msg() == b"through tcp"
        assert a.recv_msg() == b"through unix"
    finally:
        a.close()
        b.close()
    assert os.path.exists(path)
    assert srv.stop() == 0
    assert not os.path.exists(path), "socket file left after SIGTERM"


def test_sigterm_removes_every_unix_socket_file(tls_certs, tls_server, sockdir):
    paths = [sockdir + "/one.sock", sockdir + "/two.sock"]
    srv = tls_server("-s", "chat", *server_args(tls_certs.server), "unix:" + paths[0],
                     "tls://127.0.0.1:0", "unix:" + paths[1], addresses=3)
    assert [a.text for a in srv.addrs[0::2]] == ["unix:" + p for p in paths]
    c = Conn.connect(srv.addrs[2], "line")
    assert c.recv_text() == "* you are guest1; here: guest1"
    c.close()
    assert all(os.path.exists(p) for p in paths)
    assert srv.stop() == 0
    assert not any(os.path.exists(p) for p in paths), os.listdir(sockdir)


@pytest.mark.parametrize("bad", ["bogus://127.0.0.1:1", "tcp://127.0.0.1:99999"])
def test_bad_second_address_is_a_usage_error(sockdir, bad):
    """Second, it is refused as it would be alone (not as an extra
    argument), and nothing is left listening."""
    alone = run_sockit(["listen", "-s", "echo", bad], timeout=10)
    assert alone.returncode == 2, alone.stderr
    path = sockdir + "/first.sock"
    r = run_sockit(["listen", "-s", "echo", "unix:" + path, bad], timeout=10)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode()
    first = err.splitlines()[0]
    assert first.startswith("sockit: ") and bad in first, err
    assert first == alone.stderr.decode().splitlines()[0]
    assert "listening on" not in err
    assert not os.path.exists(path)


def test_second_address_in_use_fails_whole(sockdir):
    """A door that cannot open fails the run (exit 1) with a message that
    names it; the door opened before it does not stay behind."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        busy = "tcp://127.0.0.1:%d" % holder.getsockname()[1]
        path = sockdir + "/first.sock"
        r = run_sockit(["listen", "-s", "echo", "unix:" + path, busy], timeout=10)
        assert r.returncode == 1, r.stderr
        err = r.stderr.decode()
        assert busy in err and "address already in use" in err, err
        assert not os.path.exists(path), "first door's socket file left"
    finally:
        holder.close()
