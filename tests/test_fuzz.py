"""Crafted .hyq files: header tables mutated with the CRC recomputed (tools/fuzz/hyq_fuzz.py), through the reader's
structure check and every kernel path on real MicroPython, and through the host reader and runtime. A file runs,
or fails with FormatError or OutOfMemory: no other exception, no crash, no hang. Fixed seed, bounded count; the
long run is `tools/fuzz/hyq_fuzz.py --count 10000`."""

import random
import sys
from pathlib import Path

import pytest

from hyperion_host.firmware import cached_firmware

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "fuzz"))
import hyq_fuzz  # noqa: E402

COUNT = 150  # mutated files per run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return hyq_fuzz.build_corpus(tmp_path_factory.mktemp("fuzz-corpus"))


@pytest.fixture(scope="module")
def mutated(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    rng = random.Random(20261201)
    blobs = hyq_fuzz.corpus(corpus)
    paths = []
    for i in range(COUNT):
        p = d / ("m%04d.hyq" % i)
        p.write_bytes(hyq_fuzz.mutate(blobs[i % len(blobs)], rng))
        paths.append(p)
    return paths


@pytest.mark.parametrize("kernels", ["c", "viper", "python"])
def test_mutated_files_never_crash_the_firmware(mutated, micropython, kernels):
    fw = cached_firmware("x64")
    got = hyq_fuzz.run_board(mutated, kernels, lambda code, **kw: micropython(code, firmware=fw, **kw))
    assert len(got) == len(mutated), got
    assert not hyq_fuzz.findings(got), hyq_fuzz.findings(got)
    kinds = {o.split()[0] for o in got.values()}
    assert "format" in kinds  # the check refused most of them (and some still ran: the mutations are not all fatal)


def test_mutated_files_never_crash_the_host_reader_or_runtime(mutated):
    got = {i: hyq_fuzz.run_host(p) for i, p in enumerate(mutated)}
    assert not hyq_fuzz.findings(got), hyq_fuzz.findings(got)


def test_every_corpus_model_passes_the_check_and_runs(corpus, micropython):
    """The check refuses no valid model (the corpus unmutated)."""
    got = hyq_fuzz.run_board(corpus, "c", lambda code, **kw: micropython(code, firmware=cached_firmware("x64"), **kw))
    assert set(got.values()) == {"ok"}, got


def test_a_crafted_model_does_not_stop_the_relay(tmp_path):
    """serve --models with files whose CRC is right but whose structure is not: the relay starts, serves the
    good model and names each bad file's fault in one line."""
    import shutil

    from hyperion_host.relay.models import ModelStore

    shutil.copy(ROOT / "models" / "digits" / "digits.hyq", tmp_path / "good.hyq")
    rng = random.Random(5)
    blob = (ROOT / "models" / "digits" / "digits.hyq").read_bytes()
    bad = 0
    for i in range(40):
        m = hyq_fuzz.mutate(blob, rng)
        p = tmp_path / ("bad%02d.hyq" % i)
        p.write_bytes(m)
        bad += hyq_fuzz.run_host(p).startswith("format")
    store = ModelStore(str(tmp_path))
    assert "good" in store.models and bad > 20
    assert len(store.errors) >= bad and all("\n" not in e for e in store.errors.values())
