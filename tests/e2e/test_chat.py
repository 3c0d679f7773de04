"""chat: join/leave notices, relaying to everyone but the sender, /nick,
/who, /quit, unknown commands, never-reused guest names, dropping a client
that does not read, idle timeout; over TCP, Unix (line and len framing) and
UDP (peers by address).

Absence of a message is checked by order, not by waiting: when a client's
next message is the one sent after the event, the event sent it nothing.
"""

import signal
import socket
import time

import pytest

import helpers
from helpers import Dgram

BAD_NAME = "* error: bad name (1-32 of A-Z a-z 0-9 _ -)"

# (transport, framing, extra listen args)
STREAM_VARIANTS = [
    ("tcp", "line", []),
    ("unix", "line", []),
    ("tcp", "len", ["-f", "len"]),
    ("unix", "len:2le", ["-f", "len:2le"]),
]
IDS = ["tcp-line", "unix-line", "tcp-len", "unix-len2le"]


@pytest.fixture(params=STREAM_VARIANTS, ids=IDS)
def chat(request, start_server, listen_addr, conns):
    transport, framing, extra = request.param

    class Chat:
        def __init__(self, *more):
            self.srv = start_server("-s", "chat", *extra, *more, listen_addr(transport))

        def join(self, expect_welcome=None):
            c = conns(self.srv.addr, framing)
            if expect_welcome is not None:
                assert c.recv_text() == expect_welcome
            return c

    return Chat


def three(chat):
    room = chat()
    c1 = room.join("* you are guest1; here: guest1")
    c2 = room.join("* you are guest2; here: guest1, guest2")
    assert c1.recv_text() == "* guest2 joined"
    c3 = room.join("* you are guest3; here: guest1, guest2, guest3")
    assert c1.recv_text() == "* guest3 joined"
    assert c2.recv_text() == "* guest3 joined"
    return room, c1, c2, c3


def test_join_and_relay(chat):
    room, c1, c2, c3 = three(chat)
    c1.send_text("hello all")
    assert c2.recv_text() == "guest1: hello all"
    assert c3.recv_text() == "guest1: hello all"
    c2.send_text("hi from 2")
    # c1's next message is c2's: its own "hello all" never came back.
    assert c1.recv_text() == "guest2: hi from 2"
    assert c3.recv_text() == "guest2: hi from 2"
    # Empty messages are ignored.
    c3.send_text("")
    c3.send_text("after empty")
    assert c1.recv_text() == "guest3: after empty"
    assert c2.recv_text() == "guest3: after empty"
    # Bytes other than ASCII letters pass unchanged.
    c1.send_text("caf\u00e9 \u2713 1+1=2")
    assert c2.recv_text() == "guest1: caf\u00e9 \u2713 1+1=2"
    assert c3.recv_text() == "guest1: caf\u00e9 \u2713 1+1=2"


def test_leave_notice(chat):
    room, c1, c2, c3 = three(chat)
    c2.close()
    assert c1.recv_text() == "* guest2 left"
    assert c3.recv_text() == "* guest2 left"
    c3.send_text("still here")
    assert c1.recv_text() == "guest3: still here"


def test_nick(chat):
    room, c1, c2, c3 = three(chat)
    c1.send_text("/nick alice")
    assert c1.recv_text() == "* you are now alice"
    assert c2.recv_text() == "* guest1 is now alice"
    assert c3.recv_text() == "* guest1 is now alice"

    # Taken: only the sender hears about it.
    c2.send_text("/nick alice")
    assert c2.recv_text() == "* error: name taken: alice"
    # Invalid names.
    for bad in ["bad name", "x" * 33, "semi;colon", "caf\u00e9"]:
        c2.send_text("/nick " + bad)
        assert c2.recv_text() == BAD_NAME, bad
    # 32 characters of the allowed set are fine.
    longest = "Az09_-" * 5 + "zz"
    assert len(longest) == 32
    c3.send_text("/nick " + longest)
    assert c3.recv_text() == "* you are now " + longest
    # c1's next message is c3's rename: c2's failed attempts were private.
    assert c1.recv_text() == "* guest3 is now " + longest
    assert c2.recv_text() == "* guest3 is now " + longest

    # Messages carry the new names.
    c1.send_text("ping")
    assert c2.recv_text() == "alice: ping"
    assert c3.recv_text() == "alice: ping"
    # The old name is free again.
    c2.send_text("/nick guest1")
    assert c2.recv_text() == "* you are now guest1"
    assert c1.recv_text() == "* guest2 is now guest1"


