"""TLS: tls://HOST:PORT and tls+unix:PATH for listen, connect and bench.

Certificates are made per session by tlscerts.py (a CA, a server
certificate for localhost/127.0.0.1/::1, an expired one, one for
example.org only, one from another CA, client certificates).  The other
side of each test is a program a user would pair sockit with: Python's ssl,
openssl s_server and s_client, socat, nc.  Each test asserts the bytes, the
exit status and the messages a user relies on, and bounds every wait.
"""

import asyncio
import hashlib
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

import helpers
from helpers import Conn, Framing, has_ipv6_loopback, poll_until, run_sockit, scaled
from tlscerts import (  # noqa: F401 -- tls_certs and tls_server are fixtures
    CLIENT_CN, EXPIRED_YEAR, FINGERPRINT_RE, SERVER_CN, PyTLSServer,
    TLSConn, Tool, client_context, client_hello, connect_fails, der_fingerprint,
    expect_tls_refused, free_port, server_args, tls_certs, tls_server)

LEN_SPECS = ["len", "len:2le", "len:8"]
FRAMINGS = ["raw", "line"] + LEN_SPECS


@pytest.fixture
def tconns():
    """Opens TLS client connections (TLSConn.connect's arguments) and
    closes them at teardown."""
    yield from helpers.tracked(TLSConn.connect)


def start_tls(tls_server, certs, *args, pair=None, addr="tls://127.0.0.1:0"):
    """`sockit listen ARGS --cert --key ADDR` with the CA's server
    certificate (or pair)."""
    return tls_server(*args, *server_args(pair or certs.server), addr)


def roundtrip(conn, msg=b"still here"):
    conn.send_msg(msg)
    return conn.recv_msg()


def served(srv, certs, framing="line", ctx=None, hostname=None):
    """A new TLS client gets its line back: the server is still serving."""
    c = TLSConn.connect(srv.addr, ctx or client_context(certs.ca), framing,
                        server_hostname=hostname)
    try:
        msg = b"served %d" % random.randrange(1 << 30)
        c.send_msg(msg)
        got = c.recv_msg()
        assert got in (msg, msg.upper()), got
    finally:
        c.close()


def messages_for(spec):
    f = Framing(spec)
    if f.mode == "line":
        return [b"hello", b"", b"x" * 1000, bytes(range(11, 256)) * 40, b"mixed Case 123", b"last"]
    big = min(f.max_payload, 200000)
    return [b"hello", b"", b"\x00\n\r\xff", bytes(range(256)) * (big // 256) + b"!" * (big % 256),
            b"a" * min(f.max_payload, 40000), b"last"]


# --------------------------------------------------- Python ssl clients

@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("service", ["echo", "upper"])
def test_python_client_every_framing(tls_certs, tls_server, tconns, service, framing):
    srv = start_tls(tls_server, tls_certs, "-s", service, "-f", framing)
    assert srv.addr.text == "tls://127.0.0.1:%d" % srv.port
    c = tconns(srv.addr, client_context(tls_certs.ca), framing)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    want = (lambda m: m) if service == "echo" else bytes.upper
    if framing == "raw":
        data = bytes(range(256)) * 1024
        c.sendall(data)
        assert c.recv_exact(len(data)) == want(data)
        return
    msgs = messages_for(framing)
    for m in msgs:                     # one at a time
        c.send_msg(m)
        assert c.recv_msg() == want(m)
    c.sendall(b"".join(c.framing.encode(m) for m in msgs))   # in one burst
    for m in msgs:
        assert c.recv_msg() == want(m)


def test_chain_in_cert_file(tls_certs, tls_server, tconns):
    """--cert may hold the chain: a leaf signed by an intermediate, then
    the intermediate; a client that trusts the root alone accepts it."""
    srv = start_tls(tls_server, tls_certs, "-s", "upper", "-f", "line", pair=tls_certs.chain)
    c = tconns(srv.addr, client_context(tls_certs.ca), "line")
    assert roundtrip(c, b"chain") == b"CHAIN"
    r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "via sockit",
                    srv.addr.text])
    assert (r.returncode, r.stdout) == (0, b"VIA SOCKIT\n"), r.stderr


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_address_checked_against_ip_san(tls_certs, tls_server, tconns):
    srv = start_tls(tls_server, tls_certs, "-s", "upper", "-f", "line", addr="tls://[::1]:0")
    assert srv.addr.text == "tls://[::1]:%d" % srv.port
    c = tconns(srv.addr, client_context(tls_certs.ca), "line", server_hostname="::1")
    assert roundtrip(c, b"six") == b"SIX"
    r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "v6", srv.addr.text])
    assert (r.returncode, r.stdout) == (0, b"V6\n"), r.stderr


