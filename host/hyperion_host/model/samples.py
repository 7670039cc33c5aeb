"""Sample files (.npz/.npy) as feed dicts for a model's inputs: calibration, evaluation data and infer inputs."""

import numpy as np

from hyperion_host.errors import HyperionError


def load_samples(path, inputs, shapes, what="--calib"):
    """An .npz of samples -> list of feed dicts. Arrays are named after the inputs (one input: any name).
    Each array is (S, *input_shape) or, for a batch-1 input, (S, *input_shape[1:])."""
    try:
        data = np.load(path)
    except (OSError, ValueError, EOFError) as e:
        raise HyperionError("%s %s: cannot read it as .npz (%s)" % (what, path, str(e).splitlines()[0][:80])) from None
    if isinstance(data, np.ndarray):  # a plain .npy: the samples of the only input
        if len(inputs) != 1:
            raise HyperionError("%s %s is one array, but the model has %d inputs; use an .npz with arrays named %s"
                                % (what, path, len(inputs), ", ".join(inputs)))
        data = {inputs[0]: data}
        data = _NpzLike(data)
    arrays = {}
    for name in inputs:
        if name in data.files:
            arrays[name] = data[name]
        elif len(inputs) == 1:
            cand = [k for k in data.files if k not in ("y", "labels", "label")]
            if not cand:
                raise HyperionError("%s %s has no input array (found: %s)" % (what, path, ", ".join(data.files)))
            arrays[name] = data[cand[0]]
        else:
            raise HyperionError("%s %s has no array named '%s' (the model's inputs: %s)"
                                % (what, path, name, ", ".join(inputs)))
    n = None
    for name, a in arrays.items():
        want = tuple(shapes[name])
        if a.shape[1:] == want:
            per = a
        elif want[0] == 1 and a.shape[1:] == want[1:]:
            per = a[:, None]
        else:
            raise HyperionError("%s array '%s' has shape %s; expected (samples, %s) for input '%s' of shape %s"
                                % (what, name, tuple(a.shape), ", ".join(map(str, want[1:] if want[0] == 1 else want)),
                                   name, want))
        arrays[name] = per
        n = len(per) if n is None else min(n, len(per))
    return [{k: v[i] for k, v in arrays.items()} for i in range(n)], data


class _NpzLike(dict):
    @property
    def files(self):
        return list(self)


def load_inputs(path, prog):
    """The one sample of every input for `infer`: an .npy (one input) or an .npz of one sample."""
    p = str(path)
    if p.endswith(".npy"):
        try:
            a = np.load(p)
        except (OSError, ValueError, EOFError) as e:
            raise HyperionError("cannot read %s: %s" % (p, str(e).splitlines()[0][:100])) from None
        if len(prog.inputs) != 1:
            raise HyperionError("the model has %d inputs; give them as an .npz named %s"
                                % (len(prog.inputs), ", ".join(prog.inputs)))
        return {prog.inputs[0]: a}
    samples, _ = load_samples(p, prog.inputs, prog.shapes, what="--input")
    if len(samples) != 1:
        raise HyperionError("--input %s holds %d samples; infer takes one (use `eval` for a data set)" % (p, len(samples)))
    return samples[0]
