"""The quantize pipeline: ONNX -> graph IR -> calibration -> quantized weights -> plan -> .hyq bytes + report."""

import os

import numpy as np

from hyperion import hyq
from hyperion_host.errors import HyperionError
from hyperion_host.model.fit import prune_magnitude, quantize_weight, sqnr_db
from hyperion_host.model.onnx_import import import_onnx
from hyperion_host.model.reference import Program
from hyperion_host.model.samples import load_samples
from hyperion_host.model.weights import CSRWeight

MAX_CALIB = 256
MAX_H_ROWS = 4096


class Options:
    def __init__(self, bits=4, block=32, scheme="asym", act="int8", calib=None, prune=0.0, keep_float=(),
                 input_shapes=(), gptq=True):
        if bits not in (4, 8):
            raise HyperionError("--bits must be 4 or 8")
        if block not in (32, 64, 128):
            raise HyperionError("--block-size must be 32, 64 or 128")
        if scheme not in ("asym", "sym"):
            raise HyperionError("--scheme must be asym or sym")
        if act not in ("int8", "float"):
            raise HyperionError("--act must be int8 or float")
        if not 0 <= prune < 1:
            raise HyperionError("--prune must be a ratio in [0, 1), e.g. 0.5")
        self.bits, self.block, self.scheme, self.act = bits, block, scheme, act
        self.calib, self.prune, self.keep_float = calib, prune, list(keep_float or ())
        self.input_shapes, self.gptq = list(input_shapes or ()), gptq
        self.meta = {}


def input_dtypes(g, model_path):
    """Integer graph inputs (token ids) are i32 activations."""
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    out = {}
    for i in m.graph.input:
        if i.name in g.inputs and i.type.tensor_type.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            out[i.name] = "i32"
    return out


class _Stats:
    """Per weight-op input statistics from calibration runs: |x| max, mean x^2 per column, X^T X."""

    def __init__(self, g, want_hessian):
        self.want_hessian = want_hessian
        self.amax, self.sq, self.count, self.H, self.rows = {}, {}, {}, {}, {}

    def hook(self, op, ins, outs, args, res, attrs):
        if op == "add":  # a residual add may become int8 (_int8_chains): its output's range
            self.amax[outs[0]] = max(self.amax.get(outs[0], 0.0), float(np.abs(res[0]).max()))
            return
        if op not in ("linear", "conv"):
            return
        key = outs[0]
        x = np.asarray(args[0], np.float64)
        self.amax[ins[0]] = max(self.amax.get(ins[0], 0.0), float(np.abs(x).max()))
        self.amax[key] = max(self.amax.get(key, 0.0), float(np.abs(res[0]).max()))
        if op == "linear":
            X = x.reshape(-1, x.shape[-1])
        else:
            X = _conv_patches(x, attrs, np.shape(args[1]), res[0].shape)
        self.sq[key] = self.sq.get(key, 0) + (X * X).sum(0)
        self.count[key] = self.count.get(key, 0) + X.shape[0]
        if self.want_hessian and self.rows.get(key, 0) < MAX_H_ROWS:
            self.H[key] = self.H.get(key, 0) + X.T @ X
            self.rows[key] = self.rows.get(key, 0) + X.shape[0]


def _conv_patches(x, a, wshape, oshape):
    from hyperion_host.model.reference import _as4d, _pad, _patches

    x4 = _as4d(x)
    N, C = x4.shape[:2]
    Ho, Wo = (1, oshape[2]) if len(oshape) == 3 else oshape[2:]
    pat = _patches(_pad(x4, a["pt"], a["pl"], a["pb"], a["pr"]), a["kh"], a["kw"], a["sh"], a["sw"], a["dh"],
                   a["dw"], Ho, Wo)
    G = a["groups"]
    cg = C // G
    # groups share the column layout: stack them as extra rows
    cols = [pat[:, g * cg: (g + 1) * cg].transpose(0, 4, 5, 1, 2, 3).reshape(N * Ho * Wo, -1) for g in range(G)]
    return np.concatenate(cols, 0)


def weight_ops(g):
    """(op, input index of the weight) for every op with a constant weight matrix to quantize."""
    out = []
    for op in g.ops:
        if op.op in ("linear", "conv") and g.is_const(op.inputs[1]):
            out.append((op, 1))
        elif op.op == "gather" and g.is_const(op.inputs[0]) and op.attrs.get("axis", 0) == 0 \
                and g.values[op.inputs[0]].const.ndim == 2:
            out.append((op, 0))
    return out


