"""Restart: a server SIGKILLed while clients are still connected can be
replaced at once on the same port (SO_REUSEADDR)."""

import pytest

from helpers import Conn


@pytest.mark.parametrize("service", ["echo", "chat"])
def test_restart_same_port_after_sigkill(start_server, service):
    first = start_server("-s", service, "-f", "line", "tcp://127.0.0.1:0")
    port = first.port
    held = []
    try:
        for i in range(5):
            c = Conn.connect(first.addr, "line")
            held.append(c)
            if service == "echo":
                c.send_msg(b"hi %d" % i)
                assert c.recv_msg() == b"hi %d" % i
            else:
                assert c.recv_msg().startswith(b"* you are guest%d" % (i + 1))
        # Killed with the connections established; the clients stay open,
        # so the server side of each lingers in FIN_WAIT on this port.
        first.crash()
        second = start_server("-s", service, "-f", "line", "tcp://127.0.0.1:%d" % port)
        assert second.port == port
        assert second.proc.poll() is None
        c = Conn.connect(second.addr, "line")
        held.append(c)
        if service == "echo":
            c.send_msg(b"new server")
            assert c.recv_msg() == b"new server"
        else:
            assert c.recv_msg() == b"* you are guest1; here: guest1"
        # The old clients see their connections gone.
        for old in held[:5]:
            old.expect_closed(timeout=5)
    finally:
        for c in held:
            c.close()


def test_restart_after_sigterm(start_server, conns):
    first = start_server("-s", "echo", "tcp://127.0.0.1:0")
    c = conns(first.addr)
    c.sendall(b"x")
    assert c.recv_exact(1) == b"x"
    assert first.stop() == 0
    second = start_server("-s", "echo", "tcp://127.0.0.1:%d" % first.port)
    assert second.port == first.port
    d = conns(second.addr)
    d.sendall(b"y")
    assert d.recv_exact(1) == b"y"