def test_who_quit_unknown(chat):
    room, c1, c2, c3 = three(chat)
    c2.send_text("/nick bob")
    assert c2.recv_text() == "* you are now bob"
    assert c1.recv_text() == "* guest2 is now bob"
    assert c3.recv_text() == "* guest2 is now bob"

    c3.send_text("/who")
    assert c3.recv_text() == "* here: guest1, bob, guest3"

    c1.send_text("/frob x")
    assert c1.recv_text() == "* error: unknown command: /frob (try /who, /nick NAME, /quit)"

    c3.send_text("/quit")
    assert c3.recv_text() == "* bye"
    assert c3.expect_closed() == b""
    assert c1.recv_text() == "* guest3 left"
    assert c2.recv_text() == "* guest3 left"

    # c2's next message after the notice: nobody saw /who or /frob.
    c1.send_text("two of us")
    assert c2.recv_text() == "guest1: two of us"
    c2.send_text("/who")
    assert c2.recv_text() == "* here: guest1, bob"


def test_names_never_reused(chat):
    room, c1, c2, c3 = three(chat)
    c3.close()
    assert c1.recv_text() == "* guest3 left"
    c2.close()
    assert c1.recv_text() == "* guest2 left"
    c4 = room.join("* you are guest4; here: guest1, guest4")
    assert c1.recv_text() == "* guest4 joined"
    c1.send_text("/nick first")
    assert c1.recv_text() == "* you are now first"
    assert c4.recv_text() == "* guest1 is now first"
    c1.close()
    assert c4.recv_text() == "* first left"
    room.join("* you are guest5; here: guest4, guest5")


def test_slow_reader_dropped(start_server, conns):
    """A client that never reads (small SO_RCVBUF) is dropped once its
    queue (--max-queue 64K) overflows; the others keep chatting."""
    srv = start_server("-s", "chat", "--max-queue", "64K", "tcp://127.0.0.1:0")
    c1 = conns(srv.addr, "line")
    assert c1.recv_text() == "* you are guest1; here: guest1"
    c2 = conns(srv.addr, "line")
    assert c2.recv_text() == "* you are guest2; here: guest1, guest2"
    assert c1.recv_text() == "* guest2 joined"
    slow = conns(srv.addr, "line", rcvbuf=4096)
    assert c1.recv_text() == "* guest3 joined"
    assert c2.recv_text() == "* guest3 joined"

    # c1 talks in batches of 32 KiB (< the 64K queue, so c2, which reads
    # everything, can never be the one that overflows); slow reads nothing.
    body = "x" * 1000
    seq = 0
    dropped = False
    deadline = time.monotonic() + 60
    sent_bytes = 0
    while not dropped:
        assert time.monotonic() < deadline, "slow client not dropped after %d bytes" % sent_bytes
        assert sent_bytes < (256 << 20), "slow client not dropped after 256 MiB"
        batch = []
        for _ in range(32):
            batch.append(("%d %s" % (seq, body)).encode() + b"\n")
            seq += 1
        wire = b"".join(batch)
        c1.sendall(wire)
        sent_bytes += len(wire)
        expected = seq - 32
        while expected < seq:
            msg = c2.recv_text()
            if msg == "* guest3 left (too slow)":
                dropped = True
                continue
            assert msg == "guest1: %d %s" % (expected, body), msg[:60]
            expected += 1

    # c1 also heard it, and nothing else (it sent all the lines itself).
    assert c1.recv_text() == "* guest3 left (too slow)"
    # The others keep chatting.
    c2.send_text("still here?")
    assert c1.recv_text() == "guest2: still here?"
    c1.send_text("yes")
    assert c2.recv_text() == "guest1: yes"
    c2.send_text("/who")
    assert c2.recv_text() == "* here: guest1, guest2"
    # The slow client's connection was closed by the server.
    slow.settimeout(10)
    slow.recv_until_eof(limit=1 << 30)
    # A newcomer gets the next name.
    c4 = conns(srv.addr, "line")
    assert c4.recv_text() == "* you are guest4; here: guest1, guest2, guest4"


