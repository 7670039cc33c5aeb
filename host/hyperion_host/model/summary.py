"""What `inspect` shows of a .hyq model: per-op outputs, weight formats and MACs, tensor sizes, bits per weight,
arena and scratch sizes."""

import os

import numpy as np

from hyperion import hyq
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.weights import CSRWeight, QuantizedWeight


def model_summary(path, key=None):
    """Ops, tensors, sizes, arena and MACs of a .hyq (the data `inspect` shows); key: an encrypted model's."""
    prog, m = load_program(str(path), key=key)
    ops = []
    macs_total = 0
    for op, ins, outs, attrs in prog.ops:
        oshape = prog.shapes[outs[0]]
        w = prog.consts.get(ins[0] if op == "gather" else ins[1]) if len(ins) > 1 else None
        macs = _macs(op, prog, ins, oshape, attrs)
        macs_total += macs
        ops.append({"op": op, "name": attrs.get("_name", ""), "output": list(oshape), "macs": macs,
                    "act": attrs.get("act", ""), "qmode": ("float", "dynamic", "static")[attrs["qmode"]]
                    if "qmode" in attrs else "", "weight": _wdesc(w)})
    tensors = []
    for t in m.tensors:
        if t.kind == hyq.K_ACT:
            continue
        numel = t.size
        tensors.append({"index": t.index, "kind": hyq.KIND_NAMES[t.kind], "shape": list(t.shape), "bytes": t.nbytes,
                        "bpw": t.nbytes * 8 / max(numel, 1)})
    wt = [t for t in tensors if t["kind"] in ("q4", "q8", "csr4")]
    weights = sum(int(np.prod(t["shape"])) for t in wt)
    wbytes = sum(t["bytes"] for t in wt)
    return {"file": str(path), "file_bytes": os.path.getsize(path), "arena_bytes": m.arena_size,
            "scratch_bytes": m.scratch_size, "macs": macs_total, "ops": ops, "tensors": tensors,
            "quantized_weights": weights, "bpw": wbytes * 8 / weights if weights else 0.0,
            "inputs": {n: list(prog.shapes[n]) for n in prog.inputs},
            "outputs": {n: list(prog.shapes[n]) for n in prog.outputs}, "meta": prog.meta.get("quant", {}),
            "labels": prog.meta.get("labels")}


def _wdesc(w):
    if isinstance(w, QuantizedWeight):
        return "%s b%d" % (("q4 asym", "q4 sym", "q8")[w.scheme], w.block)
    if isinstance(w, CSRWeight):
        return "csr4 nnz=%d" % w.nnz
    if isinstance(w, np.ndarray):
        return "f32"
    return ""


def _macs(op, prog, ins, oshape, attrs):
    n_out = int(np.prod(oshape))
    if op == "linear":
        return n_out * prog.shapes[ins[0]][-1]
    if op == "conv":
        w = prog.consts[ins[1]]
        k = w.cols if hasattr(w, "cols") else int(np.prod(w.shape[1:]))
        return n_out * k
    if op == "matmul":
        return n_out * prog.shapes[ins[0]][-1]
    return 0
