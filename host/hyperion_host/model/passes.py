"""Graph passes: fold BatchNorm into the preceding Conv/Gemm, fold a constant Add into a linear's bias,
recognise GELU written with Erf, fuse activations into the op before them, and settle broadcasting."""

import math

import numpy as np

from hyperion_host.errors import HyperionError

FUSE_INTO = ("linear", "conv", "add")
BINARY = ("add", "sub", "mul", "div", "min", "max", "pow", "prelu")


def run_all(g):
    fold_pad_into_conv(g)
    fold_batchnorm(g)
    fold_linear_bias(g)
    match_gelu(g)
    fuse_activations(g)
    collapse_reshapes(g)
    settle_binary(g)
    g.remove_unused()
    leftover = [op for op in g.ops if op.op in ("erf", "batchnorm")]
    if leftover:
        raise HyperionError("unsupported use of Erf at node %s: only the GELU pattern x*0.5*(1+erf(x/sqrt(2))) "
                            "is supported" % leftover[0].name)
    g.topo_check()


def _single_consumer(g, name):
    c = g.consumers(name)
    return c[0] if len(c) == 1 and name not in g.outputs else None


def fold_pad_into_conv(g):
    """Zero padding of H or W (a Pad node per axis) straight before a conv becomes the conv's own padding: no
    padded copy in the arena (TensorFlow-style exports pad before every strided conv)."""
    changed = True
    while changed:
        changed = False
        for op in list(g.ops):
            if op.op != "conv" or g.is_const(op.inputs[0]):
                continue
            pad = g.producer(op.inputs[0])
            if pad is None or pad.op != "pad" or _single_consumer(g, op.inputs[0]) is not op or \
                    pad.attrs["mode"] != 0 or pad.attrs.get("value", 0.0) != 0.0:
                continue
            rank = len(g.values[pad.inputs[0]].shape)
            ax = pad.attrs["axis"]
            if rank == 4 and ax == 2:
                keys = ("pt", "pb")
            elif ax == rank - 1 and rank in (3, 4):
                keys = ("pl", "pr")
            else:
                continue
            op.attrs[keys[0]] += pad.attrs["before"]
            op.attrs[keys[1]] += pad.attrs["after"]
            op.inputs[0] = pad.inputs[0]
            g.ops.remove(pad)
            changed = True


