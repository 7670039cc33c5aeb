"""Benchmark: accuracy of the example models against weight bits, and latency per kernel path, with PNG plots.

For each model in models/ (digits, kws): the float model in onnxruntime, then the committed ONNX quantized at
8 bits and at 4 bits (asym and sym grids, blocks of 32 and 128), all calibrated, evaluated on the held-out test
set with `hyperion-host eval`'s code. Plots: bench/accuracy_vs_bits.png and (from the device benchmark's
section of bench/results.json, when present) bench/latency_per_path.png."""

import json
import tempfile
from pathlib import Path

from common import RESULTS_DIR, ROOT, save

from hyperion_host.files import write_atomic
from hyperion_host.model.evaluate import evaluate_model
from hyperion_host.model.quantize import Options, quantize_model

VARIANTS = [("q8 b32", dict(bits=8)), ("q4 asym b32", dict()), ("q4 sym b32", dict(scheme="sym")),
            ("q4 asym b128", dict(block=128)), ("q4 asym b32, dynamic int8", dict(calib=False))]


def main():
    work = Path(tempfile.mkdtemp(prefix="hyperion-bench-models-"))
    rows = []
    for name in ("digits", "kws"):
        d = ROOT / "models" / name
        meta = json.loads((d / "meta.json").read_text())
        for label, kw in VARIANTS:
            calib = kw.pop("calib", True)
            blob, rep = quantize_model(str(d / (name + ".onnx")),
                                       Options(calib=str(d / "calib.npz") if calib else None, **kw))
            kw["calib"] = calib
            path = work / ("%s-%s.hyq" % (name, label.replace(" ", "_").replace(",", "")))
            write_atomic(path, blob)
            r = evaluate_model(str(path), str(d / "test.npz"), str(d / (name + ".onnx")))
            rows.append({"model": name, "weights": label, "bits_per_weight": rep["bpw"], "file_kb": len(blob) / 1024,
                         "accuracy": r["accuracy"], "fp32_accuracy": r["float_accuracy"],
                         "delta_pt": 100 * (r["accuracy"] - r["float_accuracy"]), "agreement": r["agreement"]})
        del meta
    save("models", rows, notes="Held-out test sets (models/*/test.npz); accuracy from the host runtime, which the "
                               "board matches (tests/test_models.py). Reproduce: `make bench`.")
    plot(rows)


def plot(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, marker in (("digits", "o"), ("kws", "s")):
        rs = [r for r in rows if r["model"] == name]
        for r in rs:
            ax.scatter(r["bits_per_weight"], 100 * r["accuracy"], marker=marker,
                       label="%s %s" % (name, r["weights"]))
        ax.axhline(100 * rs[0]["fp32_accuracy"], ls="--", lw=0.8, color="grey")
        ax.text(ax.get_xlim()[0] if ax.get_xlim()[0] > 0 else 4, 100 * rs[0]["fp32_accuracy"] + 0.05,
                "%s fp32" % name, fontsize=7, color="grey")
    ax.set_xlabel("bits per weight (scales included)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Example models: accuracy against weight bits")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(RESULTS_DIR / "accuracy_vs_bits.png", dpi=120)
    res = RESULTS_DIR / "results.json"
    dev = json.loads(res.read_text()).get("device") if res.exists() else None
    if dev:
        rs = [r for r in dev["rows"] if r["viper_ms"] > 0]
        fig, ax = plt.subplots(figsize=(8, 4))
        names = [r["model"][:34] for r in rs]
        y = range(len(rs))
        ax.barh([i + 0.2 for i in y], [r["python_ms"] for r in rs], height=0.4, label="python (bytecode)")
        ax.barh([i - 0.2 for i in y], [r["viper_ms"] for r in rs], height=0.4, label="viper (native)")
        ax.set_yticks(list(y))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("latency per run, ms (MicroPython unix port, x64)")
        ax.set_title("Latency per kernel path")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(RESULTS_DIR / "latency_per_path.png", dpi=120)


if __name__ == "__main__":
    main()
