"""`hyperion-host eval`: accuracy (or perplexity for a language model), agreement and output SQNR of a .hyq against
its float ONNX model."""

import numpy as np

from hyperion_host.errors import HyperionError
from hyperion_host.model.fit import sqnr_db
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.samples import load_samples


def _labels(data, n):
    for k in ("y", "labels", "label"):
        if k in data.files:
            y = np.asarray(data[k]).reshape(-1)
            if len(y) < n:
                raise HyperionError("labels '%s' hold %d values for %d samples" % (k, len(y), n))
            return y[:n]
    return None


def _targets(data, n, shape):
    """Next-token targets of a language model's windows ('targets', [N, T]), or None."""
    if "targets" not in data.files:
        return None
    y = np.asarray(data["targets"])
    if len(shape) != 3 or y.ndim != 2 or y.shape[1] != shape[1] or len(y) < n:
        raise HyperionError("'targets' must be [N, T] next-token ids for a model with logits [1, T, V]; got %s for "
                            "logits %s" % (list(y.shape), list(shape)))
    return y[:n]


def perplexity(logits, targets):
    """exp(mean negative log-likelihood) of targets under logits [..., V]."""
    z = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(np.exp(-logp[np.arange(len(z)), targets.reshape(-1)].mean()))


def evaluate_model(model_path, data_path, reference=None, limit=None, key=None):
    prog, _ = load_program(model_path, key=key)
    samples, data = load_samples(data_path, prog.inputs, prog.shapes, what="--data")
    if limit:
        samples = samples[:limit]
    if not samples:
        raise HyperionError("--data %s holds no samples" % data_path)
    first = prog.outputs[0]
    targets = _targets(data, len(samples), prog.shapes[first])
    labels = None if targets is not None else _labels(data, len(samples))
    sess = None
    if reference:
        import onnxruntime as ort

        from hyperion_host.model.onnx_import import load

        load(reference)  # one-line errors for a bad reference file
        sess = ort.InferenceSession(reference, providers=["CPUExecutionProvider"])
        ort_inputs = {i.name: i for i in sess.get_inputs()}
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
    if targets is not None:
        V = prog.shapes[first][-1]
        res["perplexity"] = perplexity(q.reshape(len(q), -1, V), targets)
        if f_out:
            f = np.stack(f_out).reshape(len(q), -1, V)
            res["float_perplexity"] = perplexity(f, targets)
            res["perplexity_ratio"] = res["perplexity"] / res["float_perplexity"]
            res["next_token_agreement"] = float((q.reshape(f.shape).argmax(-1) == f.argmax(-1)).mean())
            res["output_sqnr_db"] = sqnr_db(f.reshape(len(q), -1), q)
        return res
    if labels is not None:
        res["accuracy"] = float((q.argmax(1) == labels).mean())
    if f_out:
        f = np.stack(f_out)
        res["agreement"] = float((q.argmax(1) == f.argmax(1)).mean())
        res["output_sqnr_db"] = sqnr_db(f, q)
        if labels is not None:
            res["float_accuracy"] = float((f.argmax(1) == labels).mean())
    return res