def fold_batchnorm(g):
    for op in list(g.ops):
        if op.op != "batchnorm":
            continue
        x, k_name, s_name = op.inputs
        k, s = g.values[k_name].const, g.values[s_name].const
        prod = g.producer(x)
        if prod is not None and prod.op in ("conv", "linear") and _single_consumer(g, x) is op \
                and g.is_const(prod.inputs[1]) and prod.attrs.get("act", "none") == "none":
            w = g.values[prod.inputs[1]].const
            w2 = (w * k.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            b = g.values[prod.inputs[2]].const if len(prod.inputs) > 2 else np.zeros(w.shape[0], np.float32)
            prod.inputs[1] = g.add_const(prod.inputs[1] + "_bn", w2).name
            b2 = (b * k + s).astype(np.float32)
            bname = g.add_const(prod.outputs[0] + "_bias_bn", b2).name
            prod.inputs = prod.inputs[:2] + [bname]
            prod.outputs = [op.outputs[0]]
            g.ops.remove(op)
            continue
        # standalone: y = x*k + s, per channel (axis 1)
        rank = len(g.values[x].shape)
        shape = (-1,) + (1,) * (rank - 2)
        kk = g.add_const(k_name + "_c", k.reshape(shape)).name
        ss = g.add_const(s_name + "_c", s.reshape(shape)).name
        mid = op.outputs[0] + "_scaled"
        g.add_value(mid, g.values[x].shape)
        i = g.ops.index(op)
        g.ops[i: i + 1] = [_new("mul", [x, kk], [mid], {}, op.name), _new("add", [mid, ss], op.outputs, {}, op.name)]


def fold_linear_bias(g):
    """MatMul followed by Add of a constant vector (PyTorch's nn.Linear export) -> one biased linear."""
    for op in list(g.ops):
        if op.op != "linear" or len(op.inputs) != 2:
            continue
        nxt = _single_consumer(g, op.outputs[0])
        if nxt is None or nxt.op != "add":
            continue
        other = nxt.inputs[1] if nxt.inputs[0] == op.outputs[0] else nxt.inputs[0]
        n_out = g.values[op.inputs[1]].shape[0]
        if not g.is_const(other):
            continue
        c = g.values[other].const
        if c.size != n_out or c.shape[-1] != n_out:
            continue
        op.inputs.append(g.add_const(other + "_bias", c.reshape(n_out).astype(np.float32)).name)
        op.outputs = [nxt.outputs[0]]
        g.ops.remove(nxt)


def _scalar(g, name):
    v = g.values.get(name)
    if v is None or v.const is None or v.const.size != 1:
        return None
    return float(np.asarray(v.const).ravel()[0])


def _other(op, name):
    return op.inputs[1] if op.inputs[0] == name else op.inputs[0]


def match_gelu(g):
    """x * 0.5 * (1 + erf(x / sqrt(2))) in its common export orders -> act gelu."""
    for erf in [op for op in g.ops if op.op == "erf"]:
        pre = g.producer(erf.inputs[0])
        if pre is None or pre.op not in ("div", "mul") or g.is_const(pre.inputs[0]):
            continue
        c = _scalar(g, pre.inputs[1])
        if c is None or not math.isclose(c, math.sqrt(2) if pre.op == "div" else 1 / math.sqrt(2), rel_tol=1e-3):
            continue
        x = pre.inputs[0]
        add1 = _single_consumer(g, erf.outputs[0])
        if add1 is None or add1.op != "add" or _scalar(g, _other(add1, erf.outputs[0])) != 1.0:
            continue
        mul = _single_consumer(g, add1.outputs[0])
        if mul is None or mul.op != "mul":
            continue
        y = _other(mul, add1.outputs[0])
        chain = [pre, erf, add1, mul]
        if y == x:  # (x * (1 + erf)) * 0.5
            half = _single_consumer(g, mul.outputs[0])
            if half is None or half.op != "mul" or _scalar(g, _other(half, mul.outputs[0])) != 0.5:
                continue
            chain.append(half)
            out = half.outputs[0]
        else:  # (x * 0.5) * (1 + erf)
            h = g.producer(y)
            if h is None or h.op != "mul" or x not in h.inputs or _scalar(g, _other(h, x)) != 0.5:
                continue
            chain.append(h)
            out = mul.outputs[0]
        i = min(g.ops.index(op) for op in chain)
        for op in chain:
            g.ops.remove(op)
        g.ops.insert(i, _new("act", [x], [out], {"act": "gelu", "p0": 0.0, "p1": 0.0}, erf.name))


def fuse_activations(g):
    for op in list(g.ops):
        if op.op != "act":
            continue
        prod = g.producer(op.inputs[0])
        if prod is None or prod.op not in FUSE_INTO or prod.attrs.get("act", "none") != "none":
            continue
        if _single_consumer(g, op.inputs[0]) is not op:
            continue
        prod.attrs.update(act=op.attrs["act"], p0=op.attrs.get("p0", 0.0), p1=op.attrs.get("p1", 0.0))
        prod.outputs = [op.outputs[0]]
        g.ops.remove(op)


def collapse_reshapes(g):
    """A reshape whose input is another reshape reads the original; graph-input/output reshapes stay."""
    for op in g.ops:
        if op.op != "reshape":
            continue
        prod = g.producer(op.inputs[0])
        if prod is not None and prod.op == "reshape" and op.inputs[0] not in g.outputs:
            op.inputs = [prod.inputs[0]]


def broadcast_spec(big, small):
    """How `small` broadcasts to `big` as index (i // inner) % n, or None if it does not fit that form."""
    big, small = list(big), list(small)
    n = int(np.prod(small)) if small else 1
    if n == 1:
        return 1, 1
    small = [1] * (len(big) - len(small)) + small
    if len(small) > len(big):
        return None
    dims = [i for i, d in enumerate(small) if d != 1]
    lo, hi = dims[0], dims[-1]
    if any(small[i] != big[i] for i in range(lo, hi + 1)):
        return None
    inner = int(np.prod(big[hi + 1:])) if hi + 1 < len(big) else 1
    return inner, n


def settle_binary(g):
    """Pick which operand of a binary op is full-size and how the other one broadcasts; an operand that broadcasts
    in a way the kernels' (i // inner) % n cannot follow (both ways, or dims split apart) is expanded first: a
    constant in place, an activation by concats of copies (ops before this one)."""
    for op in list(g.ops):
        if op.op not in BINARY:
            continue
        out = g.values[op.outputs[0]].shape
        size = int(np.prod(out or (1,)))
        for k in (0, 1):
            other = op.inputs[1 - k]
            if int(np.prod(g.values[op.inputs[k]].shape or (1,))) == size or \
                    broadcast_spec(out, g.values[op.inputs[k]].shape) is not None and \
                    int(np.prod(g.values[other].shape or (1,))) == size:
                continue
            op.inputs[k] = _expand(g, op, op.inputs[k], out)
        a, b = op.inputs
        sa, sb = g.values[a].shape, g.values[b].shape
        full_a = int(np.prod(sa or (1,))) == size
        full_b = int(np.prod(sb or (1,))) == size
        if full_a and (not full_b or not g.is_const(a)):
            big, small, rev = a, b, 0  # on a tie the activation is the full-size side
        else:
            big, small, rev = b, a, 1
        spec = broadcast_spec(g.values[big].shape, g.values[small].shape)
        if spec is None:
            raise HyperionError("node %s (%s): cannot broadcast %s to %s" % (op.name, op.op, g.values[small].shape,
                                                                             g.values[big].shape))
        op.inputs = [big, small]
        op.attrs["rev"] = rev
        op.attrs["inner"], op.attrs["n"] = spec


def _expand(g, op, name, shape):
    """name broadcast to shape: a new constant, or the ops (reshape, concats) that make it, inserted before op."""
    v = g.values[name]
    if v.const is not None:
        return g.add_const(name + "_full", np.ascontiguousarray(np.broadcast_to(v.const, shape))).name
    at = g.ops.index(op)
    cur, cur_shape = name, (1,) * (len(shape) - len(v.shape)) + tuple(v.shape)
    if cur_shape != tuple(v.shape):
        cur = _added(g, op, at, "reshape", [name], name + "_rank", cur_shape, {})
        at += 1
    for ax, d in enumerate(shape):
        if cur_shape[ax] == 1 and d > 1:
            cur_shape = cur_shape[:ax] + (d,) + cur_shape[ax + 1:]
            cur = _added(g, op, at, "concat", [cur] * d, "%s_rep%d" % (name, ax), cur_shape, {"axis": ax})
            at += 1
    return cur


def _added(g, op, at, kind, inputs, base, shape, attrs):
    out, i = base, 0
    while out in g.values:
        i += 1
        out = "%s_%d" % (base, i)
    g.add_value(out, shape)
    g.ops.insert(at, _new(kind, inputs, [out], attrs, op.name))
    return out


def _new(op, inputs, outputs, attrs, name):
    from hyperion_host.model.ir import Op

    return Op(op, inputs, outputs, attrs, name)