def test_idle_client_left(start_server, conns):
    srv = start_server("-s", "chat", "--idle-timeout", "1", "tcp://127.0.0.1:0")
    c1 = conns(srv.addr, "line")
    assert c1.recv_text() == "* you are guest1; here: guest1"
    c2 = conns(srv.addr, "line")
    assert c2.recv_text() == "* you are guest2; here: guest1, guest2"
    assert c1.recv_text() == "* guest2 joined"
    t0 = time.monotonic()
    # c1 keeps talking (every 0.3 s: this pacing is the point); c2 is idle.
    c1.settimeout(0.3)
    notice = None
    while notice is None and time.monotonic() - t0 < 10:
        c1.send_text("/who")
        try:
            while True:
                m = c1.recv_text()
                if m.startswith("* guest2 left"):
                    notice = m
                    break
                assert m in ("* here: guest1, guest2", "* here: guest1"), m
        except socket.timeout:
            pass
    assert notice == "* guest2 left (idle)"
    assert 0.8 <= time.monotonic() - t0 < 6
    assert c2.expect_closed() == b""
    c1.settimeout(10)
    c1.send_text("/who")
    while True:
        m = c1.recv_text()
        if m != "* here: guest1, guest2":
            break
    assert m == "* here: guest1"


def test_chat_udp_peers_by_address(start_server):
    srv = start_server("-s", "chat", "udp://127.0.0.1:0")
    u1, u2, u3 = Dgram(srv.addr), Dgram(srv.addr), Dgram(srv.addr)
    try:
        u1.send(b"/who\n")
        assert u1.recv_line() == "* you are guest1; here: guest1"
        assert u1.recv_line() == "* here: guest1"
        u2.send(b"/who\n")
        assert u2.recv_line() == "* you are guest2; here: guest1, guest2"
        assert u2.recv_line() == "* here: guest1, guest2"
        assert u1.recv_line() == "* guest2 joined"
        u3.send(b"/nick carol\n")
        assert u3.recv_line() == "* you are guest3; here: guest1, guest2, guest3"
        assert u3.recv_line() == "* you are now carol"
        assert u1.recv_line() == "* guest3 joined"
        assert u1.recv_line() == "* guest3 is now carol"
        assert u2.recv_line() == "* guest3 joined"
        assert u2.recv_line() == "* guest3 is now carol"
        u1.send(b"hello by datagram\n")
        assert u2.recv_line() == "guest1: hello by datagram"
        assert u3.recv_line() == "guest1: hello by datagram"
        u3.send(b"hi\n")
        assert u1.recv_line() == "carol: hi"      # not its own message
        assert u2.recv_line() == "carol: hi"
    finally:
        for u in (u1, u2, u3):
            u.close()


def test_chat_defaults_to_line_framing(start_server, conns):
    srv = start_server("-s", "chat", "tcp://127.0.0.1:0")
    c = conns(srv.addr, "line")
    assert c.recv_line() == b"* you are guest1; here: guest1"
    c.sendall(b"/who\r\n")
    assert c.recv_line() == b"* here: guest1"


