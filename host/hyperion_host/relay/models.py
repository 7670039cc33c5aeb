"""The relay's models: every .hyq in --models DIR (name = file stem), loaded with the host runtime
(hyperion_host.model.hyqfile.load_program, run with Program.run), and text generation for models marked as text models.

A text model is a .hyq whose metadata has `"text": {"tokenizer": "bytes"}`: one int token input [1, T] and
logits [1, T, V] out (V >= 256), tokens are bytes. `mark_text_model` adds that key to a file."""

import base64
import binascii
import functools
import os
import time
from pathlib import Path

import numpy as np

from hyperion_host.errors import HyperionError

DTYPES = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8", "int8": "i1", "uint8": "u1",
          "int16": "<i2", "float16": "<f2"}
INLINE_MS = 1.0  # models faster than this run on the event loop; slower ones in a worker thread


class ModelError(HyperionError):
    pass


class Entry:
    def __init__(self, name, path, prog, header):
        self.name = name
        self.path = str(path)
        self.prog = prog
        self.header = header
        self.text = prog.meta.get("text") if isinstance(prog.meta.get("text"), dict) else None
        self.run_ms = None
        self._summary = None
        self.profiles = {}  # "board/kernels" -> profile_summary(...) of a model_profile run (deterministic)

    @property
    def inline(self):
        return self.run_ms is not None and self.run_ms < INLINE_MS

    def info(self):
        p = self.prog
        kind = self.kind()
        return {
            "name": self.name,
            "file": os.path.basename(self.path),
            "bytes": os.path.getsize(self.path),
            "inputs": [{"name": n, "shape": list(p.shapes[n]), "dtype": _dtype_name(p, n)} for n in p.inputs],
            "outputs": [{"name": n, "shape": list(p.shapes[n]), "dtype": "float32"} for n in p.outputs],
            "ops": len(p.ops),
            "arena_bytes": self.header.arena_size + self.header.arena8_size,
            "scratch_bytes": self.header.scratch_size,
            "quant": p.meta.get("quant", {}),
            "text": self.text,
            "kind": kind,
            "profiles": list(self.profiles.values()),
            "emulated_boards": emulated_boards(),
            "audio_rate": p.meta["audio"].get("rate", 16000) if kind == "audio" else None,
            "run_ms": round(self.run_ms, 4) if self.run_ms is not None else None,
            **self.summary(),
        }

    def kind(self):
        """What the web UI offers to try it with: text (a prompt), audio (a clip), image (a drawing pad: one
        [N, 1, H, W] input) or tensor (numbers)."""
        p = self.prog
        if self.text is not None:
            return "text"
        if isinstance(p.meta.get("audio"), dict):
            return "audio"
        shape = p.shapes[p.inputs[0]] if len(p.inputs) == 1 else ()
        return "image" if len(shape) == 4 and shape[1] == 1 else "tensor"

    def summary(self):
        """MACs, bits per weight, labels and the layers (what `inspect` shows), worked out once."""
        if self._summary is None:
            from hyperion_host.model.summary import model_summary

            s = model_summary(self.path)
            self._summary = {"macs": s["macs"], "bits_per_weight": round(s["bpw"], 3), "labels": s.get("labels"),
                             "layers": [{k: o[k] for k in ("op", "name", "output", "macs", "weight")}
                                        for o in s["ops"]]}
        return self._summary


@functools.lru_cache(maxsize=1)
def emulated_boards():
    """The boards model_profile can run a model on: those with an emulated core (boards/*.toml [emulation])."""
    from hyperion_host.boards import all_boards

    return sorted(b["name"] for b in all_boards().values() if (b.get("emulation") or {}).get("target"))


def profile_summary(r):
    """What model_info and the web UI show of a ship.profile.profile() result."""
    keep = ("board", "core", "arch", "unit", "instructions", "instructions_per_mac", "macs", "mode", "estimated_ms",
            "tokens_per_s")
    out = {k: r[k] for k in keep}
    out["kernels"] = sorted({o["kernel"] for o in r["ops"]})
    out["ops"] = [{k: o[k] for k in ("op", "name", "kernel", "instructions")} for o in r["ops"]]
    out["heap"] = r["heap"]
    out["parity_ok"] = r["parity"]["ok"]
    return out


def _dtype_name(prog, n):
    return {"i32": "int32", "i8": "int8"}.get(prog.dtypes.get(n), "float32")


