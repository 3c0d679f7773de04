"""A graceful stop: on SIGTERM the server flushes the replies it queued
before closing, and -q keeps stderr quiet but for errors."""
import signal
import socket
import time

import subprocess

from helpers import _track, free_tcp_port, run_sockit, sockit_bin


def test_sigterm_flushes_queued_replies(start_server):
    """The client sends 16 MiB to echo and reads nothing until the stop:
    with a 32 MiB queue the server has read it all and holds most replies
    in its queue (kernel buffers take a few MiB at most).  After SIGTERM the
    client gets every byte back, in order, then an orderly end of stream;
    dropping the queue would lose most of it."""
    srv = start_server("-s", "echo", "--max-queue", "32M", "tcp://127.0.0.1:0")
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    data = bytes(i % 251 for i in range(16 << 20))
    c.sendall(data)
    time.sleep(1.0)  # the server reads it all and queues the replies
    srv.signal(signal.SIGTERM)
    got = bytearray()
    while True:
        d = c.recv(1 << 20)  # a reset here means the queue was dropped
        if not d:
            break
        got += d
    c.close()
    assert srv.wait_exit() == 0
    assert len(got) == len(data)
    assert bytes(got) == data


def test_quiet_listen():
    """-q: no ready line and no warnings, but errors still show."""
    holder, port = free_tcp_port()
    holder.close()
    proc = subprocess.Popen([sockit_bin(), "listen", "-q", "-s", "echo", "-f", "len",
                             "--max-frame", "10", "127.0.0.1:%d" % port],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _track(proc)
    deadline = time.monotonic() + 10
    while True:  # wait until it accepts
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "server never listened"
            time.sleep(0.05)
    c.sendall(b"\x00\x00\x01\x00")  # 256 > --max-frame: dropped, a warning
    assert c.recv(10) == b""
    c.close()
    busy = run_sockit(["listen", "-q", "127.0.0.1:%d" % port], timeout=10)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    err = proc.stderr.read()
    proc.stderr.close()
    assert err == b"", err
    assert busy.returncode == 1
    assert b"address already in use" in busy.stderr, busy.stderr