def test_who_flood_from_non_reader_is_dropped(start_server, conns):
    """Replies to one member count against its own queue: a client that
    sends /who in a loop and never reads is dropped as too slow, and the
    server's memory stays bounded."""
    srv = start_server("-s", "chat", "--max-queue", "4K", "tcp://127.0.0.1:0")
    members = [conns(srv.addr, "line") for _ in range(40)]
    for i, m in enumerate(members):  # 30-character names: a long /who
        m.send_text("/nick m%02d-%s" % (i, "x" * 26))
    flood = conns(srv.addr, "line", rcvbuf=2048)
    before = srv.rss_kib()
    try:
        flood.sendall(b"/who\n" * 20000)  # each reply is about 1.4 KB
    except OSError:
        pass  # dropped while sending: what this test wants
    srv.wait_stderr(r"dropping .*: too slow", timeout=20)
    limit = (64 if helpers.sanitized() else 16) * 1024
    assert srv.rss_kib() - before < limit
    members[0].send_text("still here")
    want = "m00-%s: still here" % ("x" * 26)
    for _ in range(200):  # join, nick and leave notices come first
        if members[1].recv_text() == want:
            break
    else:
        raise AssertionError("the room stopped relaying")


# --------------------------------------------------------- hostile input

# Lines that are not UTF-8 text: (bytes, problem, offset of the bad byte).
NOT_TEXT = [
    (b"nul\x00inside", "control character", 3),
    (b"\x00", "control character", 0),
    (b"bell\x07", "control character", 4),
    (b"esc \x1b[2J clears screens", "control character", 4),
    (b"del\x7f", "control character", 3),
    (b"c1 \xc2\x9b csi", "control character", 3),
    (b"lone \x80 continuation", "invalid UTF-8", 5),
    (b"cut \xe2\x82", "invalid UTF-8", 4),
    (b"overlong \xc0\xaf", "invalid UTF-8", 9),
    (b"overlong \xe0\x80\xaf", "invalid UTF-8", 9),
    (b"surrogate \xed\xa0\x80", "invalid UTF-8", 10),
    (b"too big \xf4\x90\x80\x80", "invalid UTF-8", 8),
    (b"\xff\xfe", "invalid UTF-8", 0),
    (b"/nick ev\x00il", "control character", 8),
    (b"/who\x1b", "control character", 4),
]


def test_lines_that_are_not_text_are_refused(chat):
    room, c1, c2, c3 = three(chat)
    for data, problem, at in NOT_TEXT:
        c1.send_msg(data)
        want = "* error: line refused: %s (byte 0x%02X at offset %d)" % (problem, data[at], at)
        assert c1.recv_text() == want, data
    # Nobody else saw any of them, nor any rename: their next line is this.
    c1.send_text("caf\u00e9 \u2615 \U0001F600 tabs\tok")
    assert c2.recv_text() == "guest1: caf\u00e9 \u2615 \U0001F600 tabs\tok"
    assert c3.recv_text() == "guest1: caf\u00e9 \u2615 \U0001F600 tabs\tok"
    c2.send_text("/who")
    assert c2.recv_text() == "* here: guest1, guest2, guest3"
    # The first refusal is a warning in the log, the rest only with -v.
    room.srv.wait_stderr(r"\(guest1\): line refused: control character \(byte 0x00 at offset 3\)")
    assert len([l for l in room.srv.stderr_lines if "line refused" in l]) == 1


def test_nick_abuse(chat):
    room, c1, c2, c3 = three(chat)
    # Someone takes the name the next guest would get...
    c1.send_text("/nick guest4")
    assert c1.recv_text() == "* you are now guest4"
    for c in (c2, c3):
        assert c.recv_text() == "* guest1 is now guest4"
    # ...and the next guest gets another one: names stay unique.
    c4 = room.join("* you are guest5; here: guest4, guest2, guest3, guest5")
    for c in (c1, c2, c3):
        assert c.recv_text() == "* guest5 joined"
    # Renaming to one's own name announces nothing.
    c2.send_text("/nick guest2")
    assert c2.recv_text() == "* you are already guest2"
    # Names: empty, spaces only, too long, a second word, a tab.
    for bad in ["/nick", "/nick    ", "/nick " + "n" * 33, "/nick a b", "/nick tab\tname"]:
        c2.send_text(bad)
        assert c2.recv_text() == BAD_NAME, bad
    # A rename storm with repeats: the room hears of real changes only.
    names = ["storm", "storm", "guest3", "guest3"] * 10
    for n in names:
        c3.send_text("/nick " + n)
    current = "guest3"
    for n in names:
        if n == current:
            assert c3.recv_text() == "* you are already " + n
        else:
            assert c3.recv_text() == "* you are now " + n
        current = n
    c4.send_text("after the storm")
    seen = []
    while True:
        line = c2.recv_text()
        if line == "guest5: after the storm":
            break
        seen.append(line)
    assert len(seen) == 20 and all(" is now " in l for l in seen), seen