def check_blob(blob):
    """The board's structure check on a file about to be written: a shape that --input-shape or the graph made
    inconsistent with the weights is an error here, not a wrong answer on the board."""
    import io

    from hyperion import hyq, hyqcheck

    try:
        hyqcheck.check(hyq.Model(io.BytesIO(blob)))
    except hyq.FormatError as e:
        raise HyperionError("the quantized model is inconsistent (%s): check --input-shape against the "
                            "model's layers" % e) from None


def quantize_model(onnx_path, opts, progress=None):
    """Returns (hyq bytes, report dict). progress(done, total, name) is called per weight tensor."""
    g = import_onnx(onnx_path, opts.input_shapes)
    g.meta["dtypes"] = input_dtypes(g, onnx_path)
    float_prog = Program.from_graph(g)
    for op in g.ops:
        op.attrs["_name"] = op.name
    known = {op.name for op in g.ops} | {o for op in g.ops for o in op.outputs}
    for k in opts.keep_float:
        if k not in known:
            raise HyperionError("--keep-float names '%s', which is not a node of the model (see `hyperion-host "
                                "inspect` after a first quantize)" % k)

    samples, stats = [], None
    if opts.calib:
        samples, _ = load_samples(opts.calib, g.inputs, {n: g.values[n].shape for n in g.inputs})
        samples = samples[:MAX_CALIB]
        if not samples:
            raise HyperionError("--calib %s holds no samples" % opts.calib)
        stats = _Stats(g, opts.gptq)
        for s in samples:
            float_prog.run(s, hook=stats.hook)

    consts = {n: v.const for n, v in g.values.items() if v.const is not None}
    layers = []
    wops = weight_ops(g)
    total = sum(g.values[op.inputs[i]].numel() for op, i in wops)
    done = 0
    for op, wi in wops:
        wname = op.inputs[wi]
        W = g.values[wname].const
        keep = op.name in opts.keep_float or any(o in opts.keep_float for o in op.outputs)
        rows = W.shape[0]
        W2 = W.reshape(rows, -1).astype(np.float32)
        entry = {"name": op.name, "op": op.op, "shape": list(W.shape), "params": int(W.size),
                 "fp32_bytes": int(W.size * 4)}
        if keep:
            entry.update(format="f32", bytes=int(W.size * 4), bpw=32.0, sqnr_db=float("inf"))
        else:
            key = op.outputs[0]
            imp = H = None
            if stats is not None and key in stats.sq:
                imp = stats.sq[key] / max(stats.count[key], 1)
                H = stats.H.get(key) if op.op == "linear" or op.attrs.get("groups", 1) == 1 else None
                if H is not None and stats.rows.get(key, 0) < W2.shape[1]:
                    H = None  # fewer calibration rows than inputs: GPTQ would fit the samples, not the data
            Wq_in = W2
            if opts.prune > 0 and op.op != "gather":
                Wq_in = prune_magnitude(W2, opts.prune)
            q, why = _best_format(Wq_in, opts, imp, H, pruned=opts.prune > 0 and op.op != "gather",
                                  short_rows_q8=op.op != "gather")
            deq = q.dequantize()
            nbytes = len(q.to_bytes())
            fmt = "csr4" if isinstance(q, CSRWeight) else (
                "q8" if q.scheme == hyq.S_Q8 else "q4" + ("a" if q.scheme == hyq.S_ASYM else "s"))
            # weight SQNR: the same measure with and without --calib (the float weights against what is stored)
            entry.update(format=fmt, bytes=nbytes, bpw=nbytes * 8 / W.size, sqnr_db=sqnr_db(W2, deq))
            if H is not None:
                entry["output_weighted_sqnr_db"] = weighted_sqnr_db(W2, deq, H)
            if why:
                entry["auto"] = why
            if opts.prune > 0:
                entry["sparsity"] = float((deq == 0).mean())
            consts[wname] = q
        layers.append(entry)
        done += W.size
        if progress:
            progress(done, total, op.name)

    # activation modes and static scales
    scales = {}
    for op in g.ops:
        if op.op not in ("linear", "conv"):
            continue
        w = consts[op.inputs[1]]
        if opts.act == "float" or isinstance(w, np.ndarray):
            op.attrs["qmode"] = hyq.Q_FLOAT
        elif stats is not None and op.inputs[0] in stats.amax:
            op.attrs["qmode"] = hyq.Q_STATIC
            scales[op.inputs[0]] = max(stats.amax[op.inputs[0]], 1e-12) / 127.0
        else:
            op.attrs["qmode"] = hyq.Q_DYNAMIC
    dtypes = dict(g.meta.get("dtypes", {}))
    if stats is not None and opts.act == "int8":
        _int8_chains(g, consts, stats, scales, dtypes)
    meta = {k: v for k, v in g.meta.items() if k in ("source", "opset", "labels")}
    meta["dtypes"] = dtypes
    meta.update(opts.meta)
    meta["quant"] = {"bits": opts.bits, "block": opts.block, "scheme": opts.scheme, "act": opts.act,
                     "calibrated": bool(samples), "prune": opts.prune}
    prog = Program([(op.op, op.inputs, op.outputs, dict(op.attrs)) for op in g.ops], consts,
                   {n: v.shape for n, v in g.values.items()}, list(g.inputs), list(g.outputs), scales,
                   dtypes, meta)
    from hyperion_host.model.hyqfile import encode

    blob = encode(prog)
    check_blob(blob)
    report = {"layers": layers, "file_bytes": len(blob),
              "fp32_bytes": int(sum(v.const.size * 4 for v in g.values.values() if v.const is not None
                                    and v.const.dtype.kind == "f")),
              "weights": int(sum(e["params"] for e in layers)),
              "weight_bytes": int(sum(e["bytes"] for e in layers))}
    report["bpw"] = report["weight_bytes"] * 8 / max(report["weights"], 1)
    if samples:
        report["output_sqnr_db"] = output_sqnr(float_prog, prog, samples[:64])
    return blob, report


