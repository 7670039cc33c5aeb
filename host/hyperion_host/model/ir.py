"""The graph IR between ONNX and .hyq: values (static shapes, maybe constant) and runtime ops.

Ops use the runtime op set of firmware/hyperion/hyq.py (`linear`, `conv`, `act`, ...), with attributes as a
dict. Passes rewrite the graph in place; `topo_check` keeps them honest."""

import numpy as np


class Value:
    def __init__(self, name, shape, const=None):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.const = const

    def numel(self):
        return int(np.prod(self.shape)) if self.shape else 1

    def __repr__(self):
        return "Value(%s, %s%s)" % (self.name, self.shape, ", const" if self.const is not None else "")


class Op:
    def __init__(self, op, inputs, outputs, attrs=None, name=""):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.attrs = dict(attrs or {})
        self.name = name

    def __repr__(self):
        return "Op(%s %s: %s -> %s %s)" % (self.op, self.name, self.inputs, self.outputs, self.attrs)


class Graph:
    def __init__(self):
        self.values = {}
        self.ops = []
        self.inputs = []
        self.outputs = []
        self.meta = {}

    def add_value(self, name, shape, const=None):
        v = Value(name, shape, const)
        self.values[name] = v
        return v

    def add_const(self, name, array):
        array = np.asarray(array)
        base, i = name, 0
        while name in self.values:
            i += 1
            name = "%s_%d" % (base, i)
        return self.add_value(name, array.shape, array)

    def is_const(self, name):
        return self.values[name].const is not None

    def consumers(self, name):
        return [op for op in self.ops if name in op.inputs]

    def producer(self, name):
        for op in self.ops:
            if name in op.outputs:
                return op
        return None

    def replace_uses(self, old, new):
        for op in self.ops:
            op.inputs = [new if n == old else n for n in op.inputs]
        self.outputs = [new if n == old else n for n in self.outputs]

    def remove_unused(self):
        """Drop ops whose outputs nobody needs, and values nobody refers to."""
        changed = True
        while changed:
            used = set(self.outputs)
            for op in self.ops:
                used.update(op.inputs)
            keep = [op for op in self.ops if any(o in used for o in op.outputs)]
            changed = len(keep) != len(self.ops)
            self.ops = keep
        used = set(self.inputs) | set(self.outputs)
        for op in self.ops:
            used.update(op.inputs)
            used.update(op.outputs)
        self.values = {k: v for k, v in self.values.items() if k in used}

    def topo_check(self):
        seen = set(self.inputs) | {n for n, v in self.values.items() if v.const is not None}
        for op in self.ops:
            for n in op.inputs:
                assert n in seen, "op %s reads %s before it is produced" % (op, n)
            seen.update(op.outputs)
        for n in self.outputs:
            assert n in seen, n
