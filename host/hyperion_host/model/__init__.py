"""Models on the host, one stage per module, in the order data flows:
onnx_import (ONNX -> ir.Graph) -> passes -> quantize (fit, weights, requant) -> plan -> hyqfile (.hyq bytes),
and back: hyqfile.load_program (.hyq -> Program, read with the firmware's reader) -> reference (numpy runtime)
-> evaluate / summary. May import: errors, files, paths, and the firmware package `hyperion` (hyq)."""

from hyperion_host._lazy import lazy_api

__getattr__ = lazy_api(__name__, {
    "import_onnx": "onnx_import", "Options": "quantize", "quantize_model": "quantize", "encode": "hyqfile",
    "load_program": "hyqfile", "Program": "reference", "evaluate_model": "evaluate", "model_summary": "summary",
    "load_samples": "samples",
})
__all__ = ["import_onnx", "Options", "quantize_model", "encode", "load_program", "Program", "evaluate_model",
           "model_summary", "load_samples"]
