"""The README's tour, command by command, as a user types it.

Every command line of README.md's shell blocks runs verbatim, through sh, in order, in a folder holding a copy of
the repository's models/ and docs/ (the tour runs from the repository's root), with its own HYPERION_HOME, so the
vboards are the ones the tour starts. Code blocks whose first line is `# NAME` are files the README asks the reader
to save; they are saved. Besides them the folder holds only what a user downloads: MicroPython's firmware files.

What cannot run here runs as far as it can:
- a command naming a real board's device (/dev/ttyACM0, /dev/ttyUSB0), and `flash`, must fail for that device's
  (or the RP2 BOOTSEL drive's) absence, in one line, and for nothing else (so its flags, files and bundle were
  all accepted), unless it needs no board (--dry-run);
- `repl` and `shell` are interactive: they run on a pseudo-terminal, with a line typed and checked;
- `serve` (HTTP) runs until its health endpoint answers, then is stopped; `serve --stdio` gets an empty stdin.
`make demo` and `make test` (the quick start) are the demo and this suite themselves, and are left out."""

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import BIN, run_cli, stop_group

REPO = Path(__file__).resolve().parent.parent
DEVICE = re.compile(r"/dev/tty(ACM|USB)\d")
NO_DEVICE = ("unknown port '/dev/tty", "cannot talk to an ESP bootloader on /dev/tty", "no RPI-RP2/RP2350 drive")
SHELL_LANGS = ("", "sh", "shell", "console", "bash")


def blocks(text):
    """[(language, [lines])] of the markdown's fenced code blocks."""
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if cur is None:
                cur = (line[3:].strip(), [])
            else:
                out.append(cur)
                cur = None
        elif cur is not None:
            cur[1].append(line)
    assert cur is None, "an unclosed code block"
    return out


def commands(text):
    """The command lines of the shell blocks, in order, without their trailing comments."""
    cmds = []
    for lang, lines in blocks(text):
        if lang not in SHELL_LANGS:
            continue
        joined = []
        for line in lines:  # a line ending in a backslash goes on on the next
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
            else:
                joined.append(line.strip())
        for s in joined:
            if not s or s.startswith("#") or s.startswith("make "):
                continue
            cmds.append(re.sub(r"\s+# .*$", "", s))
    return cmds


def saved_files(text):
    """{name: content} of the code blocks whose first line is '# NAME.ext'."""
    files = {}
    for lang, lines in blocks(text):
        m = re.fullmatch(r"# ([\w.-]+\.\w+)", lines[0].strip()) if lines else None
        if m and lang not in SHELL_LANGS:
            files[m.group(1)] = "\n".join(lines[1:]) + "\n"
    return files


def test_the_tour_parses_as_commands_and_files():
    text = (REPO / "README.md").read_text()
    cmds = commands(text)
    assert len(cmds) >= 50 and all(c.split()[0] in ("hyperion-host", "echo") for c in cmds), cmds
    assert set(saved_files(text)) == {"job.py", "hello.tcl"}


def make_workspace(tmp_path, doc):
    """A folder holding copies of models/ and docs/, the files `doc` asks the reader to save, and the firmware
    files a user downloads; an env with its own HYPERION_HOME and the venv on PATH."""
    ws = tmp_path / "repo"
    ws.mkdir()
    for d in ("models", "docs"):
        shutil.copytree(REPO / d, ws / d)
    for name, content in saved_files(doc.read_text()).items():
        (ws / name).write_text(content)
    # MicroPython's firmware files, as a user downloads them: a real ESP32-S3 image (esptool's own writer) and a UF2
    from test_deploy import _esp_image

    _esp_image("esp32s3", ws / "ESP32_GENERIC_S3.bin")
    raw = tmp_path / "pico.bin"
    raw.write_bytes(os.urandom(4096))
    assert run_cli("flash", "--board", "rp2040", "--firmware", str(raw), "--uf2-out",
                   str(ws / "RPI_PICO.uf2")).returncode == 0
    env = dict(os.environ, HYPERION_HOME=str(tmp_path / "home"), PATH=BIN + os.pathsep + os.environ["PATH"])
    env.pop("HYPERION_PORT", None)
    return ws, env


def stop_vboards(env):
    from hyperion_host.device.vboard import manager

    old = os.environ.get("HYPERION_HOME")
    os.environ["HYPERION_HOME"] = env["HYPERION_HOME"]
    try:
        for vb in manager.running():
            manager.stop(vb.name)
    finally:
        if old is None:
            os.environ.pop("HYPERION_HOME", None)
        else:
            os.environ["HYPERION_HOME"] = old


@pytest.fixture
def workspace(tmp_path):
    ws, env = make_workspace(tmp_path, REPO / "README.md")
    yield ws, env
    stop_vboards(env)


