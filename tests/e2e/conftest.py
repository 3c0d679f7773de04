"""Fixtures for sockit's end-to-end tests.

Run with:  make e2e   (sets SOCKIT to the built binary), or
           SOCKIT=build/sockit /usr/bin/python3 -m pytest -q tests/e2e

`start_server(*args)` runs `$SOCKIT listen ARGS`, waits (bounded) for its
`listening on ADDR` line and returns a helpers.Server with .addr, .port,
.path and .proc.  At teardown every server still running gets SIGTERM and
must exit 0 within a bounded time; a server that already exited must have
exited 0; no server may have printed a sanitizer report.

Under `make test-valgrind` (SOCKIT_WRAPPER set, see helpers.sockit_bin)
every test also fails when a sockit process it started left a valgrind log
that reports memory errors or definitely, indirectly or possibly lost bytes.
"""

import faulthandler
import glob
import os
import shutil
import subprocess
import sys
import threading

import pytest

import helpers

# No test may take longer than this; a hung test dumps every thread's stack,
# kills the sockit processes it started and ends the run.
TEST_WATCHDOG_S = 150


@pytest.fixture(scope="session")
def sockit():
    path = helpers.sockit_bin()
    if not os.access(path, os.X_OK):
        pytest.fail("sockit binary not found at %s (set SOCKIT or run `make e2e`)" % path)
    return path


@pytest.fixture(autouse=True)
def _watchdog(request):
    def hung():
        sys.stderr.write("\n*** %s still running after %d s; stacks follow\n"
                         % (request.node.nodeid, TEST_WATCHDOG_S))
        faulthandler.dump_traceback(all_threads=True)
        helpers.kill_all_live()
        os._exit(3)

    t = threading.Timer(helpers.scaled(TEST_WATCHDOG_S), hung)
    t.daemon = True
    t.start()
    yield
    t.cancel()


@pytest.fixture(autouse=True)
def _valgrind_logs():
    """Checks the valgrind log of every sockit process the test started.
    Autouse fixtures are set up first, so this teardown runs after
    start_server's has stopped the servers and their logs are complete."""
    pattern = helpers.valgrind_log_glob()
    if pattern is None:
        yield
        return

    def stamps():
        # (mtime, size) too, not the names alone: a reused pid rewrites an
        # older test's log under the same name.
        out = {}
        for path in glob.glob(pattern):
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
        return out

    before = stamps()
    yield
    problems = []
    for path, stamp in sorted(stamps().items()):
        if before.get(path) == stamp:
            continue
        with open(path, errors="replace") as f:
            text = f.read()
        problem = helpers.valgrind_log_problem(text)
        if problem:
            problems.append("valgrind: %s in %s:\n%s" % (problem, path, text[-8000:]))
    assert not problems, "\n".join(problems)


@pytest.fixture
def start_server(sockit):
    servers = []

    def start(*args, stdin=None, capture_stdout=False):
        srv = helpers.Server(list(args),
                             stdin=subprocess.DEVNULL if stdin is None else stdin,
                             capture_stdout=capture_stdout)
        servers.append(srv)
        return srv

    yield start
    helpers.stop_servers(servers)


@pytest.fixture
def sockdir():
    """A short directory for Unix socket files, removed afterwards."""
    d = helpers.short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def listen_addr(sockdir):
    """Maps a transport name to an address for `sockit listen`."""
    n = [0]

    def make(transport):
        if transport == "tcp":
            return "tcp://127.0.0.1:0"
        if transport == "udp":
            return "udp://127.0.0.1:0"
        if transport == "unix":
            n[0] += 1
            return "unix:%s/s%d" % (sockdir, n[0])
        raise ValueError(transport)

    return make


@pytest.fixture
def conns():
    """Tracks client connections and closes them at teardown."""
    yield from helpers.tracked(
        lambda addr, framing="raw", **kw: helpers.Conn.connect(addr, framing, **kw))
