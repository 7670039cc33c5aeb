"""Structural fuzzing of .hyq files: valid models with their header tables mutated (counts, dimensions, offsets,
strides, windows, groups, attributes) and the header CRC recomputed, so the reader's CRC check does not catch them
and the structure check (hyperion/hyqcheck.py) must. Each file is loaded and run on real MicroPython, every kernel
path, in one interpreter per path (a crash ends it: the exit status says so), and on the host reader and runtime.

A file may load and run (a mutation can leave a valid model), or fail with FormatError or OutOfMemory; anything
else (another exception, a crash, a hang) is a finding.

    .venv/bin/python tools/fuzz/hyq_fuzz.py --count 10000 --seed 1     # the long run (not in CI)
tests/test_fuzz.py runs the same with a fixed seed and a bounded count."""

import argparse
import random
import struct
import sys
import tempfile
import zlib
from pathlib import Path

from hyperion import hyq

# values that tend to break arithmetic: zero, one, sign and width edges, and a few ordinary sizes
EDGES = (0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 32767, 32768, 65535, 65536,
         0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x10000000)

RUNNER = """
import array, sys
import hyperion
from hyperion import hyq
from hyperion.errors import OutOfMemory
for i, p in enumerate(PATHS):
    print('FILE', i)
    try:
        m = hyperion.load(p, kernels=KERNELS)
        for n in range(len(m.h.inputs)):
            m.set_input(array.array('f', [0.25] * m.h.tensors[m.h.inputs[n]].size), n)
        m.run()
        m = None
        print('RESULT', i, 'ok')
    except hyq.FormatError as e:
        print('RESULT', i, 'format', e)
    except MemoryError as e:
        print('RESULT', i, 'memory', e)
    except Exception as e:
        print('RESULT', i, 'UNEXPECTED', type(e).__name__, e)
print('DONE')
"""


def fix_crc(blob):
    """Recompute the header CRC (bytes [0:44] and [48:data_offset]) of a mutated file."""
    data_offset = struct.unpack_from("<I", blob, 36)[0]
    crc = zlib.crc32(bytes(blob[:hyq.HEADER_CRC_AT]))
    crc = zlib.crc32(bytes(blob[hyq.HEADER_SIZE:min(data_offset, len(blob))]), crc)
    struct.pack_into("<I", blob, hyq.HEADER_CRC_AT, crc & 0xFFFFFFFF)


def mutate(blob, rng):
    """A copy of blob with 1-3 of its header fields or table words changed, CRC fixed."""
    b = bytearray(blob)
    table_size = struct.unpack_from("<I", b, 16)[0]
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.1:  # a header field (counts, sizes, offsets; not the magic and version)
            pos = rng.choice((8, 10, 12, 14, 16, 20, 24, 28, 32, 36, 40))
            width = 2 if pos < 16 else 4
        else:  # a word or byte of the tables (tensor and node records, ids, attributes)
            width = rng.choice((1, 2, 4))
            pos = hyq.HEADER_SIZE + rng.randrange(max(1, table_size - width))
            pos -= pos % width
        if rng.random() < 0.7:
            v = rng.choice(EDGES)
        else:
            old = int.from_bytes(b[pos:pos + width], "little")
            v = old + rng.choice((-1, 1, -2, 2, 8, -8))
        v &= (1 << (8 * width)) - 1
        b[pos:pos + width] = v.to_bytes(width, "little")
    fix_crc(b)
    return bytes(b)


ROOT = Path(__file__).resolve().parent.parent.parent


