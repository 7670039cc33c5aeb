"""`build`, `deploy`, `status`, `rollback`, `flash`, `uf2` and `fleet`: getting Hyperion onto boards."""

import json
from pathlib import Path

import typer

from hyperion_host.console import make_console

out = make_console()
err = make_console(stderr=True)
PortOpt = typer.Option(None, "--port", "-p", help="Device path or vboard name (default: $HYPERION_PORT or the only one).")


def build(
    board: str = typer.Option(..., "--board", "-b", help="Board name (see `hyperion-host boards`)."),
    model: list[Path] | None = typer.Option(None, "--model", "-m", help="A .hyq model to include (repeatable)."),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Bundle directory to write."),
    arch: str | None = typer.Option(None, "--arch", help="Override the board's arch (a vboard of it runs x64)."),
    romfs: bool = typer.Option(False, "--romfs", help="Also write romfs.img (firmware and models, for vfs.VfsRom)."),
    firmware_recipe: bool = typer.Option(False, "--firmware-recipe", help="Also write a frozen-firmware recipe."),
    version: str | None = typer.Option(None, "--version", help="Bundle version (default: Hyperion's)."),
):
    """Build a bundle for a board: firmware .mpy for its arch, models, manifest (sha256), mip package."""
    from hyperion_host.bundle import build_bundle

    m = build_bundle(board, [str(p) for p in model or ()], out_dir, arch=arch, romfs=romfs, recipe=firmware_recipe,
                     version=version)
    size = sum(f["size"] for f in m["files"])
    out.print("bundle %s: board %s, arch %s, %d files, %d bytes, id %s" % (out_dir, m["board"], m["arch"],
                                                                           len(m["files"]), size, m["id"]),
              highlight=False)


def deploy(bundle: Path | None = typer.Argument(None, help="Bundle directory (default: build one for the board)."),
           port: str | None = PortOpt,
           model: list[Path] | None = typer.Option(None, "--model", "-m", help="Models, when building on the fly.")):
    """Install a bundle on a board: changed files only, into the inactive slot, health-checked, then switched."""
    from hyperion_host import deploy as dep

    if bundle is None:
        bundle = _bundle_for_port(port, model or ())
    res = dep.deploy(port, str(bundle), progress=lambda p: err.print("  wrote " + p, highlight=False))
    if not res["changed"]:
        out.print("%s already runs bundle %s (version %s, slot %s): nothing to do" % (
            res["port"], bundle, res["version"], res["slot"]), highlight=False)
        return
    out.print("%s: slot %s now active (was %s); %d files sent, %d copied on the board, %d unchanged; health %s; "
              "%.1f s" % (res["port"], res["slot"], res["previous"] or "none", res["copied"], res["copied_on_board"],
                          res["skipped"], ", ".join("%s %s" % kv for kv in res["health"].items()) or "ok",
                          res["seconds"]), highlight=False)


def _bundle_for_port(port, models):
    """Build (cached) a bundle matching the board's arch."""
    import hashlib

    from hyperion_host.bundle import build_bundle
    from hyperion_host.device import Board, resolve_port
    from hyperion_host.paths import home
    from hyperion_host.vboard import manager

    dev = resolve_port(port)
    with Board(dev, soft_reset=False) as b:
        arch = b.identify()["arch"]
    vb = [v for v in manager.running() if v.port == dev]
    board = vb[0].config().get("board", "unix") if vb else {"x64": "unix", "armv6m": "rp2040", "armv7emsp": "rp2350",
                                                            "xtensawin": "esp32s3", "rv32imc": "esp32c3"}.get(arch, "unix")
    key = hashlib.sha256(("%s %s " % (board, arch) + " ".join(
        hashlib.sha256(Path(m).read_bytes()).hexdigest() for m in models)).encode()).hexdigest()[:12]
    out_dir = home() / "cache" / ("bundle-%s-%s-%s" % (board, arch, key))
    build_bundle(board, [str(m) for m in models], out_dir, arch=arch)
    return out_dir


def status(port: str | None = PortOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show the deployed bundle, its version and slot."""
    from hyperion_host import deploy as dep

    st = dep.status(port)
    if as_json:
        print(json.dumps(st, indent=2))
        return
    out.print("%s: arch %s, active slot %s, version %s, bundle %s" % (st["port"], st["arch"], st["active"],
                                                                        st["version"], st["bundle"]), highlight=False)


def rollback(port: str | None = PortOpt):
    """Switch the board back to its previous slot."""
    from hyperion_host import deploy as dep

    r = dep.rollback(port)
    out.print("%s: rolled back to slot %s (version %s)" % (r["port"], r["slot"], r["version"]), highlight=False)


def register(app):
    app.command()(build)
    app.command()(deploy)
    app.command()(status)
    app.command()(rollback)