def test_tls_over_unix_socket(tls_certs, tls_server, tconns, sockdir):
    path = sockdir + "/tls.sock"
    srv = start_tls(tls_server, tls_certs, "-s", "upper", "-f", "line", addr="tls+unix:" + path)
    assert srv.addr.text == "tls+unix:" + path
    c = tconns(srv.addr, client_context(tls_certs.ca), "line")   # AF_UNIX, name localhost
    assert roundtrip(c, b"over a unix socket") == b"OVER A UNIX SOCKET"
    # sockit connect over the same socket, pinned to the certificate.
    r = run_sockit(["connect", "--pin", tls_certs.server.fingerprint, "-f", "line",
                    "--send", "hi", "tls+unix:" + path])
    assert (r.returncode, r.stdout) == (0, b"HI\n"), r.stderr
    c.close()
    assert srv.stop() == 0
    assert not os.path.exists(path), "socket file left after SIGTERM"


# ------------------------------------------- sockit connect as the client

def test_connect_to_python_server_checks_name_and_sends_sni(tls_certs):
    with PyTLSServer(tls_certs.server) as py:
        r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "hello",
                        "--send", "world", "tls://localhost:%d" % py.port])
        assert (r.returncode, r.stdout) == (0, b"HELLO\nWORLD\n"), r.stderr
        assert py.sni == ["localhost"]
        # An IP address is checked against the IP names of the certificate.
        r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "by ip",
                        "tls://127.0.0.1:%d" % py.port])
        assert (r.returncode, r.stdout) == (0, b"BY IP\n"), r.stderr


def test_connect_verbose_logs_the_session(tls_certs):
    """-v on the client: protocol, cipher, and the server certificate's
    subject, issuer, validity and fingerprint."""
    with PyTLSServer(tls_certs.server) as py:
        r = run_sockit(["connect", "-v", "--ca", tls_certs.ca, "-f", "line", "--send", "v",
                        "tls://127.0.0.1:%d" % py.port])
        assert (r.returncode, r.stdout) == (0, b"V\n"), r.stderr
        _, cipher, version, _ = py.sessions[0]
    err = r.stderr.decode()
    for want in (version, cipher, SERVER_CN, tls_certs.ca_ou, tls_certs.server.fingerprint,
                 *tls_certs.server.validity_years):
        assert want in err, "%r not in -v's log:\n%s" % (want, err)


def test_connect_to_openssl_s_server(tls_certs):
    port = free_port()
    s_server = Tool(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                     "-cert", tls_certs.server.cert, "-key", tls_certs.server.key,
                     "-rev", "-naccept", "1"])
    try:
        s_server.wait_stdout(b"ACCEPT")
        r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "hello",
                        "tls://127.0.0.1:%d" % port])
        assert (r.returncode, r.stdout) == (0, b"olleh\n"), r.stderr   # -rev reverses lines
    finally:
        s_server.close()


def test_alpn_both_ways(tls_certs, tls_server, tconns):
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "line",
                    "--alpn", "sockit/1,echo/1")
    c = tconns(srv.addr, client_context(tls_certs.ca, alpn=["other/9", "echo/1"]), "line")
    assert c.sock.selected_alpn_protocol() == "echo/1"
    assert roundtrip(c) == b"still here"
    with PyTLSServer(tls_certs.server, alpn=["echo/0"]) as py:
        r = run_sockit(["connect", "--ca", tls_certs.ca, "--alpn", "x/1,echo/0", "-f", "line",
                        "--send", "alpn", "tls://127.0.0.1:%d" % py.port])
        assert (r.returncode, r.stdout) == (0, b"ALPN\n"), r.stderr
        assert py.sessions[0][0] == "echo/0"


def test_bench_verifies_with_ca_and_pin(tls_certs, tls_server):
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "line")
    for opts in (["--ca", tls_certs.ca], ["--pin", tls_certs.server.fingerprint]):
        r = run_sockit(["bench", "--json", "-q", "-c", "3", "-n", "300"] + opts + [srv.addr.text],
                       timeout=60)
        assert r.returncode == 0, r.stderr
        j = json.loads(r.stdout)
        assert j["requests"] == 300 and j["errors"] == 0 and j["mismatches"] == 0
        assert b"insecure" not in r.stderr


