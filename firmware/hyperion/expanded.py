# The kernel path's own form of q4 weights, made once when a model loads (Model calls expand_all): the ulab
# path's expansions (kernels/ulab_rows.py, expand) of the linear and conv weight tensors, in node order, while
# the path's budget allows. The glue (layers.py) uses m.expanded[tensor index] where there is one. Made at load,
# the expansions are long-lived blocks in one stretch of the heap, not scattered between a run's temporaries.
from hyperion import hyq, layers


def expand_all(m):
    """Fill m.expanded (tensor index -> expansion) where the kernel path has expand() (else it stays empty).
    Returns the bytes the expansions keep."""
    ex = getattr(m.k, "expand", None)
    if ex is None:
        return 0
    room = m.k.budget()
    used = 0
    for nd in m.h.nodes:
        name = hyq.OPS[nd.op]
        if name != "linear" and name != "conv":
            continue
        t = m.h.tensors[nd.inputs[1]]
        if t.kind != hyq.K_Q4 or t.index in m.expanded:
            continue
        E = _expand(m, ex, t, room - used)
        if E:
            m.expanded[t.index] = E
            used += 2 * (2 * E[0].size + (E[2].size if E[2] is not None else 0))
    return used


def _expand(m, ex, t, room):
    """t's expansion if it fits in room bytes, else None. A tensor streamed from the file is read whole for it
    (a quarter of what the expansion keeps), and its row scales decoded from that copy."""
    K = t.size // t.shape[0]
    nb, hdr, cb, _, stride = hyq.q4_layout(K, t.qparam)
    B = hyq.block_size(t.qparam)
    asym = (t.qparam >> 4) == hyq.S_ASYM
    if m.mapped is not None or t.nbytes <= len(m.wbuf):
        buf, off = m._weights(t)
        return ex(buf, off, stride, hdr, cb, nb, B, K, t.shape[0], asym, room)
    if 4 * t.nbytes > room:
        return None
    buf = bytearray(t.nbytes)
    m.h.read_at(t.offset, buf, t.nbytes)
    E = ex(buf, 0, stride, hdr, cb, nb, B, K, t.shape[0], asym, room)
    if E and t.index not in m.rowscales:
        m.rowscales[t.index] = layers._fill_scales(None, t, buf, 0, stride, 0, t.shape[0])
    return E
