"""UDP specifics: the ready line, datagram boundaries, per-sender replies,
and length framing refused."""

import pytest

from helpers import Dgram, run_sockit


def test_listening_line_udp(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    assert srv.addr.text == "udp://127.0.0.1:%d" % srv.port
    assert srv.port > 0
    assert sum("listening on" in l for l in srv.stderr_lines) == 1


def test_datagram_boundaries_kept(start_server):
    srv = start_server("-s", "echo", "udp://127.0.0.1:0")
    u = Dgram(srv.addr)
    try:
        sizes = [1, 2, 3, 100, 1000, 1472, 4000, 1, 60000]
        for round_ in range(3):
            for i, n in enumerate(sizes):
                d = bytes([(i + round_) % 256]) * n
                u.send(d)
                assert u.recv() == d
    finally:
        u.close()


def test_interleaved_senders(start_server):
    srv = start_server("-s", "upper", "udp://127.0.0.1:0")
    us = [Dgram(srv.addr) for _ in range(8)]
    try:
        for round_ in range(5):
            for i, u in enumerate(us):
                u.send(b"peer %d round %d" % (i, round_))
            for i, u in enumerate(us):
                assert u.recv() == b"PEER %d ROUND %d" % (i, round_)
    finally:
        for u in us:
            u.close()


@pytest.mark.parametrize("service", ["echo", "upper", "chat", "discard"])
@pytest.mark.parametrize("spec", ["len", "len:2le", "len:1", "len:8be"])
def test_len_framing_refused_on_udp(service, spec):
    r = run_sockit(["listen", "-s", service, "-f", spec, "udp://127.0.0.1:0"], timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith(b"sockit: "), r.stderr
    assert b"listening on" not in r.stderr