# --------------------------------------------- other programs as client

def test_openssl_s_client_against_listen(tls_certs, tls_server):
    srv = start_tls(tls_server, tls_certs, "-s", "upper", "-f", "line")
    s_client = Tool(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                     "-CAfile", tls_certs.ca, "-verify_return_error",
                     "-verify_ip", "127.0.0.1", "-quiet"])
    try:
        s_client.write(b"hello from openssl\n")
        assert s_client.wait_stdout(b"HELLO FROM OPENSSL\n") == b"HELLO FROM OPENSSL\n"
    finally:
        s_client.close()


def test_socat_against_listen(tls_certs, tls_server):
    srv = start_tls(tls_server, tls_certs, "-s", "upper", "-f", "line")
    socat = Tool(["socat", "-t", "5", "-", "OPENSSL:127.0.0.1:%d,cafile=%s"
                  % (srv.port, tls_certs.ca)])
    try:
        socat.write(b"hello from socat\n")
        assert socat.wait_stdout(b"HELLO FROM SOCAT\n") == b"HELLO FROM SOCAT\n"
    finally:
        socat.close()


# ---------------------------------------- self-signed, --pin, --insecure

def test_self_signed_fingerprint_and_pin(tls_server, tconns):
    srv = tls_server("-s", "echo", "-f", "line", "tls://127.0.0.1:0")
    before = srv.stderr_lines[:srv.ready]
    found = [m for m in map(FINGERPRINT_RE.search, before) if m]
    assert len(found) == 1, "no sha256: fingerprint line before `listening on`:\n%s" % (
        srv.stderr_text())
    fp = "sha256:" + found[0].group(1)

    # The certificate presented is that one, with an ECDSA P-256 key.
    c = tconns(srv.addr, client_context(verify=False), "line")
    der = c.sock.getpeercert(binary_form=True)
    assert der_fingerprint(der) == fp
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert roundtrip(c) == b"still here"

    r = run_sockit(["connect", "--pin", fp, "-f", "line", "--send", "pinned", srv.addr.text])
    assert (r.returncode, r.stdout) == (0, b"pinned\n"), r.stderr

    wrong = "sha256:" + hashlib.sha256(b"not this one").hexdigest()
    reason = connect_fails(run_sockit(["connect", "--pin", wrong, "-f", "line",
                                       "--send", "x", srv.addr.text]), srv.addr.text)
    assert "pin" in reason and fp in reason, reason

    # Verification is on by default: the system store does not know it.
    connect_fails(run_sockit(["connect", "-f", "line", "--send", "x", srv.addr.text]),
                  srv.addr.text)
    assert roundtrip(c, b"after the failures") == b"after the failures"

    # Each server makes its own key.
    other = tls_server("-s", "echo", "tls://127.0.0.1:0")
    m = [m for m in map(FINGERPRINT_RE.search, other.stderr_lines[:other.ready]) if m]
    assert m and "sha256:" + m[0].group(1) != fp


def test_insecure_warns_every_time(tls_server):
    srv = tls_server("-s", "upper", "-f", "line", "tls://127.0.0.1:0")
    for i in range(2):
        r = run_sockit(["connect", "--insecure", "-f", "line", "--send", "run %d" % i,
                        srv.addr.text])
        assert (r.returncode, r.stdout) == (0, b"RUN %d\n" % i), r.stderr
        lines = r.stderr.decode().lower().splitlines()
        assert any("warning" in l and "insecure" in l for l in lines), r.stderr


# ---------------------------------------------- handshake failures