def _int8_chains(g, consts, stats, scales, dtypes):
    """With calibration, activations that flow only between integer ops are stored as int8: a graph input read
    only by quantized linear/conv layers, the outputs of those layers (which then requantize in integers,
    requant.py), max pooling and reshapes of them, and residual adds of two of them (ops._add8). No float work
    and a quarter of the arena for those tensors. Each int8 tensor's scale is its calibrated max|x| / 127 (the
    static input scale its readers were given), carried unchanged through reshapes and max pooling."""
    from hyperion_host.model import requant
    from hyperion_host.model.weights import QuantizedWeight

    def amax(n):
        return float(stats.amax.get(n) or 0.0)

    def int_layer(op):
        return op.op in ("linear", "conv") and isinstance(consts.get(op.inputs[1]), QuantizedWeight) and \
            op.attrs.get("qmode") != hyq.Q_FLOAT

    cands = set()
    for n in g.inputs:
        if amax(n) > 0 and dtypes.get(n) not in ("i32",) and n not in consts:
            cands.add(n)
    for op in g.ops:
        out = op.outputs[0]
        if int_layer(op) and amax(out) > 0 and op.attrs.get("act", "none") in ("none", "relu", "clip") and \
                (op.inputs[0] in cands or op.inputs[0] in scales):
            cands.add(out)
        elif op.op in ("reshape", "maxpool") and op.inputs[0] in cands:
            cands.add(out)
        elif op.op == "add" and all(i in cands for i in op.inputs) and amax(out) > 0 and \
                op.attrs.get("act", "none") in ("none", "relu") and \
                all(g.values[i].numel() == g.values[out].numel() for i in op.inputs):
            cands.add(out)
    failed = set()
    while True:
        _prune_int8(g, cands, int_layer)
        chosen = _assign_int8(g, cands, consts, scales, dtypes, stats, requant, failed)
        if chosen is not None:
            return
        cands -= failed


def _prune_int8(g, cands, int_layer):
    """Drop candidates until every int8 tensor is read only by ops that take int8 and made from int8 inputs."""
    changed = True
    while changed:
        changed = False
        for n in list(cands):
            prod = g.producer(n)
            ok = n not in g.outputs and bool(g.consumers(n))
            if ok and prod is not None and prod.op in ("reshape", "maxpool", "add"):
                ok = all(i in cands for i in prod.inputs)
            for op in g.consumers(n) if ok else ():
                if int_layer(op) and op.inputs[0] == n or op.op == "gap":
                    continue
                if op.op in ("reshape", "maxpool", "add") and op.outputs[0] in cands:
                    continue
                ok = False
                break
            if not ok:
                cands.discard(n)
                changed = True


