""".hyq format: every header field, alignment, CRCs, the arena plan, and the one reader on both Pythons."""

import binascii
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion import hyq
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.model.hyqfile import load_program, open_hyq
from hyperion_host.model.plan import plan_arena
from hyperion_host.model.quantize import Options, quantize_model

import onnx_examples as models


@pytest.fixture(scope="module")
def cnn_hyq(tmp_path_factory):
    d = tmp_path_factory.mktemp("hyq")
    blob, rep = quantize_model(models.cnn(d / "cnn.onnx"), Options(input_shapes=["x=1,1,8,8"]))
    path = d / "cnn.hyq"
    write_atomic(path, blob)
    return path, blob, rep


def test_header_fields(cnn_hyq):
    path, blob, _ = cnn_hyq
    (magic, version, flags, n_in, n_out, n_t, n_n, table_size, arena, arena8, scratch, data_off, data_size,
     crc) = struct.unpack_from(hyq.HEADER_FMT, blob)
    assert struct.calcsize(hyq.HEADER_FMT) == hyq.HEADER_SIZE == 48
    assert arena8 == 0  # no calibration: no int8 activations
    assert struct.calcsize(hyq.TENSOR_FMT) == hyq.TENSOR_SIZE
    assert struct.calcsize(hyq.NODE_FMT) == hyq.NODE_SIZE
    assert magic == b"HYQ1" and version == hyq.VERSION and flags == 0
    assert (n_in, n_out) == (1, 1)
    assert data_off % 4 == 0 and data_off + data_size == len(blob)
    assert data_off >= hyq.HEADER_SIZE + table_size
    m = open_hyq(path)
    assert len(m.tensors) == n_t and len(m.nodes) == n_n == 6
    assert m.arena_size == arena > 0
    assert scratch == max(t.nbytes for t in m.tensors if t.kind != hyq.K_ACT)
    # header CRC: bytes [0:44] then everything up to the data, excluding the CRC field itself
    assert crc == binascii.crc32(blob[hyq.HEADER_SIZE:data_off], binascii.crc32(blob[: hyq.HEADER_CRC_AT]))
    meta = m.meta()
    assert meta["input_names"] == ["x"] and meta["output_names"] == ["y"]
    assert meta["quant"]["bits"] == 4 and meta["quant"]["block"] == 32
    m.f.close()


def test_tensor_table_alignment_and_crcs(cnn_hyq):
    path, blob, _ = cnn_hyq
    m = open_hyq(path)
    kinds = [t.kind for t in m.tensors]
    assert hyq.K_Q4 in kinds and hyq.K_F32 in kinds and hyq.K_ACT in kinds
    for t in m.tensors:
        if t.kind == hyq.K_ACT:
            assert t.offset % 8 == 0 and t.offset + t.nbytes <= m.arena_size
            assert t.nbytes == 4 * t.size
            continue
        assert t.offset % 4 == 0
        raw = blob[m.data_offset + t.offset: m.data_offset + t.offset + t.nbytes]
        assert binascii.crc32(raw) == t.crc
        if t.kind == hyq.K_Q4:
            assert t.nbytes == t.shape[0] * hyq.q4_layout(t.shape[1], t.qparam)[4]
            assert hyq.block_size(t.qparam) == 32 and t.qparam >> 4 == hyq.S_ASYM
        if t.kind == hyq.K_F32:
            assert t.nbytes == 4 * t.size
    ops = [hyq.OPS[n.op] for n in m.nodes]
    assert ops == ["conv", "conv", "maxpool", "reshape", "linear"] or ops[:2] == ["conv", "conv"]
    conv = m.nodes[0]
    assert dict(zip(hyq.IATTRS[conv.op], conv.iattrs))["act"] == hyq.A_RELU
    m.f.close()


