# The glue of the rarer ops (reduce, argmax, topk, pad), imported on first use (ops._more): a model that does not
# use them does not pay their bytecode in RAM.
from hyperion import hyq
from hyperion.layers import _copy, _outer_inner


def op_reduce(m, nd):
    kind, axis = nd.iattrs
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, axis)
    for o in range(outer):
        for j in range(inner):
            base = o * n * inner + j
            acc = x[base]
            for i in range(base + inner, base + n * inner, inner):
                v = x[i]
                if kind == 1:
                    if v > acc or v != v:
                        acc = v
                elif kind == 2:
                    if v < acc or v != v:
                        acc = v
                elif kind == 4:
                    acc *= v
                else:
                    acc += v
            y[o * inner + j] = acc / n if kind == 0 else acc


def _best(x, base, n, inner, largest, last):
    """The index (0..n-1) of the largest (or smallest) of x[base + i*inner]: the first of ties, or the last."""
    best = 0
    bv = x[base]
    for i in range(1, n):
        v = x[base + i * inner]
        if (v > bv if largest else v < bv) or (last and v == bv):
            best = i
            bv = v
    return best


def op_argmax(m, nd):
    axis, largest, last = nd.iattrs
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, axis)
    for o in range(outer):
        for j in range(inner):
            y[o * inner + j] = _best(x, o * n * inner + j, n, inner, largest, last)


def op_topk(m, nd):
    """The k largest (or smallest) along an axis, sorted, ties by the lower index: k passes of a selection that
    skips the indices already taken (k is small; no allocation beyond the outputs)."""
    axis, k, largest = nd.iattrs
    xt = m.h.tensors[nd.inputs[0]]
    x, vals, idx = m.view(nd.inputs[0]), m.view(nd.outputs[0]), m.view(nd.outputs[1])
    outer, n, inner = _outer_inner(xt.shape, axis)
    for o in range(outer):
        for j in range(inner):
            base = o * n * inner + j
            obase = o * k * inner + j
            for r in range(k):
                best = -1
                bv = 0.0
                for i in range(n):
                    v = x[base + i * inner]
                    if best >= 0 and not (v > bv if largest else v < bv):
                        continue
                    taken = False
                    for q in range(r):
                        if idx[obase + q * inner] == i:
                            taken = True
                            break
                    if not taken:
                        best = i
                        bv = v
                vals[obase + r * inner] = bv
                idx[obase + r * inner] = best


def op_pad(m, nd):
    """One axis padded: constant (the value), reflect (mirror without the edge), edge (repeat it) or wrap."""
    axis, before, after, mode = nd.iattrs
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, axis)
    no = n + before + after
    value = nd.fattrs[0]
    for o in range(outer):
        xb = o * n * inner
        yb = o * no * inner
        _copy(x, xb, y, yb + before * inner, n * inner)
        for p in range(no):
            if before <= p < before + n:
                continue
            i = p - before  # the source row, out of range here
            if mode == hyq.P_CONSTANT:
                for q in range(yb + p * inner, yb + (p + 1) * inner):
                    y[q] = value
                continue
            if mode == hyq.P_EDGE:
                i = 0 if i < 0 else n - 1
            elif mode == hyq.P_WRAP:
                i %= n
            else:  # reflect: period 2(n - 1)
                per = 2 * (n - 1)
                i = i % per if per else 0
                if i >= n:
                    i = per - i
            _copy(x, xb + i * inner, y, yb + p * inner, inner)
