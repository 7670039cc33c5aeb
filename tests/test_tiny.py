"""The MLPerf Tiny reference architectures (tools/mlperf_tiny.py) from PyTorch through `quantize` to the emulated
Cortex-M0: each fits an RP2040's flash and RAM (boards/rp2040.toml) and runs with parity to the host reference."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperion_host.boards import get_board

from helpers import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import mlperf_tiny  # noqa: E402

pytestmark = pytest.mark.emulated


@pytest.mark.parametrize("name", mlperf_tiny.NAMES)
def test_an_mlperf_tiny_model_fits_an_rp2040_and_runs_on_its_core(name, tmp_path):
    onnx_path = mlperf_tiny.export(name, tmp_path)
    hyq = tmp_path / (name + ".hyq")
    p = run_cli("quantize", str(onnx_path), "-o", str(hyq), "--calib", str(tmp_path / (name + "-calib.npz")),
                "--json", timeout=600)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    macs = json.loads(run_cli("inspect", str(hyq), "--json").stdout)["macs"]
    # the published shapes (AD's 0.26 M is 0.264 M rounded)
    assert abs(macs - mlperf_tiny.PUBLISHED_MACS[name]) / mlperf_tiny.PUBLISHED_MACS[name] < 0.02
    # the flash: the bundle's fit check against the board's filesystem and ROMFS area
    b = run_cli("build", "--board", "rp2040", "--romfs", "--model", str(hyq), "-o", str(tmp_path / "bundle"))
    assert b.returncode == 0, b.stderr
    # the RAM and the core: the frozen firmware (Hyperion in flash), as a production board runs it
    r = run_cli("profile", str(hyq), "--board", "rp2040", "--frozen", "--json", timeout=900)
    assert r.returncode == 0, r.stderr
    prof = json.loads(r.stdout)
    assert prof["parity"]["ok"], prof["parity"]
    assert prof["heap"]["total"] < get_board("rp2040")["vboard_heap"]
    assert {o["kernel"] for o in prof["ops"] if o["op"] in ("conv", "linear")} == {"c"}
    # int4 weights, int8 activations against the float model: close (seeded weights, Gaussian inputs)
    x = mlperf_tiny.inputs(name, 8, seed=3)
    want = mlperf_tiny.float_outputs(name, x)
    from hyperion_host.model.hyqfile import load_program

    prog, _ = load_program(str(hyq))
    got = np.concatenate([prog.run({prog.inputs[0]: x[i: i + 1]})[prog.outputs[0]] for i in range(len(x))])
    sqnr = 10 * np.log10((want ** 2).sum() / ((got - want) ** 2).sum())
    assert sqnr > 18, sqnr
    assert report["layers"]