def test_reshape_shares_its_input_buffer(cnn_hyq):
    prog, m = load_program(str(cnn_hyq[0]))
    for n in m.nodes:
        if hyq.OPS[n.op] == "reshape":
            a, b = m.tensors[n.inputs[0]], m.tensors[n.outputs[0]]
            assert a.offset == b.offset and a.nbytes == b.nbytes


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:1000], "truncated"),
    (lambda b: b[: hyq.HEADER_SIZE + 10], "truncated"),
    (lambda b: b"XXXX" + b[4:], "bad magic"),
    (lambda b: b[:60] + bytes([b[60] ^ 0xFF]) + b[61:], "header CRC mismatch"),
    (lambda b: b[:-3] + bytes([b[-3] ^ 0x01]) + b[-2:], "CRC mismatch in tensor"),
    (lambda b: b[:4] + struct.pack("<H", 99) + b[6:], "unsupported .hyq version 99"),
])
def test_corrupt_files_fail_with_a_clear_message(cnn_hyq, tmp_path, damage, message):
    bad = tmp_path / "bad.hyq"
    bad.write_bytes(damage(cnn_hyq[1]))
    with pytest.raises(HyperionError, match=message):
        load_program(str(bad))


def test_reader_runs_on_micropython_and_agrees(cnn_hyq, micropython):
    path = cnn_hyq[0]
    code = (
        "from hyperion import hyq\n"
        "m = hyq.open_model(%r)\n"
        "print(m.arena_size, m.scratch_size, m.inputs, m.outputs)\n"
        "for t in m.tensors:\n"
        "    print(t.kind, t.shape, t.offset, t.nbytes, t.crc)\n"
        "for n in m.nodes:\n"
        "    print(hyq.OPS[n.op], list(n.inputs), list(n.outputs), list(n.iattrs))\n"
        "print(m.meta()['output_names'])\n" % str(path)
    )
    r = micropython(code, heap=128 * 1024)
    assert r.ok, r
    m = open_hyq(path)
    want = ["%d %d %s %s" % (m.arena_size, m.scratch_size, m.inputs, m.outputs)]
    want += ["%d %s %d %d %d" % (t.kind, t.shape if len(t.shape) != 1 else "(%d,)" % t.shape[0], t.offset, t.nbytes,
                                 t.crc) for t in m.tensors]
    want += ["%s %s %s %s" % (hyq.OPS[n.op], list(n.inputs), list(n.outputs), list(n.iattrs)) for n in m.nodes]
    want += ["['y']"]
    assert r.stdout.strip().splitlines() == want
    m.f.close()


def test_reader_does_not_hold_the_weights_on_micropython(tmp_path, micropython):
    """Opening and CRC-checking a model keeps only its tables on the heap: 16x the weights, same heap."""
    held = {}
    for k in (64, 1024):
        blob, _ = quantize_model(models.mlp(tmp_path / ("m%d.onnx" % k), k=k), Options())
        path = tmp_path / ("m%d.hyq" % k)
        write_atomic(path, blob)
        code = (
            "import gc\nfrom hyperion import hyq\ngc.collect()\na = gc.mem_alloc()\n"
            "m = hyq.open_model(%r)\ngc.collect()\nprint(gc.mem_alloc() - a)\n" % str(path)
        )
        r = micropython(code, heap=256 * 1024)
        assert r.ok, r
        held[len(blob)] = int(r.stdout.strip())
    (small, h_small), (big, h_big) = sorted(held.items())
    assert big > 8 * small
    # (what stays is the tables, and the qstrs of the structure check's names, interned once per interpreter)
    assert h_big <= h_small + 64 and h_big < 8192, held


def test_micropython_reader_rejects_a_corrupt_file(cnn_hyq, tmp_path, micropython):
    blob = bytearray(cnn_hyq[1])
    blob[-7] ^= 0x40
    bad = tmp_path / "bad.hyq"
    bad.write_bytes(bytes(blob))
    r = micropython("from hyperion import hyq\ntry:\n hyq.open_model(%r)\nexcept hyq.FormatError as e:\n print(e)" % str(bad))
    assert r.stdout.strip().startswith("CRC mismatch in tensor")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4096), st.integers(0, 5)), min_size=1, max_size=14))
