"""The .hyq writer (host only) and the loader that turns a file into a numpy Program.

The loader reads the file's structure with the firmware reader (hyperion.hyq), the one reader there is; it
only adds numpy decoding of the tensor bytes."""

import binascii
import json
import struct

import numpy as np

from hyperion import hyq, hyqcheck
from hyperion_host.errors import HyperionError
from hyperion_host.model.plan import plan_arena
from hyperion_host.model.reference import Program
from hyperion_host.model.weights import CSRWeight, QuantizedWeight

ALIGN = 4
ACT_CODES = {n: i for i, n in enumerate(hyq.ACT_NAMES)}


# -- memory planning -----------------------------------------------------------------------------------


# -- writing -------------------------------------------------------------------------------------------

class _Tensors:
    def __init__(self):
        self.index = {}
        self.entries = []  # [kind, dtype, shape, qparam, offset, nbytes, crc, extra, scale, data]

    def add(self, name, kind, shape, data=b"", qparam=0, extra=0, scale=0.0, dtype=0):
        if name in self.index:
            return self.index[name]
        if len(shape) > 4:
            raise HyperionError("tensor %s has rank %d; the .hyq format holds rank 4 at most" % (name, len(shape)))
        self.index[name] = len(self.entries)
        self.entries.append([kind, dtype, tuple(int(d) for d in shape), qparam, 0, len(data), 0, extra, scale, data])
        return self.index[name]


def _weight_entry(tt, name, w, shape):
    if isinstance(w, QuantizedWeight):
        kind = hyq.K_Q8 if w.scheme == hyq.S_Q8 else hyq.K_Q4
        return tt.add(name, kind, (w.rows, w.cols), w.to_bytes(), qparam=w.qparam, extra=len(shape))
    if isinstance(w, CSRWeight):
        return tt.add(name, hyq.K_CSR4, (w.rows, w.cols), w.to_bytes(), extra=w.nnz)
    a = np.ascontiguousarray(w, np.float32)
    return tt.add(name, hyq.K_F32, a.shape, a.astype("<f4").tobytes())


# element-wise ops whose output may overwrite their full-size first input (y[i] is made from x[i] only)
IN_PLACE = ("act", "add", "sub", "mul", "div", "min", "max", "pow", "prelu")


def _aliases(prog):
    """name -> the name whose bytes it shares: a reshape's output (the same bytes), and an element-wise op's
    output written over its first input when nothing reads that input afterwards (a residual add, an activation:
    one tensor less in the arena)."""
    aliases = {}

    def root(n):
        while n in aliases:
            n = aliases[n]
        return n

    last = {}
    for i, (_, ins, _, _) in enumerate(prog.ops):
        for n in ins:
            last[n] = i
    keep = set(prog.inputs) | set(prog.outputs)
    for i, (op, ins, outs, attrs) in enumerate(prog.ops):
        if ins[0] in prog.consts:
            continue
        if op == "reshape":
            aliases[outs[0]] = ins[0]
            continue
        if op not in IN_PLACE or ins[1:2] == ins[:1]:
            continue
        r = root(ins[0])
        shares = [n for n in last if root(n) == r]
        if r in keep or any(n in keep for n in shares) or any(last[n] > i for n in shares) or \
                prog.dtypes.get(ins[0]) != prog.dtypes.get(outs[0]) or \
                int(np.prod(prog.shapes[ins[0]] or (1,))) != int(np.prod(prog.shapes[outs[0]] or (1,))):
            continue
        aliases[outs[0]] = ins[0]
    return aliases


