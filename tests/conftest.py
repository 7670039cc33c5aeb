"""Shared fixtures: real MicroPython (`micropython`; `micropython_ulab` and `micropython_cpy`, the unix ports with
ulab) and real virtual boards (`vboard`, `start_vboard`)."""

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # onnx_examples

from hyperion_host.device.local import run_micropython  # noqa: E402
from hyperion_host.device.vboard import manager  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def hyperion_home(tmp_path_factory):
    """Keep every test's vboards out of the user's ~/.hyperion (subprocesses inherit this)."""
    home = tmp_path_factory.mktemp("hyperion-home")
    old = os.environ.get("HYPERION_HOME")
    os.environ["HYPERION_HOME"] = str(home)
    os.environ.pop("HYPERION_PORT", None)
    yield home
    for vb in manager.running():
        manager.stop(vb.name)
    if old is None:
        os.environ.pop("HYPERION_HOME", None)
    else:
        os.environ["HYPERION_HOME"] = old


@pytest.fixture
def micropython():
    """run(code, heap=None, **kw) -> Result(returncode, stdout, stderr, mem_current, mem_peak, mem_free),
    on the real MicroPython unix port with firmware/ on sys.path."""
    return run_micropython


@pytest.fixture(scope="session")
def micropython_ulab():
    """Path of the x64 unix port with ulab and float32 floats (.venv/bin/micropython-ulab), built if not yet
    (`make firmware` builds it). A build that fails fails the test: these never skip."""
    from hyperion_host import mpbuild

    return str(mpbuild.ulab_interpreter("ulab"))


@pytest.fixture(scope="session")
def micropython32_cpy():
    """micropython-cpy built for 32-bit x86 (.venv/bin/micropython32-cpy): a microcontroller's object sizes, for
    the CircuitPython profile's heap figures."""
    from hyperion_host import mpbuild

    return str(mpbuild.interpreter("micropython32-cpy"))


@pytest.fixture(scope="session")
def micropython_cpy():
    """The same configured like CircuitPython (.venv/bin/micropython-cpy): no native code emitter, no machine."""
    from hyperion_host import mpbuild

    return str(mpbuild.ulab_interpreter("cpy"))


class VBoardHandle:
    def __init__(self, vb):
        self.name = vb.name
        self.port = vb.port
        self.fs_dir = vb.fs_dir
        self.vb = vb

    @property
    def interp_pid(self):
        return self.vb.run_info()["interp_pid"]

    def stop(self):
        manager.stop(self.name, erase=True)


@pytest.fixture
def start_vboard():
    """start_vboard(board=None, heap=None) starts a fresh vboard; all are stopped at the end of the test."""
    started = []

    def start(board=None, heap=None):
        vb = manager.start("t-" + uuid.uuid4().hex[:8], board=board, heap=heap)
        h = VBoardHandle(vb)
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


@pytest.fixture(scope="module")
def vboard():
    """A running vboard (rp2040 heap) shared by a test module. Yields a handle with .port and .name."""
    vb = manager.start("m-" + uuid.uuid4().hex[:8])
    h = VBoardHandle(vb)
    yield h
    h.stop()