def _assign_int8(g, cands, consts, scales, dtypes, stats, requant, failed):
    """Make the candidates int8, in graph order; None (and the layer in `failed`) if a layer cannot requantize,
    with nothing changed."""
    sc, tables, adds = {}, {}, {}
    for n in g.inputs:
        if n in cands:
            sc[n] = float(stats.amax[n]) / 127.0
    for op in g.ops:
        out = op.outputs[0]
        if out not in cands:
            continue
        if op.op in ("reshape", "maxpool"):
            sc[out] = sc[op.inputs[0]]
            continue
        sc[out] = float(stats.amax[out]) / 127.0
        if op.op == "add":
            a, b = (sc[i] / sc[out] for i in op.inputs)
            adds[out] = (int(round(a * 65536)), int(round(b * 65536)))
            if max(adds[out]) >= 1 << 24:
                failed.add(out)
                return None
            continue
        s_in = sc.get(op.inputs[0], scales.get(op.inputs[0]))
        bias = consts.get(op.inputs[2]) if len(op.inputs) > 2 else None
        table = requant.requant_table(consts[op.inputs[1]], s_in, sc[out], bias, op.attrs.get("act", "none"),
                                      op.attrs.get("p0", 0.0), op.attrs.get("p1", 0.0))
        if table is None:
            failed.add(out)
            return None
        tables[out] = table
    for n, s in sc.items():
        dtypes[n] = "i8"
        scales[n] = s
    for op in g.ops:
        out = op.outputs[0]
        if op.op in ("linear", "conv") and op.inputs[0] in sc:  # it reads int8 as it is: its scale is the input's
            op.attrs["qmode"] = hyq.Q_STATIC
        if out in tables:
            name = g.add_const(out + "_requant", tables[out]).name
            consts[name] = tables[out]
            op.inputs.append(name)
            op.attrs["rq"] = 1
        elif out in adds:
            op.attrs["p0"], op.attrs["p1"] = (float(v) for v in adds[out])
    return True


# A q4 layer whose rows are short pays a whole block per row (blocks do not cross rows): over this many bits per
# weight, q8 is tried instead, and taken when it costs at most Q8_COST times q4's bytes (a small layer: it
# buys about 24 dB of weight SQNR for a few hundred bytes).
MAX_Q4_BPW = 6.0
Q8_COST = 2.0


def _best_format(W, opts, imp, H, pruned, short_rows_q8=True):
    """(weight, why): dense blocked quantization, CSR when pruning makes it smaller, or q8 for a layer whose
    short rows make q4 cost more than MAX_Q4_BPW (not an embedding table: a decoder reads it a row at a time, in
    its q4 path). With a Hessian, GPTQ's result is kept only when it has less
    output-weighted error than the plain fit (error feedback can trade weight error for nothing)."""
    scheme = "sym" if pruned else opts.scheme  # zeros stay exactly zero with the symmetric grid

    def fit(bits):
        plain = quantize_weight(W, bits, opts.block, scheme, importance=imp, threads=os.cpu_count() or 1)
        if H is None or not opts.gptq:
            return plain
        g = quantize_weight(W, bits, opts.block, scheme, importance=imp, hessian=H, threads=os.cpu_count() or 1)
        return g if weighted_error(W, g.dequantize(), H) <= weighted_error(W, plain.dequantize(), H) else plain

    dense = fit(opts.bits)
    if pruned and opts.bits == 4:
        csr = CSRWeight.from_dense(W)
        if len(csr.to_bytes()) < len(dense.to_bytes()):
            return csr, None
    q4 = len(dense.to_bytes())
    if short_rows_q8 and opts.bits == 4 and not pruned and q4 * 8 > MAX_Q4_BPW * W.size:
        q8 = fit(8)
        if len(q8.to_bytes()) <= Q8_COST * q4:
            return q8, "rows of %d weights in blocks of %d made q4 cost %.1f bits/weight" % (
                W.shape[1], opts.block, q4 * 8 / W.size)
    return dense, None


def weighted_error(W, deq, H):
    """tr(E H E^T): the squared error the weights' error E adds to the layer's outputs over the calibration
    inputs (H = X^T X)."""
    E = np.asarray(W, np.float64) - np.asarray(deq, np.float64)
    return float(np.einsum("ij,jk,ik->", E, np.asarray(H, np.float64), E))


def weighted_sqnr_db(W, deq, H):
    """The layer's output SQNR on the calibration inputs from its weights' error alone (dB)."""
    err = weighted_error(W, deq, H)
    sig = weighted_error(W, np.zeros_like(W), H)
    if err == 0:
        return float("inf")
    return float(10 * np.log10(sig / err)) if sig > 0 else float("-inf")


def output_sqnr(float_prog, q_prog, samples):
    ref, out = {}, {}
    for s in samples:
        a = float_prog.run(s)
        b = q_prog.run(s)
        for k in a:
            ref.setdefault(k, []).append(np.asarray(a[k], np.float64).ravel())
            out.setdefault(k, []).append(np.asarray(b[k], np.float64).ravel())
    return {k: sqnr_db(np.concatenate(ref[k]), np.concatenate(out[k])) for k in ref}
