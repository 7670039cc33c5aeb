"""`hyperion-host eval`: accuracy, agreement and output SQNR of a .hyq against its float ONNX model."""

import numpy as np

from hyperion_host.errors import HyperionError
from hyperion_host.hyq_io import load_program
from hyperion_host.quant import sqnr_db
from hyperion_host.quantize import load_samples


def _labels(data, n):
    for k in ("y", "labels", "label"):
        if k in data.files:
            y = np.asarray(data[k]).reshape(-1)
            if len(y) < n:
                raise HyperionError("labels '%s' hold %d values for %d samples" % (k, len(y), n))
            return y[:n]
    return None


def evaluate_model(model_path, data_path, reference=None, limit=None):
    prog, _ = load_program(model_path)
    samples, data = load_samples(data_path, prog.inputs, prog.shapes, what="--data")
    if limit:
        samples = samples[:limit]
    if not samples:
        raise HyperionError("--data %s holds no samples" % data_path)
    labels = _labels(data, len(samples))
    sess = None
    if reference:
        import onnxruntime as ort

        from hyperion_host.onnx_import import load

        load(reference)  # one-line errors for a bad reference file
        sess = ort.InferenceSession(reference, providers=["CPUExecutionProvider"])
        ort_inputs = {i.name: i for i in sess.get_inputs()}
    first = prog.outputs[0]
    q_out, f_out = [], []
    for s in samples:
        try:
            q_out.append(np.asarray(prog.run(s)[first], np.float64).ravel())
        except ValueError as e:
            raise HyperionError(str(e)) from None
        if sess is not None:
            feeds = {}
            for k, v in s.items():
                t = ort_inputs[k].type
                feeds[k] = np.asarray(v, np.int64 if "int64" in t else (np.int32 if "int32" in t else np.float32))
                feeds[k] = feeds[k].reshape(prog.shapes[k])
            f_out.append(np.asarray(sess.run([first], feeds)[0], np.float64).ravel())
    res = {"samples": len(samples)}
    q = np.stack(q_out)
    if labels is not None:
        res["accuracy"] = float((q.argmax(1) == labels).mean())
    if f_out:
        f = np.stack(f_out)
        res["agreement"] = float((q.argmax(1) == f.argmax(1)).mean())
        res["output_sqnr_db"] = sqnr_db(f, q)
        if labels is not None:
            res["float_accuracy"] = float((f.argmax(1) == labels).mean())
    return res
