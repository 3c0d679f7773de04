"""Certificates made at test time, and the TLS side of the end-to-end tests:
addresses with a tls:// or tls+unix: scheme, a `sockit listen` that serves
several addresses, a Python TLS client and a Python TLS server.

The certificates come from trustme (Debian's python3-trustme) and are
written as PEM files into one directory per test session:

  ca                the CA the tests trust (--ca, --client-ca)
  server            localhost, 127.0.0.1 and ::1, signed by ca
  chain             the same names, signed by an intermediate of ca; its
                    PEM holds the leaf, then the intermediate
  expired           the same names, signed by ca, expired in EXPIRED_YEAR
  wrongname         example.org only, signed by ca
  otherca_server    localhost, 127.0.0.1 and ::1, signed by other_ca
  client            a client certificate signed by ca
  otherca_client    a client certificate signed by other_ca

Every wait is bounded, as in helpers.py.
"""

import datetime
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading

import pytest
import trustme

import helpers

EXPIRED_YEAR = 2019
SERVER_CN = "sockit-test-server"
CLIENT_CN = "sockit-test-client"
OTHER_CLIENT_CN = "sockit-other-client"

FINGERPRINT_RE = re.compile(r"sha256:([0-9a-f]{64})(?![0-9a-f])")


def fingerprint(pem_path):
    """'sha256:' and the lowercase hex SHA-256 of the first certificate in
    a PEM file (of its DER encoding), as --pin takes it."""
    with open(pem_path) as f:
        text = f.read()
    first = text[:text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return "sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


def der_fingerprint(der):
    return "sha256:" + hashlib.sha256(der).hexdigest()


class Pair:
    """A certificate (cert, a PEM file with its chain) and its key."""

    def __init__(self, cert, key, subject_cn=None):
        self.cert = cert
        self.key = key
        self.subject_cn = subject_cn

    @property
    def fingerprint(self):
        return fingerprint(self.cert)

    @property
    def validity_years(self):
        """The years of notBefore and notAfter, as text."""
        from cryptography import x509
        with open(self.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        return str(cert.not_valid_before.year), str(cert.not_valid_after.year)


class Certs:
    """Paths of the session's PEM files (see the module's docstring)."""


def _ou(ca):
    """The organizational unit of a trustme CA's subject: a random text
    that names this CA alone."""
    from cryptography.x509.oid import NameOID
    attrs = ca._certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return attrs[0].value


def make_certs(directory):
    c = Certs()
    c.dir = str(directory)

    def write(name, blob):
        path = os.path.join(c.dir, name)
        blob.write_to_path(path)
        return path

    def leaf(name, ca, *identities, cn, not_after=None):
        cert = ca.issue_cert(*identities, common_name=cn, not_after=not_after)
        path = os.path.join(c.dir, name + ".pem")
        with open(path, "wb") as f:
            for pem in cert.cert_chain_pems:       # leaf first, then the chain
                f.write(pem.bytes())
        return Pair(path, write(name + ".key", cert.private_key_pem), cn)

    names = ("localhost", "127.0.0.1", "::1")
    ca = trustme.CA(organization_unit_name="sockit test CA")
    other = trustme.CA(organization_unit_name="sockit other CA")
    c.ca = write("ca.pem", ca.cert_pem)
    c.ca_ou = _ou(ca)
    c.other_ca = write("other-ca.pem", other.cert_pem)
    c.server = leaf("server", ca, *names, cn=SERVER_CN)
    c.chain = leaf("chain", ca.create_child_ca(), *names, cn=SERVER_CN)
    c.expired = leaf("expired", ca, *names, cn=SERVER_CN,
                     not_after=datetime.datetime(EXPIRED_YEAR, 6, 30, 12, 0, 0))
    c.wrongname = leaf("wrongname", ca, "example.org", cn="example.org")
    c.otherca_server = leaf("otherca-server", other, *names, cn=SERVER_CN)
    c.client = leaf("client", ca, "client.sockit.test", cn=CLIENT_CN)
    c.otherca_client = leaf("otherca-client", other, "client.sockit.test", cn=OTHER_CLIENT_CN)
    return c


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("tls"))


def server_args(pair):
    return ["--cert", pair.cert, "--key", pair.key]


# ----------------------------------------------------------------- addresses

class TAddr(helpers.Addr):
    """An address as `listening on` prints it, TLS ones included: for
    tls://HOST:PORT, .transport is "tcp" and .tls is True; for
    tls+unix:PATH, .transport is "unix" and .tls is True.  .text is the
    address as printed."""

    def __init__(self, text):
        inner = text
        if text.startswith("tls://"):
            inner = "tcp://" + text[len("tls://"):]
        elif text.startswith("tls+unix:"):
            inner = "unix:" + text[len("tls+unix:"):]
        super().__init__(inner)
        self.text = text
        self.tls = inner != text


# ------------------------------------------------------------ TLS clients

def client_context(ca=None, cert=None, alpn=None, verify=True):
    """A Python client context: verifies against ca (a PEM path) and checks
    the host name, unless verify is False; presents cert (a Pair) when
    given."""
    if verify:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    # Debian's Python takes a TCP end without close_notify for a clean
    # end of stream; the tests want to see the difference.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def hostname_for(addr):
    """The name a client checks: the IP for tls://IP:PORT, localhost for a
    Unix socket."""
    return addr.host if addr.transport == "tcp" else "localhost"


class TLSConn(helpers.Conn):
    """A TLS client connection (Python's ssl) with helpers.Conn's framing
    and bounded reads."""

    @classmethod
    def connect(cls, addr, ctx, framing="raw", timeout=helpers.IO_TIMEOUT,
                server_hostname=None, rcvbuf=None):
        addr = addr if isinstance(addr, helpers.Addr) else TAddr(addr)
        raw = socket.socket(addr.family, socket.SOCK_STREAM)
        raw.settimeout(helpers.scaled(timeout))
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            raw.connect(addr.sockaddr)
            if addr.transport == "tcp":
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A TCP end without close_notify raises SSLEOFError instead of
            # passing for a clean end of stream.
            s = ctx.wrap_socket(raw, server_hostname=server_hostname or hostname_for(addr),
                                suppress_ragged_eofs=False)
        except BaseException:
            raw.close()
            raise
        return cls(s, framing)

    def recv_until_close_notify(self, limit=1 << 30):
        """Everything until the server's close_notify.  A TCP close
        without it raises ssl.SSLEOFError (an unclean, truncatable end)."""
        data = bytes(self.buf)
        self.buf.clear()
        while len(data) < limit:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return data
            data += chunk
        return data


def expect_tls_refused(conn, probe=b"ping\n", timeout=helpers.IO_TIMEOUT):
    """Asserts a TLS connection whose handshake the server refuses ends
    without one byte of application data: in TLS 1.3 the client's
    handshake may finish first, and the refusal comes as an alert on the
    first read."""
    conn.settimeout(helpers.scaled(timeout))
    got = b""
    try:
        conn.sendall(probe)
        while True:
            chunk = conn.sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        assert got == b"", "the server served a client it should refuse: %r" % got
        raise AssertionError("server neither refused nor closed within %.1f s" % timeout)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass
    assert got == b"", "the server served a client it should refuse: %r" % got


# ------------------------------------------------------------- the server

class TLSServer(helpers.Proc):
    """`sockit listen ARGS` serving `addresses` addresses: it has printed
    one `listening on` line per address.  .addrs holds them (TAddr) in the
    order printed, .addr the first; .ready is the index of the first
    `listening on` line."""

    def __init__(self, args, addresses=1):
        super().__init__(["listen"] + list(args))
        self.expect_clean_exit = True
        self.addrs = []
        start = 0
        try:
            for _ in range(addresses):
                i, m = self.wait_stderr(helpers.LISTEN_RE.pattern,
                                        timeout=helpers.READY_TIMEOUT, start=start)
                if not self.addrs:
                    self.ready = i
                self.addrs.append(TAddr(m.group(1)))
                start = i + 1
        except AssertionError:
            self.kill()
            raise
        self.addr = self.addrs[0]
        self.port = self.addr.port
        self.path = self.addr.path

    def stop(self, sig=signal.SIGTERM):
        self.signal(sig)
        return self.wait_exit()


@pytest.fixture
def tls_server(sockit):
    """Like conftest's start_server, for TLS and several addresses:
    start(*args, addresses=1).  At teardown each server still running gets
    SIGTERM and must exit 0; none may print a sanitizer report."""
    servers = []

    def start(*args, addresses=1):
        srv = TLSServer(args, addresses=addresses)
        servers.append(srv)
        return srv

    yield start
    helpers.stop_servers(servers)


# ------------------------------------------------- a Python TLS server

class PyTLSServer:
    """A TLS server in threads that upper-cases each line it gets (as
    `sockit listen -s upper -f line` does), for `sockit connect` to talk
    to.  It records, per connection, the SNI name the client sent, the ALPN
    protocol chosen, the cipher, and handshake errors."""

    def __init__(self, pair, client_ca=None, alpn=None, host="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pair.cert, pair.key)
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        if alpn:
            ctx.set_alpn_protocols(alpn)
        ctx.sni_callback = self._sni
        self.ctx = ctx
        self.sni = []
        self.sessions = []       # (alpn, cipher name, version, peer cert DER)
        self.errors = []
        self.lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _sni(self, sslobj, name, ctx):
        with self.lock:
            self.sni.append(name)

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, raw):
        raw.settimeout(helpers.scaled(helpers.IO_TIMEOUT))
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.errors.append(e)
            raw.close()
            return
        with self.lock:
            self.sessions.append((s.selected_alpn_protocol(), s.cipher()[0], s.version(),
                                  s.getpeercert(binary_form=True)))
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    s.sendall(line.upper() + b"\n")
            s.unwrap()
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.errors.append(e)
        finally:
            s.close()

    def close(self):
        self.stopping = True
        self.lsock.close()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ------------------------------------------------------- sockit connect

def connect_fails(result, address):
    """Asserts a `sockit connect` that failed its handshake: exit 1, no
    output, and one line on stderr, `sockit: connect ADDRESS: REASON`;
    returns REASON."""
    err = result.stderr.decode(errors="replace")
    lines = [l for l in err.splitlines() if l.strip()]
    assert result.returncode == 1, (result.returncode, err)
    assert result.stdout == b"", result.stdout
    assert len(lines) == 1, "expected one line on stderr, got:\n" + err
    prefix = "sockit: connect %s: " % address
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, for programs
    that cannot listen on port 0 and tell which port they got."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------- other programs

class Tool:
    """Another program (openssl, socat, nc) with its stdout and stderr
    drained by threads; stopped (killed) by close()."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        helpers._track(self.proc)
        self.out = helpers._Drain(self.proc.stdout, lines=False)
        self.err = helpers._Drain(self.proc.stderr, lines=False)
        self.out.start()
        self.err.start()

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def stdout(self):
        with self.out.cond:
            return bytes(self.out.data)

    def stderr(self):
        with self.err.cond:
            return bytes(self.err.data).decode(errors="replace")

    def wait_stdout(self, want, timeout=helpers.IO_TIMEOUT):
        """Waits until stdout holds the bytes want; returns stdout."""
        self.out.wait_for(lambda: want in self.out.data, helpers.scaled(timeout))
        out = self.stdout()
        assert want in out, "%r not in stdout %r; exit %r; stderr:\n%s" % (
            want, out, self.proc.poll(), self.stderr())
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdin,):
            try:
                pipe.close()
            except OSError:
                pass
        self.out.join(5)
        self.err.join(5)


def client_hello(ctx=None, server_hostname="127.0.0.1"):
    """The bytes of a real ClientHello, as Python's ssl would send it."""
    ctx = ctx or client_context(verify=False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()
