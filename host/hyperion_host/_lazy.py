"""Package APIs that import their modules on first use, so `import hyperion_host.x` stays cheap (the CLI starts
fast, and `serve` never loads onnx)."""

import importlib


def lazy_api(package, names):
    """A module __getattr__ for `package` that resolves each public name from the submodule `names` maps it to."""

    def __getattr__(name):
        mod = names.get(name)
        if mod is None:
            raise AttributeError("module %r has no attribute %r" % (package, name))
        return getattr(importlib.import_module(package + "." + mod), name)

    return __getattr__
