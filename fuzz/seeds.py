#!/usr/bin/python3
"""Writes the seed corpora in fuzz/corpus/ (run from the repository root:
/usr/bin/python3 fuzz/seeds.py).  The seeds are committed; this script
says what each one is and can write them again.  It never removes a file,
so inputs added by `make fuzz-merge` stay.

A decoder input is: framing byte, max_frame kind and value, stop byte,
number of cuts, the cuts, then the stream (see fuzz/fuzz_decoder.c).
"""
import hashlib
import os
import struct

MODES = ["raw", "line", "len:1be", "len:1le", "len:2be", "len:2le",
         "len:4be", "len:4le", "len:8be", "len:8le"]
NEVER = 0      # stop byte: the callback never stops
BYTEWISE = []  # no cuts: one byte at a time


def small(n):
    """max_frame = n (0..255)."""
    return bytes([0, n])


def mid(n):
    """max_frame = n * 257."""
    return bytes([2, n])


def huge(k):
    """max_frame = SIZE_MAX - k."""
    return bytes([3, k])


def decoder(mode, maxf, stream, cuts=BYTEWISE, stop=NEVER):
    return (bytes([MODES.index(mode)]) + maxf + bytes([stop, len(cuts)]) +
            bytes(cuts) + stream)


def frames(mode, *msgs):
    fmt = {"1": "B", "2": "H", "4": "I", "8": "Q"}[mode[4]]
    end = "<" if mode.endswith("le") else ">"
    return b"".join(struct.pack(end + fmt, len(m)) + m for m in msgs)


def decoder_seeds():
    s = {}
    s["raw-pieces"] = decoder("raw", small(4), b"hello, world", [3, 0, 5])
    s["raw-stop"] = decoder("raw", small(0), b"abcdef", [2], stop=129)
    s["line-simple"] = decoder("line", mid(4), b"one\ntwo\nthree\n", [5, 2])
    s["line-crlf"] = decoder("line", small(5), b"a\r\nbc\r\n\r\nlast", [1])
    s["line-cr-at-max"] = decoder("line", small(3), b"abc\r\nabc\r", [4])
    s["line-cr-cut"] = decoder("line", small(3), b"abc\r\nxyz\n", [4, 1])
    s["line-too-long"] = decoder("line", small(4), b"ok\nwaytoolong\n", [2])
    s["line-final"] = decoder("line", small(16), b"x\nno newline\r", [7])
    s["line-empty"] = decoder("line", small(0), b"\n\r\n\n", BYTEWISE)
    s["line-stop"] = decoder("line", small(8), b"a\nb\nc\nd\n", [3],
                             stop=130)
    s["line-huge-max"] = decoder("line", huge(0), b"abc\ndef\nghi", [2, 5])
    s["line-huge-max-1"] = decoder("line", huge(1), b"ab\r\ncd\n", [1])
    for mode in MODES[2:]:
        w = int(mode[4])
        tag = mode.replace(":", "")
        s[tag + "-two"] = decoder(mode, mid(1),
                                  frames(mode, b"hello", b"", b"world"),
                                  [w - 1 if w > 1 else 1, 3])
        s[tag + "-split-header"] = decoder(mode, small(16),
                                           frames(mode, b"abc", b"defg"), [1])
        s[tag + "-at-max"] = decoder(mode, small(5),
                                     frames(mode, b"12345", b"1"), [6, 2])
        big = b"\xff" * w
        s[tag + "-too-big"] = decoder(mode, small(5),
                                      frames(mode, b"ok") + big + b"xx", [2])
        s[tag + "-truncated"] = decoder(mode, small(200),
                                        frames(mode, b"0123456789")[:-3], [4])
        s[tag + "-stop"] = decoder(mode, small(9),
                                   frames(mode, b"a", b"b", b"c"), [1],
                                   stop=129)
    # A header that claims more than a size_t can hold with the header.
    s["len8be-huge-max-claim"] = decoder("len:8be", huge(0),
                                         b"\xff" * 8 + b"a" * 80, [3, 1])
    s["len8le-huge-max-wrap"] = decoder("len:8le", huge(0),
                                        b"\xfa" + b"\xff" * 7 + b"b" * 70,
                                        [8, 9])
    s["len8le-huge-max-claim"] = decoder("len:8le", huge(3),
                                         b"\xfe" + b"\xff" * 7 + b"x", [5])
    s["len4be-grant"] = decoder("len:4be", mid(255),
                                frames("len:4be", b"x" * 300)[:100], [50])
    s["len4be-over-grant"] = decoder("len:4be", mid(255),
                                     struct.pack(">I", 65535) + b"abc", [2])
    return s