def _on_a_terminal(cmd, ws, env, typed, expect, leave):
    """Run cmd on a pseudo-terminal, type typed, wait for expect, then type leave; returns what it printed."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, shell=True, cwd=ws, env=env, stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        time.sleep(1.0)
        os.write(master, typed)
        while expect not in seen and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        os.write(master, leave)
        p.wait(30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(master)
    return p.returncode, seen.decode(errors="replace")


def _serve(cmd, ws, env):
    import queue
    import threading

    p = subprocess.Popen(cmd, shell=True, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    q = queue.Queue()  # stderr lines from a thread: select() on a buffered pipe misses lines already read

    def pump():
        for line in p.stderr:
            q.put(line)
        q.put("")

    threading.Thread(target=pump, daemon=True).start()
    try:
        lines = []
        deadline = time.monotonic() + 90  # the Ray engine takes ~10-30 s to start
        while time.monotonic() < deadline:
            try:
                line = q.get(timeout=1)
            except queue.Empty:
                continue
            if not line:
                break
            lines.append(line)
            m = re.search(r"MCP on https?://[^:]+:(\d+)/mcp", line)
            if m:  # the line comes as the server starts: its socket answers a moment later
                for _ in range(100):
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%s/api/health" % m.group(1), timeout=5) as r:
                            return r.status == 200, "".join(lines)
                    except OSError:
                        time.sleep(0.1)
        return False, "".join(lines) + (p.stdout.read() if p.poll() is not None else "(still running)")
    finally:
        stop_group(p, 30)


# commands in the docs that these tests do not run, and why (each is tested elsewhere)
NOT_RUN = {
    "hyperion-host serve --listen 0.0.0.0:": "a relay open to the LAN with TLS and keys: tests/test_relay_security.py "
                                            "serves TLS with a self-signed certificate, keys and host checks",
    "docker ": "no Docker here: tests/test_scale.py checks deploy/Dockerfile's instructions",
    "kubectl ": "no cluster here: tests/test_scale.py validates the manifests offline against the Kubernetes schemas",
    "hyperion-host monitor ": "needs a running relay: tests/test_monitor.py runs docs/monitoring.md's monitor commands "
                              "against one",
}


def run_tour(text, ws, env):
    """Run every command of a document as the module docstring says; returns [(command, seconds)]."""
    done = []
    for cmd in commands(text):
        if any(cmd.startswith(k) for k in NOT_RUN):
            continue
        t0 = time.monotonic()
        if DEVICE.search(cmd) or cmd.startswith("hyperion-host flash "):
            # runs (a --dry-run needs no board), or stops for want of the board (or its BOOTSEL drive), in one line
            p = subprocess.run(cmd, shell=True, cwd=ws, env=env, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                assert any(n in p.stderr for n in NO_DEVICE), (cmd, p.stdout, p.stderr)
                assert len(p.stderr.strip().splitlines()) == 1, (cmd, p.stderr)
            assert "Traceback" not in p.stderr, (cmd, p.stderr)
        elif cmd.startswith("hyperion-host repl"):
            code, seen = _on_a_terminal(cmd, ws, env, b"import hyperion\r\nprint(hyperion.__version__, 6 * 7)\r\n",
                                        b" 42", b"\x1d")
            assert " 42" in seen and "Error" not in seen, (cmd, seen)
        elif cmd.startswith("hyperion-host shell"):
            code, seen = _on_a_terminal(cmd, ws, env, b"puts [expr {6 * 7}]\r", b"42", b"exit\r")
            assert "42" in seen and code == 0, (cmd, code, seen)
        elif cmd.startswith("hyperion-host serve --stdio"):
            p = subprocess.run(cmd, shell=True, cwd=ws, env=env, capture_output=True, text=True, timeout=60,
                               input="")
            assert p.returncode == 0 and "Traceback" not in p.stderr, (cmd, p.stderr)
        elif re.match(r"hyperion-host serve( --|$)", cmd):
            ok, log = _serve(cmd, ws, env)
            assert ok, (cmd, log)
        else:
            p = subprocess.run(cmd, shell=True, cwd=ws, env=env, capture_output=True, text=True, timeout=900)
            assert p.returncode == 0, (cmd, p.stdout[-2000:], p.stderr[-2000:])
            assert "Traceback" not in p.stderr, (cmd, p.stderr)
        done.append((cmd, time.monotonic() - t0))
    return done


@pytest.mark.timeout(1200)
def test_every_readme_command_runs_verbatim(workspace):
    ws, env = workspace
    done = run_tour((REPO / "README.md").read_text(), ws, env)
    # what the tour promised along the way
    assert (ws / "copy.hyq").read_bytes() == (ws / "models" / "digits" / "digits.hyq").read_bytes()
    assert (ws / "build" / "pico" / "romfs.uf2").is_file() and (ws / "build" / "pico-enc" / "manifest.sig").is_file()
    assert not (ws / "y.npy").stat().st_size == 0
    print("\n".join("%6.1f s  %s" % (t, c) for c, t in done))


def test_every_command_in_the_docs_parses():
    """docs/*.md: every hyperion-host command names real subcommands and options (each runs with --help added,
    which parses the whole line first); tests named in each doc run them for real where they can."""
    import shlex

    from typer.testing import CliRunner

    import hyperion_host.cli  # noqa: F401  (registers every group)
    from hyperion_host.cli.app import app

    runner = CliRunner()
    bad = []
    for doc in sorted((REPO / "docs").glob("*.md")):
        for cmd in commands(doc.read_text()):
            if not cmd.startswith("hyperion-host ") or "|" in cmd:
                continue
            args = shlex.split(cmd)[1:]
            r = runner.invoke(app, args + ["--help"], prog_name="hyperion-host")
            if r.exit_code != 0:
                bad.append("%s: %s -> %s" % (doc.name, cmd, (r.output or str(r.exception)).strip()[-300:]))
    assert not bad, "\n".join(bad)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("doc", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_every_command_in_a_doc_runs_verbatim(doc, tmp_path):
    """The same for docs/*.md, each in a fresh folder and HYPERION_HOME (a doc's commands run in its order)."""
    ws, env = make_workspace(tmp_path, REPO / "docs" / doc)
    try:
        done = run_tour((REPO / "docs" / doc).read_text(), ws, env)
    finally:
        stop_vboards(env)
    assert len(done) == len([c for c in commands((REPO / "docs" / doc).read_text())
                             if not any(c.startswith(k) for k in NOT_RUN)]), doc
    print("\n".join("%6.1f s  %s" % (t, c) for c, t in done))