FAILURES = {
    # name: (server certificate attribute, extra listen args, connect args, words)
    "unknown-ca": ("otherca_server", [], ["--ca", "{ca}"], ["unknown CA", "--ca"]),
    "unknown-ca-system-store": ("server", [], [], ["unknown CA", "--ca"]),
    "name-mismatch": ("wrongname", [], ["--ca", "{ca}"], ["example.org"]),
    "expired": ("expired", [], ["--ca", "{ca}"], ["expired", str(EXPIRED_YEAR)]),
    "no-client-cert": ("server", ["--client-ca", "{ca}"], ["--ca", "{ca}"],
                       ["client certificate"]),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_verification_failure_says_why(tls_certs, tls_server, case):
    pair_name, listen_extra, connect_extra, words = FAILURES[case]
    pair = getattr(tls_certs, pair_name)
    fill = lambda args: [a.format(ca=tls_certs.ca) for a in args]  # noqa: E731
    srv = start_tls(tls_server, tls_certs, "-v", "-s", "upper", "-f", "line",
                    *fill(listen_extra), pair=pair)
    t0 = time.monotonic()
    r = run_sockit(["connect"] + fill(connect_extra) + ["-f", "line", "--send", "secret",
                                                         srv.addr.text])
    assert time.monotonic() - t0 < scaled(5)
    reason = connect_fails(r, srv.addr.text)
    for w in words:
        assert w in reason, "%r not in %r" % (w, reason)
    # The server goes on serving.
    ctx = client_context(verify=False, cert=tls_certs.client if listen_extra else None)
    served(srv, tls_certs, ctx=ctx)


@pytest.mark.parametrize("service", ["echo", "chat"])
def test_tls_client_against_plain_listener_fails_fast(tls_certs, start_server, conns, service):
    """echo sends the ClientHello back, chat greets in plain text: either
    way the client says the server is not speaking TLS, within 3 s, and the
    server serves its plain clients as before."""
    srv = start_server("-s", service, "-f", "line", "tcp://127.0.0.1:0")
    address = "tls://127.0.0.1:%d" % srv.port
    t0 = time.monotonic()
    r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "x", address])
    assert time.monotonic() - t0 < 3 * helpers.TIME_SCALE
    reason = connect_fails(r, address)
    assert "not speaking TLS" in reason, reason
    c = conns(srv.addr, "line")
    if service == "echo":
        assert roundtrip(c, b"plain") == b"plain"
    else:
        assert c.recv_text().startswith("* you are guest")


def test_plain_client_against_tls_listener_is_closed_fast(tls_certs, tls_server):
    srv = start_tls(tls_server, tls_certs, "-v", "-s", "echo", "-f", "line")
    plain = Conn.connect(srv.addr, "line")
    try:
        peer = "127.0.0.1:%d" % plain.sock.getsockname()[1]
        t0 = time.monotonic()
        plain.sendall(b"hello in plain text\n")
        got = plain.expect_closed(3)
        assert time.monotonic() - t0 < 3 * helpers.TIME_SCALE
        assert b"hello" not in got, got
    finally:
        plain.close()
    # -v names the peer and what went wrong.
    srv.wait_stderr(r"(?i)%s(?!\d).*(tls|handshake)" % re.escape(peer))
    # nc too: its connection ends without an echo, in well under 3 s.
    t0 = time.monotonic()
    nc = subprocess.run(["nc", "127.0.0.1", str(srv.port)], input=b"hello from nc\n",
                        capture_output=True, timeout=scaled(10))
    assert time.monotonic() - t0 < 3 * helpers.TIME_SCALE
    assert b"hello" not in nc.stdout
    served(srv, tls_certs)


# ------------------------------------------------------- mutual TLS

def test_mutual_tls(tls_certs, tls_server, tconns):
    srv = start_tls(tls_server, tls_certs, "-v", "-s", "upper", "-f", "line",
                    "--client-ca", tls_certs.ca)
    good = client_context(tls_certs.ca, cert=tls_certs.client)
    c = tconns(srv.addr, good, "line")
    assert roundtrip(c, b"with a certificate") == b"WITH A CERTIFICATE"

    r = run_sockit(["connect", "--ca", tls_certs.ca, "--cert", tls_certs.client.cert,
                    "--key", tls_certs.client.key, "-f", "line", "--send", "sockit client",
                    srv.addr.text])
    assert (r.returncode, r.stdout) == (0, b"SOCKIT CLIENT\n"), r.stderr

    # Refused: no certificate, or one from another CA; by Python and sockit.
    for cert in (None, tls_certs.otherca_client):
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(10))
        peer = "127.0.0.1:%d" % raw.getsockname()[1]
        bad = None
        try:
            bad = client_context(tls_certs.ca, cert=cert).wrap_socket(
                raw, server_hostname="127.0.0.1")
            expect_tls_refused(TLSConn(bad, "line"))
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass                          # refused in the handshake itself
        finally:
            (bad or raw).close()
        # -v names the refused peer and says it is about its certificate.
        srv.wait_stderr(r"(?i)%s(?!\d).*certificate" % re.escape(peer))
    reason = connect_fails(run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line",
                                       "--send", "x", srv.addr.text]), srv.addr.text)
    assert "client certificate" in reason, reason
    connect_fails(run_sockit(["connect", "--ca", tls_certs.ca,
                              "--cert", tls_certs.otherca_client.cert,
                              "--key", tls_certs.otherca_client.key,
                              "-f", "line", "--send", "x", srv.addr.text]), srv.addr.text)
    # The accepted client is still served.
    assert roundtrip(c, b"still in") == b"STILL IN"