def build_corpus(d):
    """Models that between them use every op kind the examples have: calibrated int8 chains with requantization
    tables, float activations, q8 and sym weights, pruned (CSR) weights, a transformer (gather, matmul, softmax,
    layernorm, transpose), and the shipped digits and kws models. Returns their paths."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tools"))
    from hyperion_host.files import write_atomic
    from hyperion_host.model.onnx_import import import_onnx
    from hyperion_host.model.quantize import Options, quantize_model

    import onnx_examples as models

    d = Path(d)
    r = np.random.default_rng(3)
    out = [ROOT / "models" / "digits" / "digits.hyq", ROOT / "models" / "kws" / "kws.hyq"]
    cnn = models.cnn(d / "cnn.onnx", batch=1)
    np.savez(d / "calib.npz", x=r.standard_normal((16, 1, 1, 8, 8)).astype(np.float32))
    tf = models.transformer(d / "tf.onnx")
    tfin = import_onnx(tf, ()).inputs[0]
    np.savez(d / "tcalib.npz", **{tfin: r.integers(0, 64, (16, 1, 8)).astype(np.float32)})
    for name, src, opts in (
            ("cnn-calib", cnn, Options(calib=str(d / "calib.npz"))),
            ("cnn-float", cnn, Options(act="float")),
            ("cnn-q8", cnn, Options(bits=8)),
            ("mlp-pruned", models.mlp(d / "mlp.onnx", k=64, hidden=64), Options(prune=0.5, scheme="sym")),
            ("tf", tf, Options()),
            ("tf-calib", tf, Options(calib=str(d / "tcalib.npz")))):
        blob, _ = quantize_model(src, opts)
        write_atomic(d / (name + ".hyq"), blob)
        out.append(d / (name + ".hyq"))
    return out


def corpus(models):
    return [Path(p).read_bytes() for p in models]


def run_board(paths, kernels, micropython, heap=2 << 20, timeout=600):
    """{index: outcome} for each file on MicroPython with a kernel path; a crash or hang is reported on the file
    that was running."""
    code = "PATHS = %r\nKERNELS = %r\n" % ([str(p) for p in paths], kernels) + RUNNER
    r = micropython(code, heap=heap, timeout=timeout)
    out, current = {}, None
    for ln in r.stdout.splitlines():
        if ln.startswith("FILE "):
            current = int(ln.split()[1])
        elif ln.startswith("RESULT "):
            _, i, outcome = ln.split(" ", 2)
            out[int(i)] = outcome
            current = None
    if current is not None or "DONE" not in r.stdout:
        out[current if current is not None else -1] = "CRASH exit %s: %s" % (r.returncode, (r.stderr or "")[-300:])
    return out


def run_host(path):
    """The host reader and runtime on one file: 'ok', 'format ...' or 'UNEXPECTED ...'."""
    import numpy as np

    from hyperion_host.errors import HyperionError
    from hyperion_host.model.hyqfile import load_program

    try:
        prog, _ = load_program(str(path))
        feeds = {n: np.full(prog.shapes[n], 0.25, np.float32) for n in prog.inputs}
        prog.run(feeds)
        return "ok"
    except HyperionError as e:
        return "format %s" % e.format_message()
    except MemoryError as e:
        return "memory %s" % e
    except Exception as e:  # noqa: BLE001 - the finding itself
        return "UNEXPECTED %s %s" % (type(e).__name__, e)


def findings(outcomes):
    return {i: o for i, o in outcomes.items() if o.startswith(("UNEXPECTED", "CRASH"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kernels", default="c,viper,python")
    ap.add_argument("models", nargs="*", help="the models to mutate (default: build_corpus's)")
    a = ap.parse_args()
    from hyperion_host.device.local import run_micropython
    from hyperion_host.firmware import cached_firmware

    rng = random.Random(a.seed)
    work = Path(tempfile.mkdtemp(prefix="hyq-fuzz-"))
    blobs = corpus(a.models or build_corpus(work))
    paths = []
    for i in range(a.count):
        p = work / ("m%05d.hyq" % i)
        p.write_bytes(mutate(rng.choice(blobs), rng))
        paths.append(p)
    fw = cached_firmware("x64")
    total = {}
    for k in a.kernels.split(","):
        got = {}
        for s in range(0, len(paths), 500):  # an interpreter per 500 files: a crash loses at most the rest of them
            part = run_board(paths[s:s + 500], k,
                             lambda code, **kw: run_micropython(code, firmware=fw, **kw))
            got.update({s + i: o for i, o in part.items()})
        total[k] = got
        report(k, got, paths)
    import resource  # the host runtime on a crafted file must not take the machine's memory: 4 GB here

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
    total["host"] = {i: run_host(p) for i, p in enumerate(paths)}
    report("host", total["host"], paths)
    sys.exit(1 if any(findings(got) for got in total.values()) else 0)


def report(k, got, paths):
    f = findings(got)
    ok = sum(1 for o in got.values() if o == "ok")
    fmt = sum(1 for o in got.values() if o.startswith("format"))
    mem = sum(1 for o in got.values() if o.startswith("memory"))
    print("%-7s %d files: %d ran, %d FormatError, %d out of memory, %d findings" % (k, len(got), ok, fmt, mem,
                                                                                len(f)), flush=True)
    for i, o in sorted(f.items())[:10]:
        print("   %s: %s" % (paths[i].name if i >= 0 else "?", o), flush=True)


if __name__ == "__main__":
    main()
