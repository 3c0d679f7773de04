"""Bad command lines, one table: every wrong invocation of `sockit`,
`sockit listen`, `sockit connect` and `sockit bench` exits 2, prints
nothing on stdout, and says on stderr, in a first line starting with
"sockit:", what was wrong -- the bad value or the option by name -- then
the hint where to read more.  None crashes, none trips a sanitizer, none
opens a socket or waits for anything.

CASES is the table; another test (or a document) may import it to count
the cases.  Each case is (argv, pattern): pattern is a regular expression
searched for in the first line of stderr.
"""

import os
import re
from collections import namedtuple

import pytest

from helpers import SANITIZER_MARKS, run_sockit

Case = namedtuple("Case", "argv expect")

LONG_PATH = "unix:/tmp/" + "p" * 103         # a 108-byte path: sun_path holds 107 and a NUL
TWO_64 = "18446744073709551616"               # 2^64
HUGE = "99999999999999999999"                 # over 2^64 too
LOCAL = "127.0.0.1:1"                         # never contacted: parsing fails first
UDP = "udp://127.0.0.1:1"


def esc(text):
    return re.escape(text)


def bad_addr(cmd, text, why):
    """The address and what is wrong with it."""
    return Case([cmd, text], "^sockit: %s: bad address '%s': %s" % (cmd, esc(text), why))


def bad_value(cmd, opt, value, why, *rest):
    """An option value that does not parse or is out of range: the message
    names the option and the value (why: 'number', 'size', 'seconds' or
    'range')."""
    argv = [cmd, opt, value] + list(rest)
    name = opt if opt.startswith("--") else LONG_NAMES[opt]
    if why == "range":
        pat = "%s: %s is out of range" % (esc(name), esc(value))
    elif why == "seconds":
        pat = "%s: '%s' is not a number of seconds" % (esc(name), esc(value))
    elif why == "size":
        pat = "%s: '%s' is not a size" % (esc(name), esc(value))
    else:
        pat = "%s: '%s' is not a number" % (esc(name), esc(value))
    return Case(argv, "^sockit: %s: %s" % (cmd, pat))


def needs_value(cmd, *argv):
    """The last word of argv is an option whose value is missing."""
    return Case([cmd] + list(argv), "^sockit: %s: option '%s' needs a value$" % (cmd, esc(argv[-1])))


def bad_framing(cmd, spec, *rest):
    return Case([cmd, "-f", spec] + list(rest), "^sockit: %s: bad framing '%s': expected raw, line, len"
                % (cmd, esc(spec)))


def unknown_opt(cmd, opt, *rest, shown=None):
    return Case([cmd, opt] + list(rest), "^sockit: %s: unknown option '%s'$" % (cmd, esc(shown or opt)))


def usage(cmd, argv, pattern):
    return Case([cmd] + argv, "^sockit: %s: %s" % (cmd, pattern))


LONG_NAMES = {"-c": "--conns", "-p": "--pipeline", "-s": "--size", "-d": "--duration", "-n": "--requests"}