def encode(prog):
    """Program (quantized weights in prog.consts) -> .hyq bytes."""
    tt = _Tensors()
    acts = {}
    aliases = _aliases(prog)
    act_names = list(prog.inputs)
    for op, ins, outs, attrs in prog.ops:
        for n in ins + outs:
            if n not in prog.consts and n not in act_names:
                act_names.append(n)
    # two arenas: float32 (4 bytes per element) and int8 (1 byte), each planned on its own
    is8 = {n: prog.dtypes.get(n) == "i8" for n in act_names}
    offsets, arena_sizes = {}, []
    for want8 in (False, True):
        names = [n for n in act_names if is8[n] == want8]
        sizes = {n: (1 if want8 else 4) * int(np.prod(prog.shapes[n] or (1,))) for n in names}
        off, size = plan_arena([(i, o) for _, i, o, _ in prog.ops], sizes, [n for n in prog.inputs if n in sizes],
                               [n for n in prog.outputs if n in sizes], {k: v for k, v in aliases.items() if k in sizes})
        offsets.update((n, (off[n], sizes[n])) for n in names)
        arena_sizes.append(size)
    arena, arena8 = arena_sizes
    for n in act_names:
        dtype = {"i32": hyq.D_I32, "i8": hyq.D_I8}.get(prog.dtypes.get(n), hyq.D_F32)
        acts[n] = tt.add(n, hyq.K_ACT, prog.shapes[n], scale=float(prog.scales.get(n, 0.0)), dtype=dtype)
        tt.entries[acts[n]][4], tt.entries[acts[n]][5] = offsets[n]
    nodes = []
    for op, ins, outs, attrs in prog.ops:
        ids = []
        for n in ins:
            if n in prog.consts:
                c = prog.consts[n]
                if isinstance(c, (QuantizedWeight, CSRWeight)) or (op in ("linear", "conv") and n == ins[1]):
                    ids.append(_weight_entry(tt, n, c, np.shape(c) if isinstance(c, np.ndarray) else (c.rows, c.cols)))
                elif np.asarray(c).dtype.kind in "iu":
                    a = np.ascontiguousarray(c, "<i4")
                    ids.append(tt.add(n, hyq.K_I32, a.shape, a.tobytes(), dtype=1))
                else:
                    a = np.ascontiguousarray(c, "<f4")
                    ids.append(tt.add(n, hyq.K_F32, a.shape, a.tobytes()))
            else:
                ids.append(acts[n])
        if op in ("linear", "conv"):
            rq = int(bool(attrs.get("rq")))
            attrs = dict(attrs, has_bias=int(len(ins) - rq > 2), rq=rq)
        nodes.append((op, ids, [acts[n] for n in outs], attrs))
    # data section: each tensor 4-aligned, with its CRC
    data = bytearray()
    for e in tt.entries:
        if e[0] == hyq.K_ACT:
            continue
        data.extend(b"\0" * (-len(data) % ALIGN))
        e[4] = len(data)
        e[6] = binascii.crc32(e[9])
        data.extend(e[9])
    # tables
    table = bytearray()
    table += struct.pack("<%dH" % len(prog.inputs), *[acts[n] for n in prog.inputs])
    table += struct.pack("<%dH" % len(prog.outputs), *[acts[n] for n in prog.outputs])
    table += b"\0" * (-len(table) % 4)
    for kind, dtype, shape, qp, off, nbytes, crc, extra, scale, _ in tt.entries:
        dims = list(shape) + [1] * (4 - len(shape))
        table += struct.pack(hyq.TENSOR_FMT, kind, dtype, len(shape), qp, *dims, off, nbytes, crc, extra, scale)
    for op, ins, outs, attrs in nodes:
        code = hyq.OP_INDEX[op]
        ia = _iattrs(op, code, attrs)
        fa = [float(attrs.get(k, 0.0)) for k in hyq.FATTRS[code]]
        table += struct.pack(hyq.NODE_FMT, code, len(ins), len(outs), len(ia), len(fa))
        table += struct.pack("<%dH" % (len(ins) + len(outs)), *(ins + outs))
        table += b"\0" * (-len(table) % 4)
        table += struct.pack("<%di" % len(ia), *ia) + struct.pack("<%df" % len(fa), *fa)
    meta = dict(prog.meta)
    meta["input_names"] = list(prog.inputs)
    meta["output_names"] = list(prog.outputs)
    meta.setdefault("node_names", [attrs.get("_name", "") for _, _, _, attrs in prog.ops])
    meta_bytes = json.dumps(meta, separators=(",", ":"), default=_json_default).encode()
    meta_bytes += b" " * (-len(meta_bytes) % ALIGN)
    data_offset = hyq.HEADER_SIZE + len(table) + len(meta_bytes)
    scratch = max([e[5] for e in tt.entries if e[0] != hyq.K_ACT] or [0])
    hdr = struct.pack(hyq.HEADER_FMT, hyq.MAGIC, hyq.VERSION, 0, len(prog.inputs), len(prog.outputs),
                      len(tt.entries), len(nodes), len(table), arena, arena8, scratch, data_offset, len(data), 0)
    crc = binascii.crc32(hdr[: hyq.HEADER_CRC_AT])
    crc = binascii.crc32(bytes(table) + meta_bytes, crc)
    hdr = hdr[: hyq.HEADER_CRC_AT] + struct.pack("<I", crc)
    return bytes(hdr) + bytes(table) + meta_bytes + bytes(data)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _iattrs(op, code, attrs):
    layout = hyq.IATTRS[code]
    if layout is None:  # transpose: the permutation
        return [int(v) for v in attrs["perm"]]
    out = []
    for k in layout:
        v = attrs.get(k, 0)
        out.append(ACT_CODES[v] if isinstance(v, str) else int(v))
    return out


