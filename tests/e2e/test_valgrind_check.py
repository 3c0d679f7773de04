"""The check behind `make test-valgrind`: helpers.valgrind_log_problem reads
real memcheck logs of a small C program that leaks, reads out of bounds,
crashes or is SIGKILLed on request, and must flag exactly what the issue
counts (errors; definitely, indirectly or possibly lost bytes) and nothing
else ("still reachable", a SIGKILL that leaves no summary)."""

import os
import select
import shutil
import signal
import subprocess

import pytest

import helpers

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("cc") is None,
                                reason="needs valgrind and cc (sh scripts/deps.sh valgrind)")

# The memcheck options of the Makefile's valgrind-e2e (keep them alike).
MEMCHECK = ["valgrind", "--tool=memcheck", "--leak-check=full", "--num-callers=30",
            "--track-fds=no", "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=none"]

PROGRAM = r"""
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node { struct node *next; };
static void *volatile keep;

int main(int argc, char **argv) {
  const char *m = argc > 1 ? argv[1] : "";
  if (strstr(m, "definite")) { keep = malloc(48); keep = NULL; }
  if (strstr(m, "indirect")) {
    struct node *a = malloc(sizeof(*a));
    a->next = malloc(sizeof(*a));
    keep = a;
    keep = NULL;
  }
  if (strstr(m, "possible")) keep = (char *)malloc(64) + 8;
  if (strstr(m, "reachable")) keep = malloc(64);
  if (strstr(m, "badread")) {
    char *volatile p = malloc(8);
    volatile char c = p[8];
    (void)c;
    free(p);
  }
  if (strstr(m, "abort")) abort();
  if (strstr(m, "sigkill")) { /* waits for the test's SIGKILL */
    if (write(1, "ready\n", 6) != 6) return 1;
    pause();
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    d = tmp_path_factory.mktemp("vgcheck")
    src = d / "prog.c"
    src.write_text(PROGRAM)
    exe = d / "prog"
    r = subprocess.run(["cc", "-g", "-O0", "-o", str(exe), str(src)], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return exe


def problem(program, mode):
    """Runs the program in mode under memcheck (SIGKILLing it from outside
    when the mode says so); returns what the check finds in its log."""
    log = program.parent / ("%s.log" % mode)
    p = subprocess.Popen(MEMCHECK + ["--log-file=%s" % log, str(program), mode],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        if "sigkill" in mode:
            ready, _, _ = select.select([p.stdout], [], [], helpers.scaled(30))
            assert ready and p.stdout.readline() == b"ready\n"
            p.kill()
        p.wait(helpers.scaled(60))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    return helpers.valgrind_log_problem(log.read_text())


@pytest.mark.parametrize("mode", ["clean", "reachable", "sigkill", "definite-sigkill"])
def test_nothing_to_report(program, mode):
    assert problem(program, mode) is None


@pytest.mark.parametrize("mode,want", [
    ("definite", ["definitely lost: 48 bytes"]),
    ("indirect", ["definitely lost: 8 bytes", "indirectly lost: 8 bytes"]),
    ("possible", ["possibly lost: 64 bytes"]),
    ("badread", ["ERROR SUMMARY: 1 errors"]),
    ("badread-sigkill", ["errors logged before the process was killed"]),
    ("abort", ["crashed with signal %d" % signal.SIGABRT]),
])
def test_reported(program, mode, want):
    got = problem(program, mode)
    assert got is not None, "%s: nothing reported" % mode
    for w in want:
        assert w in got, got


def test_leaks_of_a_crash_are_not_counted(program):
    """A process killed by a signal had no chance to free: its crash is
    reported, what it held is not."""
    got = problem(program, "definite-abort")
    assert "crashed" in got and "lost" not in got, got


def test_wrapper_script_runs_the_binary_under_the_wrapper(monkeypatch, tmp_path):
    """sockit_bin() under SOCKIT_WRAPPER: a script beside the binary that
    execs the wrapper, keeping the pid."""
    fake = tmp_path / "sockit"
    fake.write_text("#!/bin/sh\necho \"$$ $WRAPPED $*\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SOCKIT", str(fake))
    monkeypatch.setattr(helpers, "WRAPPER", ["env", "WRAPPED=1"])
    monkeypatch.setattr(helpers, "_wrapped", [])
    path = helpers.sockit_bin()
    assert os.path.dirname(path) == str(tmp_path)
    p = subprocess.Popen([path, "listen", "a b"], stdout=subprocess.PIPE)
    out, _ = p.communicate(timeout=10)
    assert out.decode() == "%d 1 listen a b\n" % p.pid