class ModelStore:
    def __init__(self, directory=None):
        self.dir = directory
        self.models = {}
        self.errors = {}
        if directory:
            self.load_all()

    def load_all(self):
        from hyperion_host.model.hyqfile import load_program

        # DIR/*.hyq, then DIR/*/*.hyq (a model in its own folder, as the repository's models/digits/digits.hyq);
        # the name is the file's stem, and the first of two files with one name is the one served
        root = Path(self.dir)
        for path in sorted(root.glob("*.hyq")) + sorted(root.glob("*/*.hyq")):
            if path.stem in self.models or path.stem in self.errors:
                self.errors.setdefault("%s (%s)" % (path.stem, path.relative_to(root)),
                                       "another model is named %s: rename one" % path.stem)
                continue
            try:
                prog, header = load_program(str(path))
            except HyperionError as e:
                self.errors[path.stem] = e.format_message()
                continue
            e = Entry(path.stem, path, prog, header)
            e.run_ms = _warm_up(e)
            self.models[e.name] = e

    def get(self, name):
        e = self.models.get(name)
        if e is None:
            known = ", ".join(sorted(self.models)) or "none loaded"
            raise ModelError("unknown model '%s' (models: %s)" % (name, known))
        return e

    def list(self):
        return [{"name": e.name, "inputs": {n: list(e.prog.shapes[n]) for n in e.prog.inputs},
                 "outputs": {n: list(e.prog.shapes[n]) for n in e.prog.outputs}, "text": e.text is not None}
                for e in self.models.values()]


def _warm_up(e):
    """Run once on zeros: proves the model runs and measures whether it is cheap enough for the event loop."""
    p = e.prog
    feeds = {n: np.zeros(p.shapes[n], np.int64 if p.dtypes.get(n) == "i32" else np.float32) for n in p.inputs}
    best = None
    for _ in range(3):  # the first run pays for numpy's warm-up
        t0 = time.perf_counter()
        try:
            p.run(feeds)
        except Exception:  # a model that cannot run on zeros still serves; it runs off the event loop
            return None
        dt = (time.perf_counter() - t0) * 1000
        best = dt if best is None else min(best, dt)
    return best


# -- inputs and outputs ----------------------------------------------------------------------------------

def decode_input(entry, input=None, data=None, dtype="float32", shape=None):
    """Tool arguments -> {input name: ndarray}. `input`: a nested list (one input) or {name: nested list};
    `data`: base64 of little-endian values (`dtype`, `shape`; one input)."""
    p = entry.prog
    if (input is None) == (data is None):
        raise ModelError("give the input as `input` (a nested list) or as `data` (base64 with dtype and shape), "
                         "exactly one of them")
    if data is not None:
        if dtype not in DTYPES:
            raise ModelError("unknown dtype '%s' (known: %s)" % (dtype, ", ".join(DTYPES)))
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ModelError("`data` is not valid base64") from None
        item = np.dtype(DTYPES[dtype]).itemsize
        if len(raw) % item:
            raise ModelError("`data` holds %d bytes, not a whole number of %s values" % (len(raw), dtype))
        arr = np.frombuffer(raw, DTYPES[dtype])
        if shape is not None:
            if int(np.prod(shape)) != arr.size:
                raise ModelError("`data` holds %d values but shape %s needs %d" % (arr.size, shape, int(np.prod(shape))))
            arr = arr.reshape(shape)
        feeds = {p.inputs[0]: arr} if len(p.inputs) == 1 else None
        if feeds is None:
            raise ModelError("model '%s' has %d inputs (%s): give `input` as {name: values}"
                             % (entry.name, len(p.inputs), ", ".join(p.inputs)))
    elif isinstance(input, dict):
        missing = [n for n in p.inputs if n not in input]
        if missing:
            raise ModelError("missing input(s) %s for model '%s'" % (", ".join(missing), entry.name))
        feeds = {n: _as_array(input[n], n) for n in p.inputs}
    else:
        if len(p.inputs) != 1:
            raise ModelError("model '%s' has %d inputs (%s): give `input` as {name: values}"
                             % (entry.name, len(p.inputs), ", ".join(p.inputs)))
        feeds = {p.inputs[0]: _as_array(input, p.inputs[0])}
    out = {}
    for n, a in feeds.items():
        want = tuple(p.shapes[n])
        if a.size != int(np.prod(want)):
            raise ModelError("input '%s' has %d values (shape %s); model '%s' expects shape %s (%d values)"
                             % (n, a.size, tuple(a.shape), entry.name, list(want), int(np.prod(want))))
        if a.dtype.kind in "fc" and not np.isfinite(a).all():  # the boards' rule (Model.allow_nonfinite)
            raise ModelError("input '%s' holds NaN or infinity" % n)
        out[n] = a.reshape(want)
    return out


MAX_AUDIO_SECONDS = 30  # a longer clip is refused before any MFCC work


def audio_input(entry, data):
    """A keyword model's input from a clip: `data` is base64 of 16-bit little-endian mono PCM at the model's
    rate (meta["audio"]). The window around the speech and its MFCCs come from the firmware's own front end
    (hyperion.audio.features, as the board's listen() runs it). Runs in a worker thread: ~0.2 s per second."""
    import array

    from hyperion import audio

    a = entry.prog.meta.get("audio")
    if not isinstance(a, dict):
        raise ModelError("model '%s' takes no audio: dtype pcm16 is for keyword models" % entry.name)
    try:
        raw = base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError):
        raise ModelError("`data` is not valid base64") from None
    rate = a.get("rate", audio.SAMPLE_RATE)
    if len(raw) % 2 or not raw:
        raise ModelError("`data` must hold 16-bit PCM samples (an even, non-zero number of bytes)")
    if len(raw) > 2 * rate * MAX_AUDIO_SECONDS:
        raise ModelError("the clip is longer than %d s" % MAX_AUDIO_SECONDS)
    samples = array.array("h")
    samples.frombytes(raw)
    if not np.little_endian:
        samples.byteswap()
    x = np.asarray(audio.features(samples, a, audio.frontend_for(a)), np.float32)
    n = entry.prog.inputs[0]
    return {n: x.reshape(entry.prog.shapes[n])}


