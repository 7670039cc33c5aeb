"""The layout's rules (ARCHITECTURE.md), checked on the source: no import cycles, nothing on the board imports
host code, host packages import only the layers below them, nothing below the CLI imports typer or rich, no
module over 600 lines, and every package is installed."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = {"hyperion": ROOT / "firmware" / "hyperion", "hyperion_host": ROOT / "host" / "hyperion_host"}
MAX_LINES = 600
LONG_FILES = {}  # path -> reason: a reviewed exception to MAX_LINES (none today)

# host layers, bottom up: a module may import its own layer and the ones listed for it (plus `hyperion`, the
# firmware package, which the host reuses)
BASE = {"hyperion_host", "hyperion_host.errors", "hyperion_host.paths", "hyperion_host.files", "hyperion_host._lazy",
        "hyperion_host.procs", "hyperion_host.keys", "hyperion_host.checks"}
CORE = {"hyperion_host.boards", "hyperion_host.firmware", "hyperion_host.mpbuild", "hyperion_host.natmod"}
ALLOWED = {
    "base": {"base"},
    "core": {"base", "core"},
    "model": {"base", "model"},
    "device": {"base", "core", "device"},
    "ship": {"base", "core", "model", "device", "ship"},
    "scale": {"base", "scale"},
    "relay": {"base", "core", "model", "device", "ship", "scale", "relay"},
    "cli": {"base", "core", "model", "device", "ship", "scale", "relay", "cli"},
}
# host packages the board can never have
HOST_ONLY = ("hyperion_host", "numpy", "onnx", "onnxruntime", "typer", "rich", "serial", "mpremote", "mcp", "esptool")


def modules():
    """{dotted name: path} of every module in the firmware package and the host package."""
    out = {}
    for top, root in TREES.items():
        for p in sorted(root.rglob("*.py")):
            rel = p.relative_to(root).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join((top,) + rel)] = p
    return out


MODS = modules()


def imports(name, path):
    """Every project module that `name` imports, at module level or inside functions."""
    is_pkg = path.name == "__init__.py"
    pkg = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = base + "." + a.name
                if sub in MODS:
                    found.add(sub)
                elif base != name:  # a package importing a submodule with no source (kernels/c.mpy, built from C)
                    found.add(base)
    return found


GRAPH = {name: imports(name, path) for name, path in MODS.items()}


def layer(name):
    if name in BASE:
        return "base"
    if name in CORE:
        return "core"
    return name.split(".")[1]


def test_no_import_cycles():
    # Tarjan's strongly connected components over project modules
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in MODS:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in GRAPH[v]:
                cycles.append(sorted(comp))

    for v in MODS:
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_board_never_imports_host_code():
    bad = ["%s imports %s" % (n, i) for n in GRAPH if n.split(".")[0] == "hyperion"
           for i in GRAPH[n] if i.split(".")[0] in HOST_ONLY]
    assert not bad, bad


def test_host_packages_import_only_the_layers_below():
    bad = []
    for n, deps in GRAPH.items():
        if not n.startswith("hyperion_host") or n == "hyperion_host.__main__":
            continue
        for d in deps:
            if d.startswith("hyperion_host") and layer(d) not in ALLOWED[layer(n)]:
                bad.append("%s (%s) imports %s (%s)" % (n, layer(n), d, layer(d)))
    assert not bad, bad


def test_nothing_below_the_cli_imports_typer_or_rich():
    bad = ["%s imports %s" % (n, d) for n, deps in GRAPH.items() if n.startswith("hyperion_host") and layer(n) != "cli"
           for d in deps if d.split(".")[0] in ("typer", "rich")]
    assert not bad, bad


def test_no_module_over_600_lines():
    long = {}
    for p in ROOT.glob("**/*.py"):
        rel = p.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "build/", "bench/")) or "/." in "/" + rel:
            continue
        n = len(p.read_text().splitlines())
        if n > MAX_LINES and rel not in LONG_FILES:
            long[rel] = n
    assert not long, "modules over %d lines (split them by concern): %s" % (MAX_LINES, long)


def test_every_package_is_installed():
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"([a-z_.]+)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    packages = {n for n, p in MODS.items() if p.name == "__init__.py"}
    assert packages == listed, "pyproject.toml [tool.setuptools] packages: missing %s, stale %s" % (
        sorted(packages - listed), sorted(listed - packages))


@pytest.mark.parametrize("pkg", sorted(n for n, p in MODS.items() if p.name == "__init__.py" and n != "hyperion"
                                       and n.startswith("hyperion_host")))
def test_each_host_package_states_its_api(pkg):
    """A docstring that says what the package owns; its lazy public names resolve."""
    import importlib

    mod = importlib.import_module(pkg)
    assert (mod.__doc__ or "").strip(), pkg + " has no docstring"
    for name in getattr(mod, "__all__", ()):
        assert getattr(mod, name) is not None