ADDR = {
    "port": b"8000",
    "colon-port": b":8000",
    "host-port": b"127.0.0.1:8000",
    "name-port": b"localhost:0",
    "tcp": b"tcp://example.org:65535",
    "udp": b"udp://:53",
    "tcp-v6": b"tcp://[::1]:9000",
    "udp-v6-zone": b"udp://[fe80::1%eth0]:53",
    "v6-short": b"[::]:1",
    "v4-in-brackets": b"[1.2.3.4]:80",
    "unix": b"unix:/tmp/x.sock",
    "unix-url": b"unix:///tmp/x.sock",
    "unix-relative": b"unix:rel.sock",
    "unix-slashes": b"unix:////x",
    "unix-empty": b"unix:",
    "port-too-big": b"65536",
    "no-port": b"[::1]",
    "empty-brackets": b"[]:80",
    "v6-no-brackets": b"::1:80",
    "scheme": b"ftp://x:1",
    "two-colons": b"tcp://a:b:80",
    "host-255": b"h" * 255 + b":1",
    "host-256": b"h" * 256 + b":1",
    "path-107": b"unix:/" + b"p" * 106,
    "path-108": b"unix:/" + b"p" * 107,
    "space": b"local host:80",
    "nul-inside": b"tcp://a\x00b:80",
    "service": b"localhost:http",
    "service-udp": b"udp://127.0.0.1:domain",
    "service-tls-v6": b"tls://[::1]:https",
    "service-unknown": b"h:htp",
    "service-underscore": b"h:kerberos_master",
    "abstract": b"unix:@name",
    "abstract-empty": b"unix:@",
    "abstract-106": b"unix:@" + b"n" * 106,
    "abstract-107": b"unix:@" + b"n" * 107,
    "source": b"127.0.0.2",
    "source-v6-bare": b"fe80::1",
    "source-v6-port": b"[::1]:5000",
}

CHAT = {
    "say": b"hello, room",
    "empty": b"",
    "nick": b"/nick alice",
    "nick-spaces": b"/nick   bob   ",
    "nick-two-words": b"/nick a b",
    "nick-32": b"/nick " + b"n" * 32,
    "nick-33": b"/nick " + b"n" * 33,
    "nick-none": b"/nick",
    "nick-odd": b"/nick _-09AZaz",
    "nick-utf8": b"/nick caf\xc3\xa9",
    "nick-tab": b"/nick\talice",
    "nick-upper": b"/NICK alice",
    "who": b"/who",
    "who-extra": b"/who is here",
    "quit": b"/quit",
    "unknown": b"/dance wildly",
    "slash": b"/",
    "slash-space": b"/ nick",
    "tab-text": b"\tindented",
    "utf8": b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "overlong": b"\xc0\xaf",
    "overlong-3": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "past-max": b"\xf4\x90\x80\x80",
    "max": b"\xf4\x8f\xbf\xbf",
    "c1": b"x\xc2\x85",
    "nbsp": b"\xc2\xa0",
    "del": b"del\x7f",
    "nul": b"a\x00b",
    "cr": b"line\r",
    "truncated": b"ok \xe2\x82",
    "lone-continuation": b"\x80",
}


NETMASK = {
    "v4-host": b"192.0.2.7",
    "v4-8": b"10.0.0.0/8",
    "v4-host-bits": b"10.1.2.3/8",
    "v4-0": b"0.0.0.0/0",
    "v4-31": b"192.0.2.4/31",
    "v4-32": b"192.0.2.4/32",
    "v4-mask": b"10.0.0.0/255.0.0.0",
    "v4-mask-31": b"10.0.0.0/255.255.255.254",
    "v4-mask-zero": b"10.0.0.0/0.0.0.0",
    "v4-mask-holes": b"10.0.0.0/255.0.255.0",
    "v4-mask-short": b"10.0.0.0/255.255.0",
    "v6-host": b"2001:db8::1",
    "v6-0": b"::/0",
    "v6-64": b"2001:db8:1:2::/64",
    "v6-127": b"2001:db8::1/127",
    "v6-128": b"::1/128",
    "v6-brackets": b"[fe80::1]/10",
    "v6-brackets-bare": b"[::1]",
    "v6-mask": b"::1/255.0.0.0",
    "v6-zone": b"fe80::1%eth0/64",
    "v6-longest": b"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/127",
    "mapped-host": b"::ffff:10.1.2.3",
    "mapped-104": b"::ffff:10.0.0.0/104",
    "mapped-96": b"::ffff:0:0/96",
    "mapped-95": b"::ffff:0:0/95",
    "compat": b"::10.1.2.3/120",
    "v4-in-brackets": b"[1.2.3.4]",
    "octet-256": b"10.0.0.256",
    "prefix-33": b"1.2.3.4/33",
    "prefix-129": b"::/129",
    "prefix-empty": b"1.2.3.4/",
    "prefix-minus": b"1.2.3.4/-1",
    "prefix-plus": b"1.2.3.4/+8",
    "prefix-zero-lead": b"1.2.3.4/08",
    "prefix-huge": b"1.2.3.4/99999999999999999999999",
    "no-addr": b"/8",
    "empty": b"",
    "space": b"1.2.3.4 /8",
    "two-slashes": b"1.2.3.4/8/8",
    "open-bracket": b"[::1/64",
    "nul-inside": b"10.0.0.0\x00/8",
}


def write(sub, seeds):
    d = os.path.join("fuzz", "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    # Names must not collide with libFuzzer's (sha1) merge outputs.
    assert all(len(n) != 40 for n in seeds)
    print(f"{d}: {len(seeds)} seeds, "
          f"{hashlib.sha1(b''.join(seeds.values())).hexdigest()[:8]}")


if __name__ == "__main__":
    write("decoder", decoder_seeds())
    write("addr", ADDR)
    write("chat", CHAT)
    write("netmask", NETMASK)