def _as_array(v, name):
    try:
        a = np.asarray(v, dtype=np.float64)
    except (ValueError, TypeError):
        raise ModelError("input '%s' must be a nested list of numbers of one shape" % name) from None
    return a


def run(entry, feeds):
    try:
        return entry.prog.run(feeds)
    except (ValueError, IndexError) as e:
        raise ModelError("model '%s' failed: %s" % (entry.name, e)) from None


def encode_outputs(outs, fmt="list"):
    """[{name, shape, dtype, values | data}] in the model's output order."""
    res = []
    for n, a in outs.items():
        a = np.asarray(a, np.float32)
        d = {"name": n, "shape": list(a.shape), "dtype": "float32"}
        if fmt == "base64":
            d["data"] = base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode()
        else:
            d["values"] = a.tolist()
        res.append(d)
    return res


# -- text generation --------------------------------------------------------------------------------------

def check_text_model(entry):
    p = entry.prog
    if entry.text is None:
        raise ModelError("model '%s' is not a text model (its metadata has no \"text\" key; mark one with "
                         "`hyperion-host serve mark-text MODEL.hyq`)" % entry.name)
    if entry.text.get("tokenizer", "bytes") != "bytes":
        raise ModelError("model '%s' uses tokenizer '%s'; the relay knows only 'bytes'"
                         % (entry.name, entry.text.get("tokenizer")))
    if len(p.inputs) != 1 or p.dtypes.get(p.inputs[0]) != "i32" or len(p.shapes[p.inputs[0]]) != 2:
        raise ModelError("text model '%s' must take one int token input of shape [1, T]" % entry.name)
    oshape = p.shapes[p.outputs[0]]
    if len(oshape) != 3 or oshape[-1] < 256:
        raise ModelError("text model '%s' must output logits [1, T, V] with V >= 256 (byte tokens); it outputs %s"
                         % (entry.name, list(oshape)))


class Generator:
    """Byte-level generation over a fixed context window: the last T tokens go in (right-padded with zeros
    while shorter, which a causal model ignores), the logits at the last real position pick the next byte with
    the board's own sampler (firmware hyperion.text: temperature, top-k, top-p, repetition penalty, seeded), so
    a seed gives the same choices as on a board. `stop` ends the text (it is not included)."""

    def __init__(self, entry, prompt, max_tokens=32, temperature=0.0, top_k=0, seed=None, stop=None, top_p=1.0,
                 repetition_penalty=1.0, limit=None):
        """limit: the most max_tokens may be (the relay's limits.max_tokens)."""
        from hyperion import text

        check_text_model(entry)
        self.entry = entry
        p = entry.prog
        self.inp = p.inputs[0]
        self.out = p.outputs[0]
        self.T = p.shapes[self.inp][1]
        self.tokens = list(prompt.encode("utf-8")) or [10]
        self.new = []
        self.max_tokens = max(0, int(max_tokens))
        if limit is not None and self.max_tokens > limit:
            raise ModelError("max_tokens %d is over this relay's limit of %d tokens (limits.max_tokens)"
                             % (self.max_tokens, limit))
        try:
            self.sampler = text.Sampler(float(temperature), int(top_k or 0), float(top_p), float(repetition_penalty),
                                        seed)
            self.stops = text.StopFilter(stop)
        except ValueError as e:
            raise ModelError(str(e)) from None
        self.utf8 = text.Utf8Decoder()
        self.shown = []
        self.done = self.max_tokens == 0

    def step(self):
        """One token: returns its byte value (and sets .done at the end)."""
        window = self.tokens[-self.T:]
        n = len(window)
        x = np.zeros((1, self.T), np.int64)
        x[0, :n] = window
        logits = np.asarray(run(self.entry, {self.inp: x})[self.out], np.float64)[0, n - 1, :256].tolist()
        tok = self.sampler.pick(logits, 256, self.tokens)
        self.tokens.append(tok)
        self.new.append(tok)
        piece = self.utf8.feed(tok)
        if piece:
            self.shown.append(self.stops.feed(piece))
        if len(self.new) >= self.max_tokens or self.stops.stopped:
            self.done = True
            self.shown.append(self.stops.feed(self.utf8.flush()) + self.stops.flush())
        return tok

    def text(self):
        return "".join(self.shown)


def mark_text_model(path, tokenizer="bytes", output=None):
    """Add {"text": {"tokenizer": ...}} to a .hyq's metadata (rewrites the file atomically)."""
    from hyperion_host.files import write_atomic
    from hyperion_host.model.hyqfile import encode, load_program

    prog, _ = load_program(str(path))
    prog.meta = dict(prog.meta, text=dict(prog.meta.get("text") or {}, tokenizer=tokenizer))
    e = Entry(Path(path).stem, path, prog, _)
    check_text_model(e)
    write_atomic(output or path, encode(prog))
