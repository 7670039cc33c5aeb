"""Helpers for tests that drive the CLI and mpremote as subprocesses."""

import os
import signal
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def run_cli(*args, env=None, timeout=60, input=None, cwd=None):
    """Run `hyperion-host ARGS...` as a user would (in folder cwd); returns CompletedProcess (text)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([os.path.join(BIN, "hyperion-host"), *args], capture_output=True, text=True,
                          env=e, timeout=timeout, input=input, cwd=cwd)


def mpremote(*args, timeout=60):
    """Run the real `mpremote` command; returns CompletedProcess (text)."""
    return subprocess.run([os.path.join(BIN, "mpremote"), *args], capture_output=True, text=True,
                          timeout=timeout)


def assert_user_error(p, *fragments):
    """A user error: non-zero exit, one `error:` line naming the problem, no traceback."""
    assert p.returncode != 0, p
    assert "Traceback" not in p.stderr, p.stderr
    lines = [line for line in p.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, p.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def stop_group(proc, timeout=10):
    """End a process started with start_new_session=True, and its children: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