CASES = [
    # ---------------------------------------------------------- sockit itself
    Case([], r"^sockit: missing COMMAND \(listen, connect, bench\)$"),
    Case([""], r"^sockit: unknown command '' \(listen, connect, bench\)$"),
    Case(["frobnicate"], r"^sockit: unknown command 'frobnicate'"),
    Case(["LISTEN", "0"], r"^sockit: unknown command 'LISTEN' \(did you mean 'listen'\?\)$"),
    Case(["-x"], r"^sockit: unknown command '-x'"),
    # help takes a COMMAND: one that does not exist is named, with the
    # nearest if there is one.
    Case(["--help", "extra"], r"^sockit: unknown command 'extra' \(listen, connect, bench\)$"),
    Case(["help", "lisen"], r"^sockit: unknown command 'lisen' \(did you mean 'listen'\?\)$"),
    Case(["-h", "conect"], r"^sockit: unknown command 'conect' \(did you mean 'connect'\?\)$"),
    Case(["lisen", "8000"], r"^sockit: unknown command 'lisen' \(did you mean 'listen'\?\)$"),
    Case(["conect", LOCAL], r"^sockit: unknown command 'conect' \(did you mean 'connect'\?\)$"),
    Case(["bnech"], r"^sockit: unknown command 'bnech' \(did you mean 'bench'\?\)$"),
    Case(["lis"], r"^sockit: unknown command 'lis' \(did you mean 'listen'\?\)$"),
    Case(["--version", "x"], r"^sockit: unexpected argument 'x' after --version"),
    Case(["-V", "-V"], r"^sockit: unexpected argument '-V' after -V"),

    # ------------------------------------------------- netcat's habits
    # One line with sockit's spelling of what nc would have done.
    Case(["-l", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen 8000' \(on 127\.0\.0\.1; "),
    Case(["-lp", "8000"], r"^sockit: -lp is netcat's; sockit spells it 'sockit listen 8000' "),
    Case(["-l", "-p", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen 8000' "),
    Case(["-lk", "-p", "8000"], r"^sockit: -lk is netcat's; sockit spells it 'sockit listen -k 8000' "),
    Case(["-l", "0.0.0.0", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen 0\.0\.0\.0:8000'$"),
    Case(["-lu", "8000"], r"^sockit: -lu is netcat's; sockit spells it 'sockit listen udp://:8000'$"),
    Case(["-lU", "/tmp/s.sock"], r"^sockit: -lU is netcat's; sockit spells it 'sockit listen unix:/tmp/s\.sock'$"),
    Case(["--chat", "-l", "8000"], r"^sockit: --chat is netcat's; sockit spells it 'sockit listen -s chat 8000' "),
    Case(["-e", "/bin/sh"], r"^sockit: -e \(run a program for each connection\) is netcat's; sockit has no --exec yet"),
    Case(["-l", "-p", "8000", "-e", "/bin/sh"], r"^sockit: -e \(run a program .* no --exec yet"),
    Case(["--sh-exec", "cat", "-l", "8000"], r"^sockit: --sh-exec \(run a program .* no --exec yet"),
    Case(["-u", "localhost", "53"], r"^sockit: -u is netcat's; sockit spells it 'sockit connect udp://localhost:53'$"),
    Case(["-U", "/tmp/s.sock"], r"^sockit: -U is netcat's; sockit spells it 'sockit connect unix:/tmp/s\.sock'$"),
    Case(["--ssl", "example.com", "443"], r"^sockit: --ssl is netcat's; sockit spells it 'sockit connect tls://example\.com:443'$"),
    # Options sockit has too are not blamed: their place is.
    Case(["-zv", "localhost", "20-25", "80"], r"^sockit: options go after the command; sockit spells it 'sockit connect -z -v localhost:20-25,80'$"),
    Case(["-C", "-w", "3", "::1", "80"], r"^sockit: options go after the command; sockit spells it 'sockit connect -C -w 3 \[::1\]:80'$"),
    Case(["-4", "-l", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen -4 8000'$"),
    Case(["--allow", "10.0.0.0/8", "-l", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen --allow 10\.0\.0\.0/8 8000' "),
    Case(["-l", "-s", "10.0.0.1", "-p", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen 10\.0\.0\.1:8000'$"),
    Case(["-l", "-s", "::1", "-p", "8000"], r"^sockit: -l is netcat's; sockit spells it 'sockit listen \[::1\]:8000'$"),
    Case(["localhost", "8000"], r"^sockit: 'HOST PORT' is netcat's; sockit spells it 'sockit connect localhost:8000'$"),
    Case(["-p", "5000", "::1", "18090"], r"^sockit: -p is netcat's; sockit spells it 'sockit connect --source :5000 \[::1\]:18090'$"),
    Case(["-s", "::1", "-p", "5000", "::1", "80"],
         r"^sockit: -s is netcat's; sockit spells it 'sockit connect --source \[::1\]:5000 \[::1\]:80'$"),
    Case(["-s", "127.0.0.2", "localhost", "80"],
         r"^sockit: -s is netcat's; sockit spells it 'sockit connect --source 127\.0\.0\.2 localhost:80'$"),
    usage("listen", ["-l", "8000"], r"unknown option '-l' \(netcat's -l: sockit listen listens already\)$"),
    usage("listen", ["-p", "8000"], r"unknown option '-p' \(netcat's -p: the port goes in the address"),
    usage("listen", ["-u", "8000"], r"unknown option '-u' \(netcat's -u: sockit spells UDP in the address"),
    usage("connect", ["-u", "localhost:53"], r"unknown option '-u' \(netcat's -u: sockit spells UDP in the address"),
    usage("connect", ["-e", "/bin/sh", LOCAL], r"unknown option '-e' \(netcat's -e: runs a program; sockit has no --exec yet\)$"),
    usage("connect", ["-p", "5000", LOCAL], r"unknown option '-p' \(netcat's -p: the source port is --source ADDR:PORT\)$"),
    # ncat's long spellings get the same note as the letters.
    usage("listen", ["--ssl", "0"], r"unknown option '--ssl' \(netcat's --ssl: sockit spells TLS in the address, tls://HOST:PORT\)$"),
    usage("listen", ["--chat", "0"], r"unknown option '--chat' \(netcat's --chat: sockit spells it -s chat\)$"),
    usage("listen", ["--udp", "0"], r"unknown option '--udp' \(netcat's --udp: sockit spells UDP in the address"),
    usage("listen", ["--exec", "/bin/sh", "0"], r"unknown option '--exec' \(netcat's --exec: runs a program; sockit has no --exec yet\)$"),
    usage("connect", ["--wait", "3", LOCAL], r"unknown option '--wait' \(netcat's --wait: sockit spells it -w S\)$"),
    usage("connect", ["--listen", LOCAL], r"unknown option '--listen' \(netcat's --listen: sockit listen ADDRESS\)$"),

    # ------------------------------------------------------------- addresses
    bad_addr("listen", "", r"empty address"),
    bad_addr("listen", "junk", r"no port"),
    bad_addr("listen", "ftp://127.0.0.1:21", r"unknown scheme"),
    bad_addr("listen", "http://127.0.0.1:80", r"unknown scheme"),
    bad_addr("listen", "UDP://127.0.0.1:0", r"unknown scheme"),
    bad_addr("listen", "tcp:127.0.0.1:80", r"unknown scheme"),
    bad_addr("listen", "tcp://127.0.0.1", r"no port"),
    bad_addr("listen", "127.0.0.1:", r"no port"),
    bad_addr("listen", "tcp://127.0.0.1:notaport", r"unknown tcp service 'notaport' \(see /etc/services\)$"),
    bad_addr("listen", "127.0.0.1:70000", r"port out of range \(0-65535\)"),
    bad_addr("listen", "tcp://:65536", r"port out of range \(0-65535\)"),
    bad_addr("listen", "udp://:-1", r"the port is not a number"),
    bad_addr("listen", "65536", r"port out of range \(0-65535\)"),
    bad_addr("listen", HUGE, r"port out of range \(0-65535\)"),
    bad_addr("listen", "127.0.0.1:" + HUGE, r"port out of range \(0-65535\)"),
    bad_addr("listen", "127.0.0.1:abc", r"unknown tcp service 'abc' \(see /etc/services\)$"),
    bad_addr("listen", "127.0.0.1:http.x", r"the port is not a number"),
    bad_addr("listen", "[::1:80", r"no '\]' after the IPv6 address"),
    bad_addr("listen", "[::1]80", r"no port after the IPv6 address"),
    bad_addr("listen", "[]:80", r"empty IPv6 address"),
    bad_addr("listen", "[::g]:80", r"a character that cannot be in an IPv6 address"),
    bad_addr("listen", "::1:80", r"an IPv6 address goes in brackets"),
    bad_addr("listen", "tcp://[::1]:-1", r"the port is not a number"),
    bad_addr("listen", "host name:80", r"a blank, '/', a bracket or a control character in the host name"),
    bad_addr("listen", " 80", r"no port"),
    bad_addr("listen", "unix:", r"empty Unix socket path"),
    bad_addr("listen", "unix://", r"empty Unix socket path"),
    bad_addr("listen", LONG_PATH, r"Unix socket path too long \(at most 107 bytes\)"),
    bad_addr("connect", "", r"empty address"),
    bad_addr("connect", "tcp://127.0.0.1:notaport", r"unknown tcp service 'notaport'"),
    bad_addr("connect", "ftp://127.0.0.1:21", r"unknown scheme"),
    bad_addr("connect", "127.0.0.1:70000", r"port out of range \(0-65535\)"),
    bad_addr("connect", "tcp://127.0.0.1", r"no port"),
    bad_addr("connect", "udp://:-1", r"the port is not a number"),
    bad_addr("connect", "[::1:80", r"no '\]' after the IPv6 address"),
    bad_addr("connect", "unix:", r"empty Unix socket path"),
    bad_addr("connect", "tcp://:65536", r"port out of range \(0-65535\)"),
    bad_addr("connect", LONG_PATH, r"Unix socket path too long \(at most 107 bytes\)"),
    bad_addr("bench", "nowhere", r"no port"),
    bad_addr("bench", "udp://127.0.0.1:99999", r"port out of range \(0-65535\)"),
    bad_addr("bench", "[::1]", r"no port after the IPv6 address"),
    # Ports by service name: one the database does not know, for its
    # transport.
    bad_addr("listen", "localhost:htp", r"unknown tcp service 'htp' \(see /etc/services\)$"),
    bad_addr("listen", "tls://localhost:htps", r"unknown tcp service 'htps' "),
    bad_addr("listen", "udp://127.0.0.1:nosuchservice", r"unknown udp service 'nosuchservice' "),
    bad_addr("connect", "localhost:no-such_service", r"unknown tcp service 'no-such_service' "),
    bad_addr("connect", "udp://127.0.0.1:nosuchservice", r"unknown udp service 'nosuchservice' "),
    bad_addr("bench", "localhost:htp", r"unknown tcp service 'htp' "),
    # Abstract Unix sockets.
    bad_addr("listen", "unix:@", r"empty abstract socket name \(unix:@NAME\)$"),
    bad_addr("listen", "tls+unix:@", r"empty abstract socket name"),
    bad_addr("listen", "unix:@" + "n" * 107, r"abstract socket name too long \(at most 106 bytes\)$"),
    bad_addr("connect", "unix://@", r"empty abstract socket name"),
    # -4 and -6.
    usage("listen", ["-4", "-6", "0"], r"-4 and -6 exclude each other$"),
    usage("connect", ["-6", "--ipv4", LOCAL], r"-4 and -6 exclude each other$"),
    usage("bench", ["-6", "-4", LOCAL], r"-4 and -6 exclude each other$"),
    usage("listen", ["-4", "[::1]:0"], r"-4: '\[::1\]:0' is an IPv6 address$"),
    usage("listen", ["-6", "127.0.0.1:0"], r"-6: '127\.0\.0\.1:0' is an IPv4 address$"),
    usage("listen", ["--ipv6", "0", "udp://127.0.0.1:0"], r"-6: 'udp://127\.0\.0\.1:0' is an IPv4 address$"),
    usage("connect", ["-4", "tcp://[::1]:1"], r"-4: 'tcp://\[::1\]:1' is an IPv6 address$"),
    usage("connect", ["-6", LOCAL], r"-6: '127\.0\.0\.1:1' is an IPv4 address$"),
    usage("bench", ["-4", "[::1]:1"], r"-4: '\[::1\]:1' is an IPv6 address$"),
    usage("listen", ["-4", "unix:/tmp/x.sock"],
          r"-4 applies to host names and IP addresses: 'unix:/tmp/x\.sock' has none$"),
    usage("listen", ["-6", "unix:@x", "unix:/tmp/y.sock"], r"-6 applies to host names and IP addresses: 'unix:@x'"),
    usage("connect", ["-6", "unix:@x"], r"-6 applies to host names and IP addresses"),
    usage("listen", ["--ipv", "0"], r"option '--ipv' is ambiguous \(--ipv4, --ipv6\)$"),
    # --source: connect and bench only, an IP address of the target's family.
    unknown_opt("listen", "--source", "127.0.0.2", "0"),
    needs_value("connect", LOCAL, "--source"),
    needs_value("bench", LOCAL, "--source"),
    usage("connect", ["--source", "127.0.0.2", "unix:/tmp/x.sock"],
          r"--source applies to TCP, TLS and UDP: a Unix socket \('unix:/tmp/x\.sock'\) has no source address$"),
    usage("bench", ["--source", "127.0.0.2", "unix:@x"], r"--source applies to TCP, TLS and UDP"),
    usage("connect", ["--source", "127.0.0.2", "[::1]:1"], r"--source 127\.0\.0\.2 is IPv4, but '\[::1\]:1' is IPv6$"),
    usage("connect", ["--source", "[::1]", UDP], r"--source \[::1\] is IPv6, but 'udp://127\.0\.0\.1:1' is IPv4$"),
    usage("bench", ["--source", "::1", LOCAL], r"--source ::1 is IPv6, but '127\.0\.0\.1:1' is IPv4$"),
    usage("connect", ["-4", "--source", "::1", LOCAL], r"-4: --source '::1' is an IPv6 address$"),
    usage("connect", ["--source", "a b", LOCAL], r"bad --source 'a b': a blank, '/', a bracket or a control"),
    usage("connect", ["--source", "tcp://127.0.0.2:1", LOCAL],
          r"bad --source 'tcp://127\.0\.0\.2:1': a source address is HOST or HOST:PORT, with no scheme$"),
    usage("connect", ["--source", "5000", LOCAL], r"bad --source '5000': a source address needs a host"),
    usage("connect", ["--source", "127.0.0.2:70000", LOCAL], r"bad --source '127\.0\.0\.2:70000': port out of range"),
    usage("connect", ["--source", "127.0.0.2:htp", LOCAL], r"bad --source '127\.0\.0\.2:htp': unknown tcp service 'htp'"),
    usage("connect", ["--source", "", LOCAL], r"bad --source '': empty address$"),
    usage("bench", ["--source", "127.0.0.2:5000", "-c", "2", LOCAL],
          r"--source 127\.0\.0\.2:5000: a fixed port serves one connection at a time \(-c 1, and not --mode connect\)$"),
    usage("bench", ["--source", "127.0.0.2:5000", "-c", "1", "--mode", "connect", LOCAL],
          r"--source 127\.0\.0\.2:5000: a fixed port serves one connection"),
    # "-1" reads as an option, and is named as one.
    unknown_opt("listen", "-1"),
    # Port 0 means "any free port": one can listen on it, not connect to it.
    usage("connect", ["0"], r"cannot connect to port 0 of 'tcp://127\.0\.0\.1:0'"),
    usage("connect", ["-f", "line", "--send", "x", "udp://127.0.0.1:0"], r"cannot connect to port 0 of 'udp://127\.0\.0\.1:0'"),
    usage("bench", ["127.0.0.1:0"], r"cannot connect to port 0 of 'tcp://127\.0\.0\.1:0'"),

    # ---------------------------------------------------- services, framings
    usage("listen", ["-s", "nosuchservice", "0"], r"unknown service 'nosuchservice' \(stdio, echo"),
    usage("listen", ["-s", "", "0"], r"unknown service '' "),
    usage("listen", ["-s", "ECHO", "0"], r"unknown service 'ECHO' "),
    bad_framing("listen", "len:3", LOCAL),
    bad_framing("listen", "len:16", LOCAL),
    bad_framing("listen", "len:4xe", LOCAL),
    bad_framing("listen", "lenx", LOCAL),
    bad_framing("listen", "lines", LOCAL),
    bad_framing("listen", "len:", LOCAL),
    bad_framing("listen", "", LOCAL),
    bad_framing("listen", "len:4bele", LOCAL),
    bad_framing("listen", "len:-1", LOCAL),
    bad_framing("connect", "len:3", LOCAL),
    bad_framing("connect", "len:16", LOCAL),
    bad_framing("connect", "len:4xe", LOCAL),
    bad_framing("connect", "lenx", LOCAL),
    bad_framing("connect", "lines", LOCAL),
    bad_framing("connect", "len:", LOCAL),
    bad_framing("connect", "", LOCAL),
    bad_framing("connect", "LINE", LOCAL),
    bad_framing("bench", "raw:4", LOCAL),
    bad_framing("bench", "len:0", LOCAL),
    usage("bench", ["--mode", "nope", LOCAL], r"unknown mode 'nope' \(echo, stream, udp, chat, connect\)"),
    usage("bench", ["--mode", "", LOCAL], r"unknown mode '' "),
    usage("bench", ["--mode", "ecoh", LOCAL], r"unknown mode 'ecoh' \(did you mean 'echo'\?\)$"),
    usage("listen", ["-s", "ecoh", "0"], r"unknown service 'ecoh' \(did you mean 'echo'\?\)$"),
    usage("listen", ["-s", "caht", "0"], r"unknown service 'caht' \(did you mean 'chat'\?\)$"),
    usage("listen", ["-f", "lnie", "0"], r"bad framing 'lnie': expected raw, .* \(did you mean 'line'\?\)$"),
    usage("connect", ["-f", "rwa", LOCAL], r"bad framing 'rwa': expected raw, .* \(did you mean 'raw'\?\)$"),

    # -------------------------------------------- options missing their value
    needs_value("listen", "0", "-s"),
    needs_value("listen", "0", "--service"),
    needs_value("listen", "0", "-f"),
    needs_value("listen", "0", "--max-frame"),
    needs_value("listen", "0", "--max-queue"),
    needs_value("listen", "0", "--max-conns"),
    needs_value("listen", "0", "--backlog"),
    needs_value("listen", "0", "--idle-timeout"),
    needs_value("listen", "0", "--frame-timeout"),
    needs_value("listen", "--frame-timeout"),
    needs_value("connect", LOCAL, "--send"),
    needs_value("connect", LOCAL, "--max-frame"),
    needs_value("connect", LOCAL, "--expect"),
    needs_value("connect", LOCAL, "--timeout"),
    needs_value("connect", LOCAL, "-f"),
    needs_value("bench", LOCAL, "--mode"),
    needs_value("bench", LOCAL, "-c"),
    needs_value("bench", LOCAL, "-p"),
    needs_value("bench", LOCAL, "-s"),
    needs_value("bench", LOCAL, "-d"),
    needs_value("bench", LOCAL, "-n"),
    needs_value("bench", LOCAL, "--warmup"),
    needs_value("bench", LOCAL, "--stall"),
    needs_value("bench", LOCAL, "--payload"),
    needs_value("bench", LOCAL, "--timeout"),

    # ------------------------------------------------------------------ numbers
    bad_value("listen", "--max-conns", "x", "number", "0"),
    bad_value("listen", "--max-conns", "-1", "number", "0"),
    bad_value("listen", "--max-conns", "+5", "number", "0"),
    bad_value("listen", "--max-conns", "", "number", "0"),
    bad_value("listen", "--max-conns", "0x10", "number", "0"),
    bad_value("listen", "--max-conns", "10000001", "range", "0"),
    bad_value("listen", "--max-conns", TWO_64, "range", "0"),
    bad_value("listen", "--max-conns", HUGE, "range", "0"),
    bad_value("listen", "--backlog", "lots", "number", "0"),
    bad_value("listen", "--backlog", "0", "range", "0"),
    bad_value("listen", "--backlog", "65536", "range", "0"),
    bad_value("listen", "--max-frame", "abc", "size", "0"),
    bad_value("listen", "--max-frame", "12Q", "size", "0"),
    bad_value("listen", "--max-frame", "1T", "size", "0"),
    bad_value("listen", "--max-frame", "1KX", "size", "0"),
    bad_value("listen", "--max-frame", "1e400", "size", "0"),
    bad_value("listen", "--max-frame", "0", "range", "0"),
    bad_value("listen", "--max-frame", "2G", "range", "0"),
    bad_value("listen", "--max-frame", TWO_64, "range", "0"),
    bad_value("listen", "--max-frame", TWO_64 + "K", "range", "0"),
    bad_value("listen", "--max-queue", "-5", "size", "0"),
    bad_value("listen", "--max-queue", "1023", "range", "0"),
    bad_value("listen", "--max-queue", "65G", "range", "0"),
    bad_value("listen", "--max-queue-hard", "big", "size", "-s", "chat", "0"),
    bad_value("listen", "--max-queue-hard", "1023", "range", "-s", "chat", "0"),
    bad_value("listen", "--max-queue-hard", "1025G", "range", "-s", "chat", "0"),
    bad_value("listen", "--slow-timeout", "soon", "seconds", "-s", "chat", "0"),
    bad_value("listen", "--slow-timeout", "-1", "seconds", "-s", "chat", "0"),
    usage("listen", ["-s", "chat", "--max-queue", "64K", "--max-queue-hard", "32K", "0"],
          r"--max-queue-hard 32K is below --max-queue 64K$"),
    usage("listen", ["-s", "chat", "--max-queue-hard", "512K", "0"],
          r"--max-queue-hard 512K is below --max-queue 1M \(the default\)$"),
    usage("listen", ["-s", "echo", "--slow-timeout", "1", "0"],
          r"--slow-timeout applies to -s chat: echo stops reading a client whose queue is full"),
    usage("listen", ["-s", "upper", "--max-queue-hard", "4M", "0"],
          r"--max-queue-hard applies to -s chat: upper stops reading"),
    bad_value("listen", "--idle-timeout", "soon", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "-1", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "+5", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "5s", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "\t5", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "0x10", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "nan", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "inf", "seconds", "0"),
    bad_value("listen", "--idle-timeout", "1e400", "range", "0"),
    bad_value("listen", "--idle-timeout", "31536001", "range", "0"),
    bad_value("listen", "--frame-timeout", "-1", "seconds", "-f", "line", "0"),
    bad_value("listen", "--frame-timeout", "never", "seconds", "-f", "line", "0"),
    bad_value("listen", "--frame-timeout", "", "seconds", "-f", "line", "0"),
    bad_value("listen", "--frame-timeout", "1e400", "range", "-f", "line", "0"),
    bad_value("listen", "--frame-timeout", "99999999", "range", "-f", "line", "0"),
    bad_value("connect", "--expect", "-1", "number", "--send", "x", LOCAL),
    bad_value("connect", "--expect", "abc", "number", "--send", "x", LOCAL),
    bad_value("connect", "--expect", "1000000001", "range", "--send", "x", LOCAL),
    bad_value("connect", "--expect", TWO_64, "range", "--send", "x", LOCAL),
    bad_value("connect", "--timeout", "-1", "seconds", LOCAL),
    bad_value("connect", "--timeout", "10ms", "seconds", LOCAL),
    bad_value("connect", "--timeout", "1e400", "range", LOCAL),
    bad_value("connect", "--max-frame", "0", "range", LOCAL),
    bad_value("connect", "--max-queue", "0", "range", LOCAL),
    bad_value("bench", "-c", "0", "range", LOCAL),
    bad_value("bench", "-c", "1000001", "range", LOCAL),
    bad_value("bench", "-c", "many", "number", LOCAL),
    bad_value("bench", "-p", "0", "range", LOCAL),
    bad_value("bench", "-p", "65537", "range", LOCAL),
    bad_value("bench", "-n", "0", "range", LOCAL),
    bad_value("bench", "-n", TWO_64, "range", LOCAL),
    bad_value("bench", "-s", "2G", "range", LOCAL),
    bad_value("bench", "-s", "-1", "size", LOCAL),
    bad_value("bench", "-d", "-1", "seconds", LOCAL),
    bad_value("bench", "-d", "1e400", "range", LOCAL),
    bad_value("bench", "--warmup", "x", "seconds", LOCAL),
    bad_value("bench", "--stall", "-1", "number", "--mode", "chat", LOCAL),
    bad_value("bench", "--timeout", "abc", "seconds", LOCAL),
    bad_value("bench", "--max-frame", "2G", "range", LOCAL),
    usage("bench", ["-d", "0", LOCAL], r"--duration: 0 is out of range \(more than 0 s\)"),

    # ---------------------------------------------------- conflicting options
    usage("listen", ["-k", "-s", "echo", "0"], r"-k/--keep-open applies to -s stdio only"),
    usage("listen", ["--raw-output", "-s", "chat", "0"], r"--raw-output applies to -s stdio only"),
    usage("listen", ["-s", "chat", "-f", "raw", "0"], r"-s chat needs -f line or len"),
    usage("listen", ["-s", "echo", "-f", "len", "udp://127.0.0.1:0"], r"-f len cannot be used over UDP"),
    usage("listen", ["-s", "upper", "-f", "len:2le", "udp://127.0.0.1:0"], r"-f len:2le cannot be used over UDP"),
    usage("listen", ["-s", "echo", "-f", "line", "--frame-timeout", "1", "udp://127.0.0.1:0"],
          r"--frame-timeout applies to streams"),
    usage("listen", ["-s", "echo", "--frame-timeout", "1", "0"], r"--frame-timeout needs -f line or len"),
    usage("listen", ["-s", "echo", "-f", "len:1", "--max-frame", "1M", "0"],
          r"--max-frame 1M does not fit a 1-byte length header \(at most 255\)"),
    usage("listen", ["-s", "echo", "-f", "len:2le", "--max-frame", "1M", "0"],
          r"--max-frame 1M does not fit a 2-byte length header \(at most 65535\)"),
    usage("listen", ["-s", "echo", "--backlog", "5", "udp://127.0.0.1:0"], r"--backlog applies to TCP and Unix"),
    usage("connect", ["--expect", "2", LOCAL], r"--expect needs --send"),
    usage("connect", ["-f", "len", UDP], r"-f len cannot be used over UDP"),
    usage("connect", ["-f", "len:8le", "--send", "x", UDP], r"-f len:8le cannot be used over UDP"),
    usage("connect", ["-f", "len:2", "--max-frame", "1M", LOCAL], r"--max-frame 1M does not fit a 2-byte"),
    usage("connect", ["-f", "line", "--send", "one", "--send", "two\nlines", LOCAL],
          r"--send number 2 holds a newline, which line framing cannot carry"),
    usage("connect", ["--max-frame", "4", "--send", "12345", LOCAL], r"--send: a 5-byte message is over --max-frame 4"),
    usage("connect", ["-f", "len:1", "--send", "x" * 300, LOCAL], r"--send: a 300-byte message is over --max-frame 255"),
    usage("bench", ["-d", "1", "-n", "5", LOCAL], r"--duration and --requests exclude each other"),
    usage("bench", ["--mode", "udp", LOCAL], r"--mode udp needs a udp:// address"),
    usage("bench", [UDP], r"a udp:// address needs --mode udp"),
    usage("bench", ["--mode", "udp", "-f", "len", UDP], r"-f len cannot be used over UDP"),
    usage("bench", ["--mode", "udp", "-s", "8", UDP], r"--mode udp needs --size 16 or more"),
    usage("bench", ["--mode", "udp", "--payload", "x", UDP], r"--payload needs --mode echo or stream"),
    usage("bench", ["--mode", "chat", "--payload", "x", LOCAL], r"--payload does not go with --mode chat"),
    usage("bench", ["--mode", "chat", "-s", "8", LOCAL], r"--mode chat needs --size 16 or more"),
    usage("bench", ["--mode", "chat", "-f", "raw", LOCAL], r"--mode chat needs message framing"),
    usage("bench", ["-f", "raw", LOCAL], r"--mode echo needs message framing"),
    usage("bench", ["--stall", "1", LOCAL], r"--stall needs --mode chat"),
    usage("bench", ["--mode", "chat", "--stall", "5", "-c", "5", LOCAL], r"--stall needs --mode chat and fewer"),
    usage("bench", ["-s", "2K", "--max-frame", "1K", LOCAL], r"--size 2048 is over --max-frame 1024"),
    usage("bench", ["-f", "len:1", "-s", "300", LOCAL], r"--size 300 is over --max-frame 255"),
    usage("bench", ["-f", "len:1", "--max-frame", "1K", LOCAL], r"--max-frame 1K does not fit a 1-byte"),
    usage("bench", ["--payload", "a\nb", LOCAL], r"--payload holds a newline"),
    usage("bench", ["--max-frame", "4", "--payload", "PINGPONG", LOCAL],
          r"--payload: a 8-byte message is over --max-frame 4"),

    # -------------------------------------------------------- unknown options
    unknown_opt("listen", "--bogus", LOCAL),
    unknown_opt("listen", "-Z", "0"),
    unknown_opt("listen", "-Yv", "0", shown="-Y"),
    unknown_opt("listen", "--send", "x", "0"),
    unknown_opt("listen", "--bogus=1", "0", shown="--bogus"),
    unknown_opt("listen", "--=x", "0"),
    unknown_opt("connect", "--bogus", LOCAL),
    unknown_opt("connect", "-k", LOCAL),
    unknown_opt("connect", "-s", "echo", LOCAL),
    unknown_opt("connect", "--max-conns", "5", LOCAL),
    unknown_opt("connect", "-k", "-w", "5", LOCAL),
    unknown_opt("bench", "-k", LOCAL),
    unknown_opt("bench", "-v", LOCAL),
    unknown_opt("bench", "--max-queue", "1K", LOCAL),
    unknown_opt("bench", "--send", "x", LOCAL),
    usage("listen", ["--sevice", "echo", "0"], r"unknown option '--sevice' \(did you mean '--service'\?\)$"),
    usage("listen", ["--keep-opne", "0"], r"unknown option '--keep-opne' \(did you mean '--keep-open'\?\)$"),
    usage("connect", ["--sned", "x", LOCAL], r"unknown option '--sned' \(did you mean '--send'\?\)$"),
    usage("connect", ["--timeuot=1", LOCAL], r"unknown option '--timeuot' \(did you mean '--timeout'\?\)$"),
    usage("bench", ["--durration", "1", LOCAL], r"unknown option '--durration' \(did you mean '--duration'\?\)$"),
    # Never the opposite (in-, no-, un-), and a name that begins the word
    # beats one a few edits away.
    usage("connect", ["--secure", "tls://127.0.0.1:1"], r"unknown option '--secure'$"),
    usage("connect", ["--cacert", "/x.pem", "tls://127.0.0.1:1"], r"unknown option '--cacert' \(did you mean '--ca'\?\)$"),
    usage("listen", ["--key-file", "/x.pem", "tls://127.0.0.1:0"], r"unknown option '--key-file' \(did you mean '--key'\?\)$"),
    usage("listen", ["--max", "5", "0"], r"option '--max' is ambiguous \(--max-frame, --max-queue, --max-queue-hard, --max-conns, --max-conns-per-ip\)$"),
    usage("connect", ["--max=5", LOCAL], r"option '--max' is ambiguous \(--max-frame, --max-queue\)$"),
    usage("listen", ["--keep-open=yes", "0"], r"option '--keep-open' takes no value$"),
    usage("listen", ["--raw-output=yes", "0"], r"option '--raw-output' takes no value$"),
    usage("connect", ["--raw-output=1", LOCAL], r"option '--raw-output' takes no value$"),
    unknown_opt("bench", "--raw-output", LOCAL),
    # An unknown short option in a cluster after a good long one is named
    # itself, not the long one before it.
    usage("listen", ["--verbose", "-Yv", "9000"], r"unknown option '-Y'$"),
    usage("listen", ["--frame-timeout=1", "-Yv", "9000"], r"unknown option '-Y'$"),
    usage("connect", ["--send=hi", "-Zq", LOCAL], r"unknown option '-Z'$"),
    usage("bench", ["--json", "-Xq", LOCAL], r"unknown option '-X'$"),
    usage("listen", ["--help=x"], r"option '--help' takes no value$"),
    usage("bench", ["--json=1", LOCAL], r"option '--json' takes no value$"),

    # ------------------------------ netcat's habits: -w, -C, -x, (-v)
    needs_value("connect", LOCAL, "-w"),
    needs_value("connect", LOCAL, "--idle-timeout"),
    needs_value("connect", LOCAL, "-x"),
    needs_value("connect", LOCAL, "--hexdump"),
    needs_value("listen", "0", "-x"),
    needs_value("listen", "0", "--hexdump"),
    bad_value("connect", "--idle-timeout", "soon", "seconds", LOCAL),
    bad_value("connect", "--idle-timeout", "-1", "seconds", LOCAL),
    bad_value("connect", "--idle-timeout", "5s", "seconds", LOCAL),
    bad_value("connect", "--idle-timeout", "1e400", "range", LOCAL),
    usage("connect", ["-w", "", LOCAL], r"--idle-timeout: '' is not a number of seconds$"),
    usage("connect", ["-w", "nan", LOCAL], r"--idle-timeout: 'nan' is not a number of seconds$"),
    usage("connect", ["-C", "-f", "len", LOCAL], r"-C/--crlf needs raw or line framing: -f len messages"),
    usage("connect", ["--crlf", "-f", "len:2le", UDP.replace("udp", "tcp")],
          r"-C/--crlf needs raw or line framing: -f len:2le messages"),
    usage("connect", ["-C", "--send", "HELO", LOCAL], r"-C/--crlf converts stdin's line ends: it does not apply to --send$"),
    usage("connect", ["--crlf=1", LOCAL], r"option '--crlf' takes no value$"),
    usage("connect", ["-x", "", LOCAL], r"--hexdump: empty file name \(- for stderr\)$"),
    usage("listen", ["-x", "", "0"], r"--hexdump: empty file name \(- for stderr\)$"),
    # Said before a self-signed certificate is made, or --insecure warns.
    usage("listen", ["-x", "", "tls://127.0.0.1:0"], r"--hexdump: empty file name \(- for stderr\)$"),
    usage("connect", ["--insecure", "-x", "", "tls://127.0.0.1:1"], r"--hexdump: empty file name \(- for stderr\)$"),
    usage("listen", ["-C", "-s", "echo", "0"], r"-C/--crlf applies to -s stdio only"),
    usage("listen", ["--crlf", "-s", "discard", "0"], r"-C/--crlf applies to -s stdio only"),
    usage("listen", ["-x", "-", "-s", "echo", "0"], r"-x/--hexdump applies to -s stdio only$"),
    usage("listen", ["--hexdump", "/tmp/x", "-s", "chat", "0"], r"-x/--hexdump applies to -s stdio only$"),
    usage("listen", ["-C", "-f", "len", "0"], r"-C/--crlf needs raw or line framing: -f len messages"),
    usage("listen", ["--crlf=yes", "0"], r"option '--crlf' takes no value$"),
    unknown_opt("listen", "-w", "5", "0"),
    unknown_opt("bench", "-C", LOCAL),
    unknown_opt("bench", "--hexdump", "-", LOCAL),
    usage("connect", ["--h", LOCAL], r"option '--h' is ambiguous \(--hexdump, --help\)$"),

    # ---------------------------------------- missing and extra positionals
    usage("listen", ["-s", "echo"], r"missing ADDRESS$"),
    usage("listen", [], r"missing ADDRESS$"),
    usage("connect", ["-f", "line"], r"missing ADDRESS$"),
    usage("bench", ["--json"], r"missing ADDRESS$"),
    # listen takes several addresses: each must be one.
    usage("listen", ["0", "1x"], r"bad address '1x': "),
    usage("listen", ["-s", "echo", "0", "extra", "more"], r"bad address 'extra': "),
    usage("listen", ["-s", "chat", "0", "udp://127.0.0.1:0", "-f", "len"],
          r"-f len cannot be used over UDP"),

    # ---------------------------------------- TLS options
    usage("listen", ["--cert", "/nonexistent.pem", "--key", "/nonexistent.pem", "0"],
          r"TLS options need a TLS address \(tls://HOST:PORT or tls\+unix:PATH\)$"),
    usage("listen", ["--cert", "/x.pem", "tls://127.0.0.1:0"], r"--cert needs --key too$"),
    usage("listen", ["--key", "/x.pem", "tls://127.0.0.1:0"], r"--key needs --cert too$"),
    usage("listen", ["--handshake-timeout", "0", "tls://127.0.0.1:0"],
          r"--handshake-timeout: must be more than 0"),
    usage("listen", ["--alpn", "a,,b", "tls://127.0.0.1:0"],
          r"--alpn: 'a,,b' is not a comma-separated list of protocol names$"),
    usage("connect", ["--insecure", "--pin", "sha256:00", "tls://127.0.0.1:1"],
          r"--insecure turns verification off: it cannot go with --pin$"),
    usage("connect", ["--ca", "/x.pem", "127.0.0.1:1"],
          r"TLS options need a TLS address"),
    usage("connect", ["--client-ca", "/x.pem", "tls://127.0.0.1:1"],
          r"unknown option '--client-ca'$"),
    bad_addr("listen", "tls+udp://127.0.0.1:0", r"TLS needs a stream: there is no TLS over UDP"),
    bad_addr("connect", "tls+udp://127.0.0.1:1", r"TLS needs a stream: there is no TLS over UDP"),
    usage("connect", [LOCAL, "extra"], r"unexpected argument 'extra'$"),

    # ---------------------------------------- connect -z: port lists, what scans
    usage("connect", ["-z", "127.0.0.1:25-20"],
          r"bad ports in '127\.0\.0\.1:25-20': the range 25-20 runs backwards \(write 20-25\)$"),
    usage("connect", ["-z", "127.0.0.1:0"], r"bad ports in '127\.0\.0\.1:0': port 0 is out of range \(1-65535\)$"),
    usage("connect", ["-z", "127.0.0.1:0-5"], r"bad ports in '127\.0\.0\.1:0-5': port 0 is out of range"),
    usage("connect", ["-z", "127.0.0.1:1-65536"], r"bad ports in '127\.0\.0\.1:1-65536': port 65536 is out of range"),
    usage("connect", ["-z", "127.0.0.1:80," + HUGE], r"bad ports in '127\.0\.0\.1:80,%s': port %s is out of range \(1-65535\)$" % (HUGE, HUGE)),
    usage("connect", ["-z", "127.0.0.1:80,,443"], r"bad ports in '127\.0\.0\.1:80,,443': an empty item in the port list"),
    usage("connect", ["-z", "127.0.0.1:80,"], r"bad ports in '127\.0\.0\.1:80,': an empty item"),
    usage("connect", ["-z", ":,80"], r"bad ports in ':,80': an empty item"),
    usage("connect", ["-z", "127.0.0.1:1-2-3"], r"bad ports in '127\.0\.0\.1:1-2-3': '1-2-3' is not a port or a range \(PORT or FIRST-LAST\)$"),
    usage("connect", ["-z", "127.0.0.1:-5"], r"bad ports in '127\.0\.0\.1:-5': '-5' is not a port or a range"),
    usage("connect", ["-z", "127.0.0.1:20-"], r"bad ports in '127\.0\.0\.1:20-': '20-' is not a port or a range"),
    usage("connect", ["-z", "127.0.0.1:22", "127.0.0.1:9-8"], r"bad ports in '127\.0\.0\.1:9-8': the range 9-8 runs backwards"),
    usage("connect", ["-z", "127.0.0.1"], r"bad address '127\.0\.0\.1': no port"),
    usage("connect", ["-z", "::1:20-25"], r"bad address '::1:20-25': an IPv6 address goes in brackets"),
    usage("connect", ["-z", "ftp://h:20-25"], r"bad address 'ftp://h:20-25': unknown scheme"),
    usage("connect", ["-z", "udp://127.0.0.1:53"], r"cannot scan 'udp://127\.0\.0\.1:53': UDP has no connection to make"),
    usage("connect", ["-z", "unix:/tmp/sock"], r"cannot scan 'unix:/tmp/sock': a Unix socket has no ports"),
    usage("connect", ["-z"], r"missing ADDRESS \(-z: HOST:PORTS\)$"),
    usage("connect", ["-z", "--send", "x", LOCAL], r"--send cannot be used with -z \(a scan connects and closes: it sends and reads nothing\)$"),
    usage("connect", ["-z", "--expect", "1", LOCAL], r"--expect cannot be used with -z"),
    usage("connect", ["-z", "-x", "-", LOCAL], r"-x/--hexdump cannot be used with -z \(a scan"),
    usage("connect", ["-z", "-C", LOCAL], r"-C/--crlf cannot be used with -z"),
    usage("connect", ["-z", "-f", "line", LOCAL], r"-f/--framing cannot be used with -z"),
    usage("connect", ["-z", "--raw-output", LOCAL], r"--raw-output cannot be used with -z"),
    usage("connect", ["-z", "--max-frame", "1K", LOCAL], r"--max-frame cannot be used with -z"),
    usage("connect", ["-z", "--max-queue", "1M", LOCAL], r"--max-queue cannot be used with -z"),
    usage("connect", ["-z", "-6", "127.0.0.1:1-5"], r"-6: '127\.0\.0\.1:1-5' is an IPv4 address$"),
    usage("connect", ["-z", "-4", "[::1]:1,2"], r"-4: '\[::1\]:1,2' is an IPv6 address$"),
    usage("connect", ["-z", "--source", "127.0.0.1", "[::1]:1-5"],
          r"--source 127\.0\.0\.1 is IPv4, but '\[::1\]:1-5' is IPv6$"),
    usage("connect", ["-z", "--source", "127.0.0.1", LOCAL, "unix:/tmp/x"],
          r"cannot scan 'unix:/tmp/x': a Unix socket has no ports"),
    usage("connect", ["-z", "127.0.0.1:nosuchservice"],
          r"bad address '127\.0\.0\.1:nosuchservice': unknown tcp service"),
    usage("connect", ["--scan-concurrency", "4", LOCAL], r"--scan-concurrency needs -z$"),
    usage("connect", ["-z", "--pin", "sha256:00", LOCAL], r"TLS options need a TLS address"),
    usage("connect", ["--sc", "4", LOCAL], r"option '--sc' is ambiguous \(--scan, --scan-concurrency\)$"),
    usage("connect", ["--scan=yes", LOCAL], r"option '--scan' takes no value$"),
    needs_value("connect", "-z", LOCAL, "--scan-concurrency"),
    bad_value("connect", "--scan-concurrency", "0", "range", "-z", LOCAL),
    bad_value("connect", "--scan-concurrency", "65536", "range", "-z", LOCAL),
    bad_value("connect", "--scan-concurrency", "four", "number", "-z", LOCAL),
    bad_value("connect", "--timeout", "-1", "seconds", "-z", LOCAL),
    usage("bench", [LOCAL, LOCAL], r"unexpected argument '127\.0\.0\.1:1'$"),
    # "--" ends the options, so "-s" is a (bad) address there.
    Case(["listen", "--", "-s"], r"^sockit: listen: bad address '-s': no port"),
    # connect takes netcat's HOST PORT as HOST:PORT, but not a second word
    # after an address that has its port.
    usage("connect", [LOCAL, "2"], r"unexpected argument '2'$"),
    usage("connect", ["localhost", "nosuchservice"], r"bad address 'localhost:nosuchservice': unknown tcp service"),
    usage("connect", ["localhost", "99999"], r"bad address 'localhost:99999': port out of range"),
    usage("connect", ["localhost", "123456"], r"bad address 'localhost:123456': port out of range"),
    usage("connect", ["-z", "localhost", "0"], r"bad ports in 'localhost:0': port 0 is out of range"),
    usage("connect", ["-z", "localhost", "nosuchservice"], r"bad address 'localhost:nosuchservice': unknown tcp service"),
    # An option's value that reads --help is a value, not a request for help.
    usage("connect", ["--send", "--help", "--expect", "x", LOCAL], r"--expect: 'x' is not a number$"),
]

SUBCOMMANDS = ("listen", "connect", "bench")


def case_id(case):
    text = " ".join(a if a else "''" for a in case.argv) or "(none)"
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= 60 else text[:57] + "..."


def hint_for(argv):
    if argv and argv[0] in SUBCOMMANDS:
        return "Try 'sockit %s --help' for more information." % argv[0]
    return "Try 'sockit --help' for more information."


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_command_line(case):
    r = run_sockit(case.argv, input=b"", timeout=10)
    err = r.stderr.decode("utf-8", "replace")
    for mark in SANITIZER_MARKS:
        assert mark not in err, err
    assert r.returncode == 2, (r.returncode, err)
    assert r.stdout == b"", r.stdout
    lines = err.splitlines()
    assert lines and lines[0].startswith("sockit: "), err
    assert re.search(case.expect, lines[0]), (case.expect, lines[0])
    if case.argv:
        # One message line, then where to read more; nothing else.
        assert lines[1:] == [hint_for(case.argv)], err
    else:
        # Without a command, the summary of the commands follows.
        assert lines[1].startswith("usage: sockit COMMAND"), err


def test_table_is_large_and_distinct():
    """At least 60 wrong invocations (the hardening issue asks for 60; this
    table aims at 80 and more), no two alike, spread over every command."""
    assert len(CASES) >= 80, len(CASES)
    argvs = [tuple(c.argv) for c in CASES]
    assert len(set(argvs)) == len(argvs), "a case appears twice"
    for cmd in SUBCOMMANDS:
        assert sum(1 for c in CASES if c.argv[:1] == [cmd]) >= 20, cmd
    assert sum(1 for c in CASES if not c.argv or c.argv[0] not in SUBCOMMANDS) >= 5
    for c in CASES:
        assert c.expect.startswith("^sockit: "), c


def test_robustness_doc_states_the_count():
    doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "robustness.md")
    if not os.path.exists(doc):
        pytest.skip("docs/robustness.md is not written yet")
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    assert re.search(r"\b%d\b" % len(CASES), text), \
        "docs/robustness.md does not state the number of bad command lines tested (%d)" % len(CASES)