def test_server_verbose_logs_the_session(tls_certs, tls_server, tconns):
    """-v on the server: protocol, cipher, and the client certificate's
    subject, issuer, validity and fingerprint."""
    srv = start_tls(tls_server, tls_certs, "-v", "-s", "echo", "-f", "line",
                    "--client-ca", tls_certs.ca)
    c = tconns(srv.addr, client_context(tls_certs.ca, cert=tls_certs.client), "line")
    assert roundtrip(c) == b"still here"
    cipher, version = c.sock.cipher()[0], c.sock.version()
    for want in (version, cipher, CLIENT_CN, tls_certs.ca_ou, tls_certs.client.fingerprint,
                 *tls_certs.client.validity_years):
        srv.wait_stderr(re.escape(want))


# ------------------------------------------------- hostile handshakes

def test_handshake_timeout(tls_certs, tls_server, tconns):
    """A client that sends nothing, or one byte, is closed after
    --handshake-timeout; a TLS client meanwhile is served."""
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "line", "--handshake-timeout", "1")
    t0 = time.monotonic()
    silent = Conn.connect(srv.addr)
    one_byte = Conn.connect(srv.addr)
    one_byte.sendall(b"\x16")
    try:
        c = tconns(srv.addr, client_context(tls_certs.ca), "line")
        assert roundtrip(c) == b"still here"
        for stalled in (silent, one_byte):
            assert stalled.expect_closed(10) == b""
            elapsed = time.monotonic() - t0
            assert 0.7 <= elapsed <= 4 * helpers.TIME_SCALE, "closed after %.2f s" % elapsed
    finally:
        silent.close()
        one_byte.close()
    assert roundtrip(c, b"after") == b"after"


def test_handshake_timeout_default_is_10_s(tls_certs, tls_server):
    srv = start_tls(tls_server, tls_certs, "-s", "echo")
    t0 = time.monotonic()
    silent = Conn.connect(srv.addr)
    try:
        silent.expect_silence(3)          # neither closed nor answered yet
        assert silent.expect_closed(15) == b""
        elapsed = time.monotonic() - t0
        assert 9 <= elapsed <= 10 + 5 * helpers.TIME_SCALE, "closed after %.2f s" % elapsed
    finally:
        silent.close()


