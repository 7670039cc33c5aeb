"""`quantize`, `infer`, `inspect` and `eval`: the model commands."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hyperion_host.cli.app import err, notice, out, progress, upload_progress
from hyperion_host.device.infer import LOCAL
from hyperion_host.errors import HyperionError
from hyperion_host.keys import key_id, read_key

PROGRESS_MIN_WEIGHTS = 200_000


def _fmt_db(v):
    return "inf" if v == float("inf") else "%.1f" % v


def quantize(
    model: Path = typer.Argument(..., help="The ONNX model."),
    output: Path = typer.Option(None, "-o", "--output", help="Output .hyq (default: MODEL with .hyq)."),
    bits: int = typer.Option(4, "--bits", help="Weight bits: 4 or 8."),
    block_size: int = typer.Option(32, "--block-size", help="Weights per block along the input dimension: 32, 64 or 128."),
    scheme: str = typer.Option("asym", "--scheme", help="4-bit grid: asym (scale and minimum) or sym."),
    act: str = typer.Option("int8", "--act", help="Activations at matmul/conv inputs: int8 or float."),
    calib: Path | None = typer.Option(None, "--calib", help="Calibration samples (.npz): static int8 scales, "
                                         "importance-weighted fits and GPTQ."),
    prune: float = typer.Option(0.0, "--prune", help="Magnitude-prune this ratio of each weight matrix (CSR where smaller)."),
    keep_float: list[str] | None = typer.Option(None, "--keep-float", help="Node name to keep in float32 (repeatable)."),
    input_shape: list[str] | None = typer.Option(None, "--input-shape", help="NAME=DIMS for a dynamic input, e.g. x=1,1,8,8."),
    report: Path | None = typer.Option(None, "--report", help="Write the per-layer report as JSON."),
    no_gptq: bool = typer.Option(False, "--no-gptq", help="With --calib, skip GPTQ error feedback."),
    meta: Path | None = typer.Option(None, "--meta", help="JSON object merged into the model's metadata (labels, "
                                     "preprocessing)."),
    encrypt: Path | None = typer.Option(None, "--encrypt", help="Encrypt the weights with this key file "
                                        "(AES-256-CTR + HMAC-SHA256; `hyperion-host keys new KEYFILE`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of the table."),
):
    """Quantize an ONNX model to a 4-bit .hyq file, with a per-layer report of what was lost."""
    from hyperion_host.files import check_output, write_atomic
    from hyperion_host.model.quantize import Options, quantize_model

    if output is None:
        output = model.with_suffix(".hyq")
    for o in (output, report):  # both can be written, or neither is
        if o is not None:
            check_output(o)
    key = read_key(encrypt) if encrypt is not None else None
    opts = Options(bits, block_size, scheme, act, str(calib) if calib else None, prune, keep_float or (),
                   input_shape or (), gptq=not no_gptq)
    if meta is not None:
        try:
            opts.meta = json.loads(meta.read_text())
        except (OSError, ValueError) as e:
            raise HyperionError("--meta %s: %s" % (meta, str(e).splitlines()[0][:100])) from None
        if not isinstance(opts.meta, dict):
            raise HyperionError("--meta %s must hold a JSON object" % meta)
    bar = Progress(TextColumn("[bold]quantizing[/] {task.description}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=err, transient=True)
    task = None

    def progress(done, total, name):
        nonlocal task
        if total < PROGRESS_MIN_WEIGHTS:  # small models finish before a bar would be seen
            return
        if task is None:
            bar.start()
            task = bar.add_task(name, total=total)
        bar.update(task, completed=done, description=name)

    try:
        blob, rep = quantize_model(str(model), opts, progress)
    finally:
        if task is not None:
            bar.stop()
    if key is not None:
        from hyperion_host.model.encrypt import encrypt_blob

        blob = encrypt_blob(blob, key)
    write_atomic(output, blob)
    if report:
        write_atomic(report, json.dumps(rep, indent=2, default=_json).encode())
    if as_json:
        print(json.dumps(dict(rep, output=str(output)), default=_json))
        return
    weighted = any("output_weighted_sqnr_db" in e for e in rep["layers"])
    t = Table("layer", "op", "shape", "format", "fp32", "quantized", "bits/w", "weight SQNR dB",
              *(["output-weighted dB"] if weighted else []), title=str(output))
    for e in rep["layers"]:
        t.add_row(e["name"], e["op"], "x".join(map(str, e["shape"])), e["format"] + ("*" if e.get("auto") else ""),
                  _kb(e["fp32_bytes"]), _kb(e["bytes"]), "%.2f" % e["bpw"], _fmt_db(e["sqnr_db"]),
                  *([_fmt_db(e["output_weighted_sqnr_db"]) if "output_weighted_sqnr_db" in e else "-"]
                    if weighted else []))
    out.print(t)
    for e in rep["layers"]:
        if e.get("auto"):
            notice("%s stored as q8 (%.1f bits/weight, %.1f dB): %s" % (e["name"], e["bpw"], e["sqnr_db"], e["auto"]))
    if weighted:
        err.print("weight SQNR compares the stored weights with the float ones (one measure, calibrated or not); "
                  "the output-weighted SQNR weighs their error by the calibration inputs (what the fits minimize)",
                  highlight=False)
    line = "%d weights at %.2f bits/weight; file %s (float32 model %s)" % (
        rep["weights"], rep["bpw"], _kb(rep["file_bytes"]), _kb(rep["fp32_bytes"]))
    if "output_sqnr_db" in rep:
        line += "; output SQNR vs float: " + ", ".join("%s %.1f dB" % kv for kv in rep["output_sqnr_db"].items())
    out.print(line, highlight=False)
    if act == "int8" and calib is None:
        err.print("note: activations get int8 scales at run time (dynamic), so float values flow between layers; "
                  "--calib SAMPLES.npz gives static scales and integer chains between layers, several times faster "
                  "on a board", highlight=False)


def _json(o):
    if isinstance(o, float) and math.isinf(o):
        return "inf"
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def _kb(n):
    return "%.1f KB" % (n / 1024) if n < 1024 * 1024 else "%.2f MB" % (n / 2**20)


SPEED = {"host": "host speed: this computer", "board": "on the board",
         "instructions": "thousands of emulated instructions, not time"}


KERNELS = ("auto", "c", "viper", "python", "ulab")


ON = ("host",) + LOCAL
ON_HELP = ("host (numpy reference runtime), micropython (local unix port), micropython-ulab (unix port with ulab and "
           "float32 floats) or micropython-cpy (the same configured like CircuitPython: no native code); the last "
           "two are built on first use.")


def _check_on(on, verb):
    if on not in ON:
        raise HyperionError("--on must be %s or %s (use --port to %s on a board)" % (", ".join(ON[:-1]), ON[-1], verb))


def _check_on_or_port(on, port):
    if on != "host" and port is not None:
        raise HyperionError("--on %s runs on this computer and --port %s on a board: give one of them" % (on, port))


def _building(what):
    """The first use of micropython-ulab or -cpy builds it (a minute, once): said, so the wait is explained."""
    if what.endswith("ports/unix"):
        notice("building MicroPython with ulab (once; hyperion-builds/ in the Python environment)")


def _check_kernels(kernels):
    if kernels not in KERNELS:
        raise HyperionError("--kernels must be %s or %s" % (", ".join(KERNELS[:-1]), KERNELS[-1]))


def infer(
    model: Path = typer.Argument(..., help="A .hyq model."),
    input: Path = typer.Option(..., "--input", "-i", help="Input as .npy (one input) or .npz (named inputs)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write outputs (.npy for one output, else .npz)."),
    on: str = typer.Option("host", "--on", help=ON_HELP),
    port: str | None = typer.Option(None, "--port", "-p", help="Run on this board or vboard (sends the model if needed)."),
    kernels: str = typer.Option("auto", "--kernels", help="Kernel path on MicroPython: auto, c, viper, python or ulab."),
    stats: bool = typer.Option(False, "--stats", help="Print latency, peak heap and the kernel path."),
    stats_json: Path | None = typer.Option(None, "--stats-json", help="Write latency_us, peak_heap_bytes, kernels as JSON."),
    repeat: int = typer.Option(1, "--repeat", help="Time the average of this many runs (MicroPython)."),
    allow_nonfinite: bool = typer.Option(False, "--allow-nonfinite", help="Run inputs that hold NaN or infinity "
                                         "(refused by default, on the host and on boards alike)."),
    model_key: Path | None = typer.Option(None, "--model-key", help="The key file of an encrypted model (a board "
                                          "uses it for this run; `deploy --model-key` installs it for good)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outputs (nested lists) and the stats as JSON."),
):
    """Run a .hyq model on an input: on the host, on local MicroPython, or on a board."""
    from hyperion_host.files import check_output, write_atomic
    from hyperion_host.model.hyqfile import load_program

    _check_on(on, "run")
    _check_on_or_port(on, port)
    _check_kernels(kernels)
    for o in (output, stats_json):  # before the work, and both or neither
        if o is not None:
            check_output(o)
    key = read_key(model_key) if model_key is not None else None
    prog, _ = load_program(str(model), key=key)
    from hyperion_host.model.samples import load_inputs

    feeds = load_inputs(input, prog)
    for name in prog.inputs:
        want = tuple(prog.shapes[name])
        if np.asarray(feeds[name]).size != int(np.prod(want)):
            raise HyperionError("input '%s' has shape %s; the model expects %s" % (name, np.shape(feeds[name]), want))
        a = np.asarray(feeds[name])
        if not allow_nonfinite and a.dtype.kind in "fc" and not np.isfinite(a).all():
            raise HyperionError("input '%s' holds NaN or infinity (first at flat index %d); pass --allow-nonfinite "
                                "to run it anyway" % (name, int(np.flatnonzero(~np.isfinite(a))[0])))
    st = None
    if port is not None or on != "host":
        from hyperion_host.device import infer as board_run

        ins = [np.asarray(feeds[n], np.float32) for n in prog.inputs]
        shapes = [tuple(prog.shapes[n]) for n in prog.outputs]
        if port is not None:
            with upload_progress("sending") as update:
                arrays, st = board_run.run_on_board(port, str(model), ins, shapes, kernels, repeat,
                                                    allow_nonfinite=allow_nonfinite, key=key, notice=notice,
                                                    progress=update)
        else:
            arrays, st = board_run.run_local(str(model), ins, shapes, kernels, repeat=repeat,
                                             allow_nonfinite=allow_nonfinite, key=key, on=on, log=_building)
        res = dict(zip(prog.outputs, arrays))
        for n in st.get("notices", ()):  # the runtime's own word, e.g. why the kernels asked for are not used
            notice(n)
    else:
        import time

        try:
            t0 = time.perf_counter()
            res = prog.run(feeds)
            st = {"latency_us": int((time.perf_counter() - t0) * 1e6), "peak_heap_bytes": None,
                  "kernels": ["numpy"] * len(prog.ops)}
        except ValueError as e:
            raise HyperionError(str(e)) from None
    if stats:
        paths = sorted(set(st["kernels"]))
        heap = "%d bytes" % st["peak_heap_bytes"] if st.get("peak_heap_bytes") is not None else "n/a"
        err.print("latency %.3f ms (%s), peak heap %s, kernels %s" % (st["latency_us"] / 1000, SPEED[st.get("speed", "host")],
                                                                      heap, "/".join(paths)), highlight=False)
        if st.get("speed", "host") == "host":
            notice("that is this computer's speed, not a board's: `hyperion-host profile %s --board rp2040` counts "
                   "instructions on a board's own core" % model)
    if stats_json:
        write_atomic(stats_json, json.dumps(st, indent=2).encode())
    if as_json:
        print(json.dumps({"outputs": {k: np.asarray(v).tolist() for k, v in res.items()},
                          "shapes": {k: list(np.shape(v)) for k, v in res.items()}, "stats": st}))
    if output is None and as_json:
        return
    if output is None:
        for k, v in res.items():
            text = np.array2string(v, precision=5, threshold=64, max_line_width=120, suppress_small=True)
            out.print("%s %s: %s" % (k, tuple(v.shape), text), highlight=False)
        return
    import io

    buf = io.BytesIO()
    if str(output).endswith(".npy") and len(res) == 1:
        np.save(buf, next(iter(res.values())))
    else:
        np.savez(buf, **res)
    write_atomic(output, buf.getvalue())
    out.print("wrote %s" % output)


def inspect(model: Path = typer.Argument(..., help="A .hyq model."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON."),
            model_key: Path | None = typer.Option(None, "--model-key", help="The key file of an encrypted model.")):
    """Show a .hyq model: ops, tensors, bits per weight, sizes, arena size and MACs."""
    from hyperion_host.model.summary import model_summary

    s = model_summary(model, read_key(model_key) if model_key is not None else None)
    if as_json:
        print(json.dumps(s, indent=2))
        return
    t = Table("#", "op", "name", "output", "weights", "activations", "act", "MACs", title=str(model))
    for i, o in enumerate(s["ops"]):
        t.add_row(str(i), o["op"], o["name"], "x".join(map(str, o["output"])), o["weight"], o["qmode"],
                  o["act"] if o["act"] not in ("none", "") else "", "{:,}".format(o["macs"]) if o["macs"] else "")
    out.print(t)
    out.print("inputs %s -> outputs %s" % (s["inputs"], s["outputs"]), highlight=False)
    out.print("file %s, %d quantized weights at %.2f bits/weight, arena %s, largest tensor %s, %s MACs"
              % (_kb(s["file_bytes"]), s["quantized_weights"], s["bpw"], _kb(s["arena_bytes"]),
                 _kb(s["scratch_bytes"]), "{:,}".format(s["macs"])), highlight=False)


def evaluate(
    model: Path = typer.Argument(..., help="A .hyq model."),
    data: Path = typer.Option(..., "--data", help=".npz with the inputs (by name) and optional labels 'y' "
                              "(next-token 'targets' [N, T] for a language model)."),
    reference: Path | None = typer.Option(None, "--reference", help="The float ONNX model, run by onnxruntime."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(0, "--limit", help="Evaluate at most this many samples."),
    model_key: Path | None = typer.Option(None, "--model-key", help="The key file of an encrypted model."),
):
    """Accuracy on labelled data (perplexity with next-token targets), and agreement and output SQNR against the float
    ONNX model."""
    from hyperion_host.model.evaluate import evaluate_model

    res = evaluate_model(str(model), str(data), str(reference) if reference else None, limit or None,
                         key=read_key(model_key) if model_key else None)
    if as_json:
        print(json.dumps(res, indent=2, default=_json))
        return
    t = Table("metric", "value", title=str(model))
    for k, v in res.items():
        t.add_row(k, "%.4f" % v if isinstance(v, float) else str(v))
    out.print(t)


def build_kernels(
    arch: list[str] | None = typer.Option(None, "--arch", help="Arch to build (repeatable); default: all."),
    out_dir: Path = typer.Option(Path("build/firmware"), "-o", "--out", help="Output directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: per arch, its folder, modules and bytes."),
):
    """Compile the firmware for each MCU arch: bytecode .mpy, the viper kernels as native code (mpy-cross), and
    the C kernels (kernels/c.mpy) where the arch has them (docs/runtime.md)."""
    from hyperion_host.firmware import ARCHS, compile_firmware, mpy_arch
    from hyperion_host.natmod import MODULE

    t = Table("arch", "directory", "native modules", "bytes (all .mpy)")
    missing = []
    archs = list(arch or ARCHS)
    built = []
    with progress("building the firmware", total=len(archs)) as update:
        for i, a in enumerate(archs):
            notes = []
            update(i, what="building the firmware for %s" % a)
            built.append((a, compile_firmware(a, out_dir / a, log=notes.append), notes))
    rows = []
    for a, d, notes in built:
        k = d / "kernels" / "viper.mpy"
        if mpy_arch(k) != a:
            raise HyperionError("mpy-cross wrote %s for %s, not %s" % (k, mpy_arch(k), a))
        mods = "kernels/viper.mpy (%d bytes)" % k.stat().st_size
        c = d / MODULE
        if c.exists():
            mods += ", %s (%d bytes)" % (MODULE, c.stat().st_size)
        else:
            mods += ", no C kernels"
            missing += notes
        size = sum(p.stat().st_size for p in d.rglob("*.mpy"))
        t.add_row(a, str(d), mods, str(size))
        rows.append({"arch": a, "dir": str(d), "c_kernels": c.exists(), "bytes": size})
    if as_json:
        print(json.dumps(rows))
    else:
        out.print(t)
    for n in missing:
        notice(n)


def generate(
    model: Path = typer.Argument(..., help="A .hyq language model (metadata text.decoder, e.g. models/tinylm)."),
    prompt: str = typer.Argument(..., help="The text to continue."),
    max_tokens: int = typer.Option(64, "--max-tokens", "-n", help="Bytes (tokens) to write at most."),
    temperature: float = typer.Option(0.8, "--temperature", "-t", help="0: always the likeliest byte."),
    top_k: int = typer.Option(40, "--top-k", help="Sample from the k likeliest (0: all)."),
    top_p: float = typer.Option(0.95, "--top-p", help="... cut to the smallest set with this probability."),
    repetition_penalty: float = typer.Option(1.0, "--repetition-penalty", help="> 1 discourages repeats."),
    stop: str | None = typer.Option(None, "--stop", help="End the text before this string."),
    seed: int | None = typer.Option(None, "--seed", help="The same text again for the same seed."),
    on: str = typer.Option("host", "--on", help=ON_HELP),
    port: str | None = typer.Option(None, "--port", "-p", help="Write on this board or vboard (sends the model if needed)."),
    kernels: str = typer.Option("auto", "--kernels", help="Kernel path on MicroPython: auto, c, viper or python."),
    stats: bool = typer.Option(False, "--stats", help="Print tokens and tokens/s."),
    model_key: Path | None = typer.Option(None, "--model-key", help="The key file of an encrypted model."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object when done (text, tokens, seconds, "
                                 "whose speed) instead of streaming."),
):
    """Write text with a language model, streamed as it comes: on the host, on local MicroPython, or on a board
    (the board's KV-cache decoder)."""
    import sys
    import time

    from hyperion_host.model.hyqfile import load_program

    _check_on(on, "write")
    _check_on_or_port(on, port)
    if max_tokens < 0:
        raise HyperionError("--max-tokens must be >= 0")
    _check_kernels(kernels)
    key = read_key(model_key) if model_key else None
    prog, header = load_program(str(model), key=key)
    if not (prog.meta.get("text") or {}).get("decoder"):
        raise HyperionError("%s is not a language model (its metadata has no text.decoder; see docs/tinylm.md)"
                            % model)
    pieces = []
    write = pieces.append if as_json else (lambda t: (sys.stdout.write(t), sys.stdout.flush()))  # noqa: E731
    args = (prompt, max_tokens, temperature, top_k, top_p, repetition_penalty, stop, seed)
    if not as_json:
        write(prompt)
    from hyperion_host.device import infer as board_run

    if port is not None:
        with upload_progress("sending") as update:
            n, secs, speed = board_run.generate_on_board(port, str(model), args, kernels, write, key, notice, update)
    elif on != "host":
        n, secs, speed = board_run.generate_local(str(model), args, kernels, write, key, on=on, log=_building,
                                                  notice=notice)
    else:
        from hyperion_host.relay import models as M

        try:
            g = M.Generator(M.Entry(model.stem, model, prog, header), prompt, max_tokens, temperature, top_k, seed,
                            stop, top_p, repetition_penalty)
        except M.ModelError as e:
            raise HyperionError(str(e)) from None
        t0 = time.perf_counter()
        shown = 0
        while not g.done:
            g.step()
            text = g.text()
            write(text[shown:])
            shown = len(text)
        write("\n")
        n, secs, speed = len(g.new), time.perf_counter() - t0, "host"
    if as_json:
        print(json.dumps({"prompt": prompt, "text": "".join(pieces).rstrip("\n"), "tokens": n, "seconds": secs,
                          "speed": speed}))
    if stats:
        err.print("%d tokens in %.2f s, %.0f tokens/s (%s)" % (n, secs, n / secs if secs else 0, SPEED[speed]),
                  highlight=False)
        if speed == "host":
            notice("`hyperion-host profile %s --board rp2040` counts a board's own instructions per token" % model)


def profile(
    model: Path = typer.Argument(..., help="A .hyq model."),
    board: str = typer.Option(..., "--board", "-b", help="A board with an emulated core: rp2040, pico_w, rp2350, "
                              "esp32c3."),
    kernels: str = typer.Option("auto", "--kernels", help="Kernel path: auto, c, viper or python."),
    tokens: int = typer.Option(8, "--tokens", help="Language models: decoder steps to average over."),
    romfs_size: str | None = typer.Option(None, "--romfs-size", help="The board's ROMFS area, e.g. 1M, if it was "
                                          "flashed with a bigger one than `hyperion-host boards` lists."),
    frozen: bool = typer.Option(False, "--frozen", help="On a firmware with Hyperion frozen in and its C kernels "
                                "compiled in (firmware/manifest.py): the least heap. Default: the firmware package "
                                "and the model in ROMFS, as `build --romfs` makes them."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    model_key: Path | None = typer.Option(None, "--model-key", help="The key file of an encrypted model."),
):
    """Count a model's instructions on a board's own core: QEMU with -icount runs it from a ROMFS bundle, with
    per-op counts, instructions per MAC, the board's heap and parity with the host reference."""
    from hyperion_host.ship.profile import profile as run_profile

    _check_kernels(kernels)
    from hyperion_host.boards import parse_size

    size = parse_size(romfs_size, minimum=4096) if romfs_size else None
    r = run_profile(model, board, kernels=kernels, tokens=tokens, romfs_size=size, log=notice, frozen=frozen,
                    key=read_key(model_key) if model_key else None)
    if as_json:
        print(json.dumps(r, indent=2))
        return
    t = Table("#", "op", "name", "kernel", "instructions", "instr/MAC", title="%s on %s (%s)%s" % (
        model, r["board"], r["core"], ", frozen firmware" if frozen else ""))
    for i, o in enumerate(r["ops"]):
        t.add_row(str(i), o["op"], o["name"], o["kernel"], "{:,}".format(o["instructions"]),
                  "%.1f" % o["instructions_per_mac"] if o["instructions_per_mac"] else "")
    if r["ops"]:
        out.print(t)
    h = r["heap"]
    ipm = " (%.1f per MAC)" % r["instructions_per_mac"] if r["instructions_per_mac"] else ""
    out.print("%s instructions per %s%s; about %.1f ms at %d MHz if each took one cycle%s"
              % ("{:,}".format(r["instructions"]), r["unit"], ipm, r["estimated_ms"], r["clock_hz"] // 10**6,
                 ", %.1f tokens/s" % r["tokens_per_s"] if r["tokens_per_s"] else ""), highlight=False)
    out.print("heap on the board: import %s, load %s, run %s (%s of %s); parity with the host: max |diff| %.2g %s"
              % (_kb(h["import"]), _kb(h["load"]), _kb(h["run"]), _kb(h["total"]), _kb(h["board_heap"]),
                 r["parity"]["max_abs_diff"], "ok" if r["parity"]["ok"] else "OUT OF TOLERANCE"), highlight=False)
    if not r["parity"]["ok"]:
        raise typer.Exit(1)


def encrypt(
    model: Path = typer.Argument(..., help="A .hyq model (plain, or encrypted with --old-key)."),
    key: Path = typer.Option(..., "--key", help="The key file to encrypt with (`hyperion-host keys new KEYFILE`)."),
    output: Path = typer.Option(..., "-o", "--output", help="The encrypted .hyq to write."),
    old_key: Path | None = typer.Option(None, "--old-key", help="MODEL's key, to re-encrypt it with --key "
                                        "(key rotation)."),
):
    """Encrypt a model's weights (AES-256-CTR, authenticated with HMAC-SHA256); boards decrypt as they stream."""
    from hyperion_host.files import check_output, write_atomic
    from hyperion_host.model.encrypt import decrypt_blob, encrypt_blob

    check_output(output)
    new = read_key(key)
    try:
        blob = model.read_bytes()
    except OSError as e:
        raise HyperionError("cannot read %s: %s" % (model, e.strerror)) from None
    if old_key is not None:
        blob = decrypt_blob(blob, read_key(old_key))
    blob = encrypt_blob(blob, new)
    write_atomic(output, blob)
    out.print("wrote %s: encrypted with key %s (%d bytes)" % (output, key_id(new), len(blob)), highlight=False)


def ops(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        markdown: bool = typer.Option(False, "--markdown", help="Print docs/ops.md (generated from the registry).")):
    """The ONNX ops Hyperion supports: which run on the board, which fold away at quantize time, their limits,
    and rewrites for some that are not supported."""
    from hyperion_host.model import opset

    if markdown:
        sys.stdout.write(opset.render_markdown())
        return
    rows = opset.rows()
    if as_json:
        print(json.dumps({"ops": [dict(zip(("op", "where", "becomes", "limits"), r)) for r in rows],
                          "rewrites": opset.REWRITES}))
        return
    t = Table("ONNX op", "where", "becomes", "limits", title="Supported ONNX ops (docs/ops.md)")
    for r in rows:
        t.add_row(*r)
    out.print(t)


def check(model: Path = typer.Argument(..., help="An ONNX model (a scikit-learn or PyTorch export as it is)."),
          input_shape: list[str] | None = typer.Option(None, "--input-shape",
                                                       help="NAME=DIMS for a dynamic input, e.g. x=1,1,8,8."),
          calib: Path | None = typer.Option(None, "--calib", help="Calibration samples (.npz): shows where int8 "
                                            "chains would run."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """What `quantize` would make of an ONNX model, writing nothing: each node's support, where float and int8
    tensors meet, and the size in flash and RAM on each board."""
    from hyperion_host.ship.check import check as run_check

    r = run_check(model, input_shape, calib)
    if as_json:
        print(json.dumps(r, indent=2))
    else:
        t = Table("node", "ONNX op", "where", "becomes", title="%s: %d nodes" % (model, len(r["nodes"])))
        for n in r["nodes"]:
            style = {"refused": "red", "folds": "dim"}.get(n["where"], "")
            t.add_row(n["name"], n["op"], "[%s]%s[/]" % (style, n["where"]) if style else n["where"], n["becomes"])
        out.print(t)
        if r["ops"]:
            t = Table("#", "runtime op", "name", "in", "out", title="after import (%s)" % (
                "calibrated: int8 between integer layers" if r["calibrated"] else
                "no --calib: float between layers, int8 inside linear/conv"))
            for i, o in enumerate(r["ops"]):
                t.add_row(str(i), o["op"] + (" +" + o["act"] if o["act"] not in ("", "none") else ""), o["name"],
                          ",".join(o["in"]), ",".join(o["out"]))
            out.print(t)
            for b in r["boundaries"]:
                out.print("boundary: " + b, highlight=False)
            t = Table("board", "flash", "RAM", title="%s .hyq, about %s of RAM" % (_kb(r["file_bytes"]),
                                                                                   _kb(r["ram_bytes"])))
            for b in r["boards"]:
                t.add_row(b["board"], ("fits" if b["flash_fits"] else "[red]too big[/]") + " (%s)" % _kb(b["flash_area"]),
                          ("fits" if b["ram_fits"] else "[red]too big[/]") + " (%s heap)" % _kb(b["heap"]))
            out.print(t)
    if r["error"]:
        raise HyperionError(r["error"])


def register(app):
    app.command()(ops)
    app.command()(check)
    app.command("build-kernels")(build_kernels)
    app.command()(encrypt)
    app.command()(profile)
    app.command()(quantize)
    app.command()(infer)
    app.command()(generate)
    app.command()(inspect)
    app.command("eval")(evaluate)