def test_arena_plan_never_overlaps_live_buffers(spec):
    """Random chains with skip connections: buffers alive at the same time never share bytes."""
    ops, sizes, names = [], {"in": 64}, ["in"]
    for i, (size, back) in enumerate(spec):
        out = "t%d" % i
        ins = [names[-1]] + ([names[max(0, len(names) - 1 - back)]] if back else [])
        ops.append((ins, [out]))
        sizes[out] = size
        names.append(out)
    offsets, arena = plan_arena(ops, sizes, ["in"], [names[-1]], {})
    live = {}
    for n in names:
        first = -1 if n == "in" else names.index(n) - 1
        last = max([i for i, (ins, _) in enumerate(ops) if n in ins] + [first])
        if n in (names[-1], "in"):  # outputs and inputs live to the end (run() can be repeated)
            last = len(ops)
        live[n] = (first, last)
    for a in names:
        for b in names:
            if a < b and not (live[a][1] < live[b][0] or live[b][1] < live[a][0]):
                sa, sb = (offsets[a], offsets[a] + sizes[a]), (offsets[b], offsets[b] + sizes[b])
                assert sa[1] <= sb[0] or sb[1] <= sa[0], (a, b, offsets, sizes, live)
    assert arena <= sum((s + 7) // 8 * 8 for s in sizes.values())
    assert arena >= max(sizes.values())


def test_planner_reuses_memory_on_a_chain():
    ops = [(["in"], ["a"]), (["a"], ["b"]), (["b"], ["c"]), (["c"], ["d"])]
    sizes = {"in": 1000, "a": 1000, "b": 1000, "c": 1000, "d": 1000}
    _, arena = plan_arena(ops, sizes, ["in"], ["d"], {})
    assert arena == 3000  # the input, plus a ping-pong between two buffers


def test_meta_is_json_and_covered_by_the_header_crc(cnn_hyq):
    path, blob, _ = cnn_hyq
    m = open_hyq(path)
    raw = blob[m.meta_offset: m.data_offset]
    assert json.loads(raw)["output_names"] == ["y"]
    m.f.close()
    i = m.meta_offset + 2
    bad = blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1:]
    path.with_name("meta.hyq").write_bytes(bad)
    with pytest.raises(HyperionError, match="header CRC"):
        open_hyq(str(path.with_name("meta.hyq")))


def test_quantized_program_matches_the_integer_formula(cnn_hyq):
    """The host runtime's int path equals s * sum_k w_deq[k] * xq[k] (the arithmetic the format defines)."""
    from hyperion_host.model.reference import int_accumulators, quantize_rows

    prog, _ = load_program(str(cnn_hyq[0]))
    w = [c for c in prog.consts.values() if hasattr(c, "block") and c.cols == 128][0]
    x = np.random.default_rng(0).standard_normal((3, 128)).astype(np.float32)
    xq, s = quantize_rows(x, hyq.Q_DYNAMIC)
    A1, A2 = int_accumulators(w, xq)
    y = s[:, None] * (w.d * A1 - w.dmin * A2)
    ref = s[:, None] * (xq @ w.dequantize().T.astype(np.float64))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert A1.dtype == np.int64 and np.abs(A1).max() < 2**31


def test_an_avgpool_written_before_dilations_still_loads(tmp_path, monkeypatch):
    """Files from before avgpool gained its dh, dw attributes (9 integers, not 11) load and run as before."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    g = h.make_graph([h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], name="pool")],
                     "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 4, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 2, 2, 2])])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(tmp_path / "p.onnx"))
    code = hyq.OP_INDEX["avgpool"]
    old = list(hyq.IATTRS)
    old[code] = hyq.IATTRS[code][:-2]  # the layout files were written with
    monkeypatch.setattr(hyq, "IATTRS", tuple(old))
    blob, _ = quantize_model(str(tmp_path / "p.onnx"), Options(act="float"))
    monkeypatch.undo()
    write_atomic(tmp_path / "old.hyq", blob)
    m = open_hyq(str(tmp_path / "old.hyq"))
    assert len(m.nodes[0].iattrs) == 9
    prog, _ = load_program(str(tmp_path / "old.hyq"))
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    np.testing.assert_allclose(prog.run({prog.inputs[0]: x})[prog.outputs[0]], x.reshape(1, 2, 2, 2, 2, 2).mean((3, 5)))