def reset(sock):
    """Closes sock with a TCP reset (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("cut", ["partial-hello", "whole-hello"])
def test_reset_mid_handshake(tls_certs, tls_server, tconns, cut):
    """Peers that reset during the handshake (after part of a ClientHello,
    or after all of it and the server's answer) cost the server nothing:
    a client connected throughout is served between each."""
    srv = start_tls(tls_server, tls_certs, "-v", "-s", "echo", "-f", "line")
    c = tconns(srv.addr, client_context(tls_certs.ca), "line")
    hello = client_hello()
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(10))
        if cut == "partial-hello":
            s.sendall(hello[:40])
        else:
            s.sendall(hello)
            assert s.recv(5)[:1] == b"\x16"       # the server's handshake record
        reset(s)
        assert roundtrip(c, b"between %d" % i) == b"between %d" % i
    served(srv, tls_certs)
    assert srv.proc.poll() is None


# ------------------------------------------------------------- load

def run_async(coro, timeout):
    async def bounded():
        return await asyncio.wait_for(coro, scaled(timeout))
    return asyncio.run(bounded())


async def close_writer(w):
    w.close()
    try:
        await asyncio.wait_for(w.wait_closed(), 5)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        pass


def test_200_concurrent_clients(tls_certs, tls_server):
    """200 TLS clients connected at once, 100 line round trips each, every
    reply checked."""
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "line")
    ctx = client_context(tls_certs.ca)
    n_clients, n_trips = 200, 100

    async def main():
        pairs = await asyncio.gather(*[
            asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx, server_hostname="127.0.0.1")
            for _ in range(n_clients)])

        async def talk(i, r, w):
            for k in range(n_trips):
                m = b"client %d trip %d %s\n" % (i, k, b"x" * (k % 61))
                w.write(m)
                got = await r.readline()
                assert got == m, (i, k, got)
            await close_writer(w)
            return n_trips

        return await asyncio.gather(*[talk(i, r, w) for i, (r, w) in enumerate(pairs)])

    assert sum(run_async(main(), 120)) == n_clients * n_trips


def test_flood_nothing_lost(tls_certs, tls_server):
    """20 connections each send 2,000 len-framed messages of random sizes
    up to 16 KiB while reading the echoes: the same bytes come back, in
    order (SHA-256 of each direction)."""
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "len")
    ctx = client_context(tls_certs.ca)
    n_conns = 20
    n_msgs = 200 if helpers.under_valgrind() else 2000

    async def one(i):
        r, w = await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx,
                                             server_hostname="127.0.0.1")
        rnd = random.Random(i)
        sizes = [rnd.randint(0, 16384) for _ in range(n_msgs)]
        sent, got = hashlib.sha256(), hashlib.sha256()

        async def writer():
            for n in sizes:
                m = rnd.randbytes(n)
                sent.update(m)
                w.write(struct.pack("!I", n) + m)
                await w.drain()

        task = asyncio.create_task(writer())
        for n in sizes:
            (k,) = struct.unpack("!I", await r.readexactly(4))
            assert k == n
            got.update(await r.readexactly(k))
        await task
        await close_writer(w)
        return sent.hexdigest() == got.hexdigest()

    async def main():
        return await asyncio.gather(*[one(i) for i in range(n_conns)])

    assert run_async(main(), 120) == [True] * n_conns


def test_sigterm_flushes_queued_replies_then_close_notify(tls_certs, tls_server):
    """The client sends 8 MiB to echo and reads nothing until the stop:
    the server has read it all and holds most replies in its queue.  After
    SIGTERM the client gets every byte, then the server's close_notify (an
    end without it raises SSLEOFError), and the server exits 0."""
    srv = start_tls(tls_server, tls_certs, "-s", "echo", "-f", "len", "--max-queue", "64M")
    c = TLSConn.connect(srv.addr, client_context(tls_certs.ca), "len", timeout=20,
                        rcvbuf=65536)
    try:
        msgs = [bytes([i % 251]) * 8192 for i in range(1024)]
        wire = b"".join(c.framing.encode(m) for m in msgs)
        c.sendall(wire)
        port = c.sock.getsockname()[1]
        assert poll_until(lambda: helpers.server_rx_queue(srv.port, port) == 0, 20), (
            "the server did not read everything")
        srv.signal(signal.SIGTERM)
        got = c.recv_until_close_notify()
    finally:
        c.close()
    assert srv.wait_exit() == 0
    assert len(got) == len(wire)
    assert got == wire


# ------------------------------------------------------------- chat

def test_chat_over_tls(tls_certs, tls_server, tconns):
    srv = start_tls(tls_server, tls_certs, "-s", "chat")
    ctx = client_context(tls_certs.ca)
    c1 = tconns(srv.addr, ctx, "line")
    assert c1.recv_text() == "* you are guest1; here: guest1"
    c2 = tconns(srv.addr, ctx, "line")
    assert c2.recv_text() == "* you are guest2; here: guest1, guest2"
    assert c1.recv_text() == "* guest2 joined"
    c1.send_text("hello over TLS")
    assert c2.recv_text() == "guest1: hello over TLS"
    c2.send_text("/nick bob")
    assert c2.recv_text() == "* you are now bob"
    assert c1.recv_text() == "* guest2 is now bob"
    # sockit connect joins too.
    r = run_sockit(["connect", "--ca", tls_certs.ca, "-f", "line", "--send", "/who",
                    "--expect", "2", srv.addr.text])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["* you are guest3; here: guest1, bob, guest3",
                                              "* here: guest1, bob, guest3"]
    assert c1.recv_text() == "* guest3 joined"
    assert c1.recv_text() == "* guest3 left"
    c2.close()
    assert c1.recv_text() == "* bob left"


# ------------------------------------------------------------ usage

@pytest.mark.parametrize("command", ["listen", "connect"])
def test_no_tls_over_udp(command):
    address = "tls+udp://127.0.0.1:%d" % (0 if command == "listen" else 9)
    r = run_sockit([command, address], timeout=10)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.decode().splitlines()
    assert lines and lines[0].startswith("sockit: "), lines
    # It says why in words: TLS does not go over UDP (not "unknown scheme").
    assert re.search(r"\bTLS\b.*\bUDP\b", lines[0].replace(address, "")), lines[0]
    assert all(l.startswith("Try 'sockit") for l in lines[1:]), lines