def test_empty_and_tiny_frame_floods(chat):
    room, c1, c2, c3 = three(chat)
    # 100,000 empty messages: ignored, nothing relayed, nobody dropped.
    c1.send_msg(b"")  # one first, to know the framing encodes it
    c1.sendall(c1.framing.encode(b"") * 100000)
    # 20,000 one-byte messages: all relayed, in order, to each member.
    c1.sendall(b"".join(c1.framing.encode(b"%c" % (97 + i % 26)) for i in range(20000)))
    c1.send_text("end")
    for c in (c2, c3):
        for i in range(20000):
            assert c.recv_text() == "guest1: %c" % (97 + i % 26)
        assert c.recv_text() == "guest1: end"
    c2.send_text("/who")
    assert c2.recv_text() == "* here: guest1, guest2, guest3"


def test_chat_udp_raw_datagrams_with_line_ends(start_server):
    """Raw datagrams from line tools (echo hi | nc -u) end in \\n or \\r\\n:
    the line end is not part of the message, nor a reason to refuse it."""
    srv = start_server("-s", "chat", "-f", "raw", "udp://127.0.0.1:0")
    u1, u2 = Dgram(srv.addr), Dgram(srv.addr)
    try:
        u1.send(b"/who\n")
        assert u1.recv() == b"* you are guest1; here: guest1"
        assert u1.recv() == b"* here: guest1"
        u2.send(b"/who\r\n")
        assert u2.recv() == b"* you are guest2; here: guest1, guest2"
        assert u2.recv() == b"* here: guest1, guest2"
        assert u1.recv() == b"* guest2 joined"
        u1.send(b"hi\n")
        assert u2.recv() == b"guest1: hi"
        u1.send(b"crlf\r\n")
        assert u2.recv() == b"guest1: crlf"
        u1.send(b"no line end")
        assert u2.recv() == b"guest1: no line end"
        u1.send(b"two\n\n")  # only one line end is taken off
        assert u1.recv().startswith(b"* error: line refused: control character")
    finally:
        for u in (u1, u2):
            u.close()


def test_server_stopping_notice(chat):
    """A graceful stop tells every member why the room goes away, after
    what was said before, and then ends their connections."""
    room = chat()
    c1 = room.join("* you are guest1; here: guest1")
    c2 = room.join("* you are guest2; here: guest1, guest2")
    assert c1.recv_text() == "* guest2 joined"
    c2.send_text("last words")
    assert c1.recv_text() == "guest2: last words"
    room.srv.signal(signal.SIGTERM)
    assert c1.recv_text() == "* server stopping"
    assert c2.recv_text() == "* server stopping"
    assert c1.expect_closed() == b""
    assert c2.expect_closed() == b""
    assert room.srv.wait_exit() == 0


def test_server_stopping_notice_udp(start_server):
    srv = start_server("-s", "chat", "udp://127.0.0.1:0")
    u1 = Dgram(srv.addr)
    try:
        u1.send(b"/who\n")
        assert u1.recv_line() == "* you are guest1; here: guest1"
        assert u1.recv_line() == "* here: guest1"
        srv.signal(signal.SIGINT)
        assert u1.recv_line() == "* server stopping"
        assert srv.wait_exit() == 0
    finally:
        u1.close()
