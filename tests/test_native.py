"""The C kernels as built for each arch, and what a board without them does: a wrong-arch or missing
kernels/c.mpy falls back to viper (or bytecode) with a notice, and the model still runs with the same result."""

import shutil

import numpy as np
import pytest

from hyperion_host import mpbuild, natmod
from hyperion_host.errors import HyperionError
from hyperion_host.firmware import cached_firmware, mpy_arch

from helpers import run_cli

MODEL = "models/digits/digits.hyq"

# prints the path select() gives for each preference, its notice, then digits' output on the auto path
PROBE = """
import array, hyperion
from hyperion import kernels
for pref in ('auto', 'c', 'viper'):
    k, notice = kernels.select(pref)
    print('PATH', pref, k.PATH, '|', notice)
m = hyperion.load(%r)
m.set_input(array.array('f', [0.25 * (i %% 7) for i in range(64)]))
print('OUT', m.info()['kernels'][0], ' '.join('%%.5f' %% v for v in m.run()))
"""


def _firmware_with(tmp_path, c_arch=None, viper_arch=None):
    """A copy of the x64 firmware whose kernels/c.mpy (None: removed) and viper.mpy come from other archs."""
    fw = tmp_path / "fw"
    shutil.copytree(cached_firmware("x64"), fw)
    k = fw / "hyperion" / "kernels"
    if c_arch is None:
        (k / "c.mpy").unlink()
    elif c_arch != "x64":
        shutil.copy(natmod.build(c_arch), k / "c.mpy")
    if viper_arch:
        shutil.copy(cached_firmware(viper_arch) / "hyperion" / "kernels" / "viper.mpy", k / "viper.mpy")
    return fw


def _probe(micropython, fw):
    r = micropython(PROBE % MODEL, firmware=fw)
    assert r.ok, r
    paths = {}
    for line in r.stdout.splitlines():
        if line.startswith("PATH"):
            _, pref, path, rest = line.split(" ", 3)
            paths[pref] = (path, rest[2:])
        elif line.startswith("OUT"):
            out = line.split()[1:]
    return paths, out[0], np.array([float(v) for v in out[1:]])


def test_the_c_kernels_are_built_for_every_arch_with_a_compiler():
    for arch in ("x64", "x86", "armv6m", "armv7emsp", "rv32imc"):
        p = natmod.build(arch)
        assert mpy_arch(p) == arch and 4000 < p.stat().st_size < 40000  # copied to RAM at import: kept small
    path, notice = natmod.try_build("xtensawin")
    assert path is None and "no xtensawin compiler" in notice and "viper" in notice


def test_a_board_without_matching_c_kernels_runs_viper_with_a_notice(micropython, tmp_path):
    good, kind, want = _probe(micropython, cached_firmware("x64"))
    assert kind == "c" and good["auto"] == ("c", "") and good["c"] == ("c", "") and good["viper"] == ("viper", "")
    for c_arch, says in ((None, "no C kernels for x64 here"), ("armv6m", "holds c kernels for armv6m, but this "
                                                                         "board is x64")):
        paths, kind, got = _probe(micropython, _firmware_with(tmp_path / str(c_arch), c_arch))
        assert kind == "viper"
        for pref in ("auto", "c"):
            assert paths[pref][0] == "viper" and says in paths[pref][1] and "using viper" in paths[pref][1], paths
        assert paths["viper"] == ("viper", "")
        np.testing.assert_allclose(got, want, atol=1e-4)  # the same answer on the slower path


def test_no_native_module_for_the_arch_at_all_runs_bytecode_with_a_notice(micropython, tmp_path):
    paths, kind, _ = _probe(micropython, _firmware_with(tmp_path, "rv32imc", "rv32imc"))
    assert kind == "python"
    assert paths["auto"][0] == "python" and "rv32imc" in paths["auto"][1] and "bytecode" in paths["auto"][1]


def test_build_kernels_builds_every_arch_and_says_which_has_no_c(tmp_path):
    p = run_cli("build-kernels", "-o", str(tmp_path), timeout=900)
    assert p.returncode == 0, p.stderr
    for arch in ("x64", "armv6m", "armv7emsp", "rv32imc"):
        assert mpy_arch(tmp_path / arch / "hyperion" / "kernels" / "c.mpy") == arch
    assert not (tmp_path / "xtensawin" / "hyperion" / "kernels" / "c.mpy").exists()
    assert "xtensawin has no C kernels" in p.stderr and "Traceback" not in p.stderr


def test_a_missing_cross_compiler_is_a_one_line_error_naming_its_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(mpbuild, "builds_dir", lambda: tmp_path)  # nothing cached
    monkeypatch.setenv("PATH", str(tmp_path))  # and no compiler
    with pytest.raises(HyperionError, match="sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        natmod.build("armv6m")
    path, notice = natmod.try_build("rv32imc")
    assert path is None and "picolibc-riscv64-unknown-elf" in notice and "viper kernels" in notice
