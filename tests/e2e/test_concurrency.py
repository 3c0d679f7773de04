"""Many clients at once: 200 clients x 100 echo round trips each, every reply
correct and in order, within a bounded time."""

import threading
import time

import pytest

from helpers import Conn, run_parallel

CLIENTS = 200
ROUNDS = 100
TOTAL_BUDGET_S = 60


@pytest.mark.parametrize("framing", ["line", "len"])
def test_200_clients_100_round_trips(start_server, framing):
    srv = start_server("-s", "echo", "-f", framing, "tcp://127.0.0.1:0")
    t0 = time.monotonic()
    clients = []
    try:
        # Everyone connects first, so all 200 are open together.
        for _ in range(CLIENTS):
            clients.append(Conn.connect(srv.addr, framing, timeout=30))
        start = threading.Barrier(CLIENTS, timeout=30)

        def worker(i):
            c = clients[i]
            start.wait()
            for j in range(ROUNDS):
                msg = b"client %d message %d %s" % (i, j, b"." * (j % 17))
                c.send_msg(msg)
                got = c.recv_msg()
                assert got == msg, (i, j, got)
            return ROUNDS

        done = run_parallel([lambda i=i: worker(i) for i in range(CLIENTS)], TOTAL_BUDGET_S)
        assert sum(done) == CLIENTS * ROUNDS
    finally:
        for c in clients:
            c.close()
    assert time.monotonic() - t0 < TOTAL_BUDGET_S


def test_pipelined_clients(start_server):
    """50 clients each send 100 messages at once, then read the 100 replies:
    order kept per connection with many in flight."""
    srv = start_server("-s", "upper", "-f", "len:2le", "tcp://127.0.0.1:0")

    def worker(i):
        with Conn.connect(srv.addr, "len:2le", timeout=30) as c:
            msgs = [b"c%d m%d" % (i, j) for j in range(100)]
            c.sendall(b"".join(c.framing.encode(m) for m in msgs))
            for m in msgs:
                assert c.recv_msg() == m.upper()
            c.shutdown_write()
            assert c.expect_closed() == b""
        return True

    assert all(run_parallel([lambda i=i: worker(i) for i in range(50)], 60))
