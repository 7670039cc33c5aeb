# Hyperion on the board: 4-bit neural-network inference for MicroPython.
# This package is also importable by CPython: the host toolchain imports it
# rather than keeping a second copy of the same logic.
#
# The facade: load, config, configure, info, kernel_status, __version__ here; arch, arch_from_mpy, ARCH_NAMES
# (from kernels), OutOfMemory (errors), Runtime and RemoteUnavailable (hybrid) imported on first use, so that
# `import hyperion` stays small. Submodules do not import this one, except those that call its load/config
# (hybrid, remote, picol.board); it imports those only by name, on first use (docs/runtime.md, "Modules").
import sys

__version__ = "0.1.0"


def info():
    """Version, arch and heap figures of this board, as a dict."""
    from hyperion import kernels

    d = {"version": __version__, "arch": kernels.arch(), "implementation": sys.implementation.name}
    paths, notice = kernels.available()
    if notice:
        d["kernel_notice"] = notice
    d["kernels"] = paths
    try:
        import gc

        import micropython

        gc.collect()
        d["mem_free"] = gc.mem_free()
        d["mem_alloc"] = gc.mem_alloc()
        if hasattr(micropython, "mem_peak"):
            d["mem_peak"] = micropython.mem_peak()
    except (ImportError, AttributeError):
        pass  # CPython: no GC heap figures
    return d


def __getattr__(name):
    # Names defined in submodules, imported only when used: hyperion.Runtime and hyperion.RemoteUnavailable
    # (the MCP client), OutOfMemory, the arch table. MicroPython's `from hyperion import sub` asks this function
    # first, so submodules are imported here too.
    if name in ("Runtime", "RemoteUnavailable"):
        sub = "hybrid"
    elif name == "OutOfMemory":
        sub = "errors"
    elif name in ("ARCH_NAMES", "arch", "arch_from_mpy"):
        sub = "kernels"
    elif not name.startswith("__"):
        try:
            __import__("hyperion." + name)
        except ImportError:
            raise AttributeError(name) from None
        return sys.modules["hyperion." + name]
    else:
        raise AttributeError(name)
    __import__("hyperion." + sub)
    return getattr(sys.modules["hyperion." + sub], name)


# -- configuration: /hyperion.json on the board, overridden by configure(**kw) ----------------------------
CONFIG_PATH = "/hyperion.json"
_DEFAULTS = {"kernels": "auto", "model_dirs": ["/rom/models", "/models", ""], "mode": "auto", "remote": None}
_CHOICES = {"kernels": ("auto", "c", "viper", "python", "ulab"), "mode": ("auto", "rom", "stream")}
_config = None


def _check(key, value, where):
    if key not in _DEFAULTS:
        raise ValueError("%s: unknown key '%s' (known: %s)" % (where, key, ", ".join(sorted(_DEFAULTS))))
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ValueError("%s: '%s' must be one of %s, not %r" % (where, key, ", ".join(_CHOICES[key]), value))
    if key == "model_dirs" and not (isinstance(value, list) and all(isinstance(d, str) for d in value)):
        raise ValueError("%s: 'model_dirs' must be a list of directory names" % where)
    if key == "remote" and value is not None and not (isinstance(value, dict) and isinstance(value.get("url"), str)):
        raise ValueError("%s: 'remote' must be an object with a 'url' string" % where)


def config():
    """The effective configuration (defaults, then /hyperion.json, then configure())."""
    global _config
    if _config is None:
        cfg = dict(_DEFAULTS)
        try:
            f = open(CONFIG_PATH)
        except OSError:
            f = None
        if f is not None:
            import json

            try:
                data = json.load(f)
            except ValueError:
                raise ValueError("%s is not valid JSON; fix or delete it" % CONFIG_PATH)
            finally:
                f.close()
            if not isinstance(data, dict):
                raise ValueError("%s must hold a JSON object" % CONFIG_PATH)
            for k in data:
                _check(k, data[k], CONFIG_PATH)
                cfg[k] = data[k]
        _config = cfg
    return _config


def configure(**kw):
    """Override configuration keys at run time, e.g. configure(kernels="python")."""
    cfg = config()
    for k in kw:
        _check(k, kw[k], "configure()")
    cfg.update(kw)
    return cfg


def _slot_models():
    """The models directory of the slot this package was imported from (an A/B slot of hyperion-host deploy, or
    the dev slot of infer --port and script run), if any."""
    f = __file__
    i = f.find("/hyperion-ab/")
    j = f.find("/", i + 13) if i >= 0 else -1
    return f[:j] + "/models" if j >= 0 else None


def _find(name):
    import os

    if "/" in name or name.endswith(".hyq"):
        return name
    dirs = list(config()["model_dirs"])
    slot = _slot_models()
    if slot:
        dirs.insert(0, slot)
    for d in dirs:
        p = (d + "/" if d else "") + name + ".hyq"
        try:
            os.stat(p)
            return p
        except OSError:
            pass
    raise OSError("model '%s' not found in %s" % (name, ", ".join(d or "." for d in dirs)))


def kernel_status():
    """(path, notice): which kernels this board can run, and why not native when it cannot."""
    from hyperion import kernels

    return kernels.status()


def load(path_or_name, kernels=None, mode=None, verify=True, key=None):
    """Load a .hyq model by path, or by name from the slot's models, /rom/models, /models or the current
    directory.
    kernels: 'auto' (native when possible), 'viper' or 'python'; mode: 'auto', 'rom' (in place) or 'stream';
    key: an encrypted model's key (32 bytes; by default the board's key folder, /hyperion-keys, has it)."""
    import gc

    from hyperion import model
    from hyperion.errors import OutOfMemory
    from hyperion.kernels import select

    cfg = config()
    kernels = kernels or cfg["kernels"]
    mode = mode or cfg["mode"]
    _check("kernels", kernels, "load()")
    _check("mode", mode, "load()")
    path = _find(path_or_name)
    gc.collect()
    free = gc.mem_free() if hasattr(gc, "mem_free") else 0
    try:
        k, notice = select(kernels)
        if notice:
            print("hyperion: " + notice)
        return model.Model(path, kernels=k, mode=mode, verify=verify, key=key)
    except MemoryError as e:
        if isinstance(e, OutOfMemory):
            raise
        gc.collect()
        raise OutOfMemory("loading " + path, _model_need(path), free) from None


def _model_need(path):
    try:
        from hyperion import hyq

        with open(path, "rb") as f:
            m = hyq.Model(f, False, decrypt=False)
            # arenas, the weight buffer, and the parsed tables (objects take several times their file bytes)
            return m.arena_size + m.arena8_size + m.scratch_size + 8 * m.table_size
    except Exception:
        return 0