# -- loading ---------------------------------------------------------------------------------------------

def open_hyq(path, verify=True, key=None, decrypt=True):
    """Open a .hyq with the firmware reader; errors become one-line HyperionErrors. key: an encrypted model's
    (32 bytes); decrypt=False opens its tables only."""
    if key is None and decrypt and _encrypted(path):
        from hyperion_host.model.encrypt import model_key_id

        raise HyperionError("%s is encrypted with key %s: this needs its key file (--model-key)"
                            % (path, model_key_id(path)))
    try:
        m = hyq.open_model(path, verify, key, decrypt)
        if verify:
            try:
                hyqcheck.check(m)
            except BaseException:
                m.f.close()
                raise
        return m
    except OSError as e:
        raise HyperionError("cannot read %s: %s" % (path, e.strerror)) from None
    except (hyq.FormatError, struct.error) as e:
        raise HyperionError("%s: %s" % (path, e if str(e) else "corrupt file")) from None


def _encrypted(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[:4] == hyq.MAGIC and struct.unpack_from("<H", head, 6)[0] & hyq.F_ENCRYPTED


def decode_tensor(m, t):
    raw = m.read_tensor(t)
    if t.kind == hyq.K_F32:
        return np.frombuffer(raw, "<f4").reshape(t.shape).astype(np.float32)
    if t.kind == hyq.K_I32:
        return np.frombuffer(raw, "<i4").reshape(t.shape).astype(np.int64)
    if t.kind in (hyq.K_Q4, hyq.K_Q8):
        return QuantizedWeight.from_bytes(raw, t.shape[0], t.shape[1], t.qparam)
    if t.kind == hyq.K_CSR4:
        return CSRWeight.from_bytes(raw, t.shape[0], t.shape[1], t.extra)
    raise HyperionError("tensor %d has unknown kind %d" % (t.index, t.kind))


def load_program(path, verify=True, key=None):
    """A .hyq file -> Program for the host runtime, plus the reader's Model. key: an encrypted model's."""
    m = open_hyq(path, verify, key)
    try:
        try:
            meta = m.meta()
        except hyq.FormatError as e:
            raise HyperionError("%s: %s" % (path, e)) from None
        names = {}
        for key, ids in (("input_names", m.inputs), ("output_names", m.outputs)):
            given = meta.get(key)
            for k, i in enumerate(ids):  # the metadata's names where they are strings, one per tensor, unique
                v = given[k] if isinstance(given, list) and k < len(given) else None
                if isinstance(v, str) and v not in names.values() and not (v[:1] == "t" and v[1:].isdigit()):
                    names[i] = v
        name = lambda i: names.get(i, "t%d" % i)  # noqa: E731
        consts, shapes, scales, dtypes = {}, {}, {}, {}
        for t in m.tensors:
            shapes[name(t.index)] = t.shape
            if t.kind == hyq.K_ACT:
                if t.scale:
                    scales[name(t.index)] = t.scale
                if t.dtype in (hyq.D_I32, hyq.D_I8):
                    dtypes[name(t.index)] = "i32" if t.dtype == hyq.D_I32 else "i8"
            else:
                consts[name(t.index)] = decode_tensor(m, t)
        ops = []
        node_names = meta.get("node_names", [])
        for k, nd in enumerate(m.nodes):
            op = hyq.OPS[nd.op]
            attrs = _decode_attrs(nd)
            attrs["_name"] = node_names[k] if k < len(node_names) else ""
            ops.append((op, [name(i) for i in nd.inputs], [name(i) for i in nd.outputs], attrs))
        prog = Program(ops, consts, shapes, [name(i) for i in m.inputs], [name(i) for i in m.outputs], scales,
                       dtypes, meta)
        prog.arena_size = m.arena_size
        prog.arena8_size = m.arena8_size
        return prog, m
    finally:
        m.f.close()


def _decode_attrs(nd):
    layout = hyq.IATTRS[nd.op]
    if layout is None:
        return {"perm": list(nd.iattrs)}
    a = {}
    for k, v in zip(layout, nd.iattrs):
        a[k] = hyq.ACT_NAMES[v] if k == "act" else v
    for k, v in zip(hyq.FATTRS[nd.op], nd.fattrs):
        a[k] = v
    return a
