"""`hyperion-host check MODEL.onnx`: what Hyperion would make of an ONNX model, without writing anything (here in
ship/ because it weighs the model against the boards).

- every ONNX node: runs on the board (and as what), folds away at quantize time, or is refused (with the nearest
  rewrite); a node that is refused stops the import, and the first such error is reported as it would be;
- the runtime ops after import, with each op's input and output type (float or int8): with --calib, tensors
  between integer layers are int8, and the boundaries are where the type changes;
- the estimated flash (the .hyq) and RAM (arenas, work buffers, constants) on each board of boards/."""

import tempfile
from pathlib import Path

from hyperion_host.errors import HyperionError
from hyperion_host.model import onnx_import, opset, sklearn_import

# RAM the runtime takes besides the model on a frozen firmware (measured: `hyperion-host profile --frozen`
# import figures are under 1 KB; the loader's own buffers are estimated per model below)
RUNTIME_RAM = 2048


def _node_rows(model):
    """[(node name, ONNX op, where, what it becomes or why not)] for every node of the (plain ONNX) model."""
    rows = []
    for n in model.graph.node:
        name = n.name or (n.output[0] if n.output else "?")
        if n.domain not in ("", "ai.onnx"):
            rows.append((name, n.op_type, "refused", "domain %s; %s" % (n.domain, opset.describe_unsupported(
                n.op_type, False))))
        elif n.op_type in opset.BOARD:
            rows.append((name, n.op_type, "board", opset.BOARD[n.op_type][0]))
        elif n.op_type in opset.FOLDED:
            rows.append((name, n.op_type, "folds", "computed at quantize time when its inputs are constant"))
        else:
            rows.append((name, n.op_type, "refused", opset.describe_unsupported(n.op_type, False)))
    return rows


def _ram_estimate(prog, m):
    """Bytes of heap the loaded model takes (the loader's buffers; weights stay in flash when mapped)."""
    from hyperion import hyq

    consts = sum(t.nbytes for t in m.tensors if t.kind in (hyq.K_F32, hyq.K_I32) and t.nbytes <= 8192)
    rows = max([t.shape[1] for t in m.tensors if t.kind in (hyq.K_Q4, hyq.K_Q8)] or [0])
    return m.arena_size + m.arena8_size + consts + 8 * rows + 8 * m.table_size + RUNTIME_RAM


def check(path, input_shapes=None, calib=None):
    """The report as a dict (see the module doc); raises HyperionError only for a file that is not ONNX."""
    from hyperion_host.boards import all_boards
    from hyperion_host.model.hyqfile import load_program, open_hyq
    from hyperion_host.model.quantize import Options, quantize_model

    model, meta = sklearn_import.rewrite(onnx_import.load(str(path)))
    report = {"model": str(path), "nodes": [dict(zip(("name", "op", "where", "becomes"), r)) for r in
                                             _node_rows(model)], "error": None, "ops": [], "boards": [],
              "boundaries": [], "labels": meta.get("labels")}
    try:
        blob, q = quantize_model(str(path), Options(calib=str(calib) if calib else None, input_shapes=input_shapes))
    except HyperionError as e:
        report["error"] = str(e)
        return report
    with tempfile.TemporaryDirectory(prefix="hyperion-check-") as d:
        f = Path(d) / "m.hyq"
        f.write_bytes(blob)
        prog, _ = load_program(str(f))
        m = open_hyq(str(f))
        ram = _ram_estimate(prog, m)
    dtype = {n: ("int8" if prog.dtypes.get(n) == "i8" else "float") for n in prog.shapes}
    for n in prog.inputs:
        if dtype[n] == "int8":
            report["boundaries"].append("input %s: float given, int8 stored (Model.set_input quantizes it with its "
                                        "static scale; set_input_q takes bytes already quantized)" % n)
    for op, ins, outs, attrs in prog.ops:
        acts = [n for n in ins if n not in prog.consts]
        report["ops"].append({"op": op, "name": attrs.get("_name", ""), "in": [dtype[n] for n in acts],
                              "out": [dtype[n] for n in outs], "act": attrs.get("act", "")})
        for n in acts:
            if dtype[n] != dtype[outs[0]]:
                report["boundaries"].append("%s (%s): %s in, %s out" % (attrs.get("_name", "") or op, op, dtype[n],
                                                                        dtype[outs[0]]))
                break
    report.update(file_bytes=len(blob), ram_bytes=ram, weights=q["weights"], bpw=q["bpw"],
                  calibrated=bool(calib))
    for b in all_boards().values():
        if not b.get("flash_size"):  # the unix port: no flash to fit
            continue
        rom = b.get("romfs") or {}  # the ROMFS area where the board has one, else its filesystem
        area = rom.get("size") if rom.get("supported") and rom.get("size") else b.get("fs_size") or b["flash_size"] // 2
        report["boards"].append({"board": b["name"], "flash_fits": len(blob) <= area, "flash_area": area,
                                 "ram_fits": ram <= b["vboard_heap"], "heap": b["vboard_heap"]})
    return report
