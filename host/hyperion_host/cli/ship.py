"""`build`, `deploy`, `status`, `rollback`, `flash`, `uf2` and `fleet`: getting Hyperion onto boards."""

import json
from pathlib import Path

import typer
from rich.table import Table

from hyperion_host.cli.app import JsonOpt, PortOpt, err, notice, out, progress
from hyperion_host.errors import HyperionError
from hyperion_host.keys import read_key

ModelKeyOpt = typer.Option(None, "--model-key", help="Key file of encrypted models (repeatable): their self-tests "
                           "run on the host.")
SignKeyOpt = typer.Option(None, "--sign-key", help="Fleet key file: sign the bundle (manifest.sig).")


def build(
    board: str = typer.Option(..., "--board", "-b", help="Board name (see `hyperion-host boards`)."),
    model: list[Path] | None = typer.Option(None, "--model", "-m", help="A .hyq model to include (repeatable)."),
    out_dir: Path = typer.Option(..., "-o", "--out", help="Bundle directory to write."),
    arch: str | None = typer.Option(None, "--arch", help="Override the board's arch (a vboard of it runs x64)."),
    romfs: bool = typer.Option(False, "--romfs", help="Also write romfs.img (firmware and models, for vfs.VfsRom)."),
    firmware_recipe: bool = typer.Option(False, "--firmware-recipe", help="Also write a frozen-firmware recipe."),
    version: str | None = typer.Option(None, "--version", help="Bundle version (default: Hyperion's)."),
    model_key: list[Path] | None = ModelKeyOpt,
    sign_key: Path | None = SignKeyOpt,
    circuitpython: bool = typer.Option(False, "--circuitpython", help="A bundle for a CircuitPython board's "
                                       "CIRCUITPY drive: the firmware as .py source, the models and a code.py "
                                       "example (a CircuitPython board implies it; docs/circuitpython.md)."),
    as_json: bool = JsonOpt,
):
    """Build a bundle for a board: firmware .mpy for its arch, models, manifest (sha256), mip package; or, for a
    CircuitPython board, a CIRCUITPY drive's lib/, models/ and code.py."""
    from hyperion_host.boards import get_board
    from hyperion_host.ship.bundle import build_bundle

    b = get_board(board)
    if circuitpython or b["runtime"] == "circuitpython":
        _refuse_cp_options(b, circuitpython, {"--romfs": romfs, "--firmware-recipe": firmware_recipe, "--arch": arch,
                                              "--model-key": model_key, "--sign-key": sign_key})
        return _build_cp(b, model, out_dir, version, as_json)
    m = build_bundle(board, [str(p) for p in model or ()], out_dir, arch=arch, romfs=romfs, recipe=firmware_recipe,
                     version=version, log=notice, model_keys=[read_key(k) for k in model_key or ()],
                     sign_key=read_key(sign_key) if sign_key else None)
    size = sum(f["size"] for f in m["files"])
    if as_json:
        print(json.dumps({"bundle": str(out_dir), "board": m["board"], "arch": m["arch"], "version": m["version"],
                          "id": m["id"], "files": len(m["files"]), "bytes": size}))
        return
    out.print("bundle %s: board %s, arch %s, %d files, %d bytes, id %s" % (out_dir, m["board"], m["arch"],
                                                                           len(m["files"]), size, m["id"]),
              highlight=False)


# options that make no sense for a CircuitPython bundle, and why
_CP_REFUSED = {
    "--romfs": "CircuitPython has no ROMFS: the bundle is copied to the CIRCUITPY drive",
    "--firmware-recipe": "frozen firmware recipes are MicroPython's",
    "--arch": "a CircuitPython bundle is .py source, the same for every arch",
    "--model-key": "CircuitPython cannot decrypt models (no cryptolib, no C kernels): bundle plain models",
    "--sign-key": "a CIRCUITPY drive has no A/B slots that check signatures",
    "--rotate-from": "a CIRCUITPY drive has no A/B slots that check signatures",
}


def _refuse_cp_options(board, flag, given):
    from hyperion_host.ship.circuitpython import refuse_micropython_board

    if flag:
        refuse_micropython_board(board)
    for opt, value in given.items():
        if value:
            raise HyperionError("%s does not go with %s: %s" % (
                opt, "--circuitpython" if flag else "board %s (CircuitPython)" % board["name"], _CP_REFUSED[opt]))


def _build_cp(board, models, out_dir, version, as_json):
    from hyperion_host.ship.circuitpython import build_cp_bundle

    m = build_cp_bundle(board["name"], [str(p) for p in models or ()], out_dir, version=version, log=notice)
    size = sum(f["size"] for f in m["files"])
    if as_json:
        print(json.dumps({"bundle": str(out_dir), "board": m["board"], "runtime": m["runtime"], "version": m["version"],
                          "id": m["id"], "files": len(m["files"]), "bytes": size, "drive_bytes": m["drive_bytes"],
                          "drive_size": m["drive_size"], "ulab": m["ulab"], "heap": m["heap"]}))
        return
    out.print("bundle %s: board %s (CircuitPython), %d files, %d bytes (about %d of the drive's %d KB), id %s; copy it "
              "to CIRCUITPY with `hyperion-host deploy --drive <drive> %s`" % (
                  out_dir, m["board"], len(m["files"]), size, (m["drive_bytes"] + 1023) // 1024,
                  m["drive_size"] // 1024, m["id"], out_dir), highlight=False, soft_wrap=True)


def deploy(bundle: Path | None = typer.Argument(None, help="Bundle directory (default: build one for the board)."),
           port: str | None = PortOpt,
           drive: Path | None = typer.Option(None, "--drive", help="A CircuitPython board's mounted CIRCUITPY drive "
                                             "(a folder): copy a `build --circuitpython` bundle onto it."),
           board: str | None = typer.Option(None, "--board", "-b", help="With --drive: the board (builds the "
                                            "bundle from --model, or checks the bundle is for it)."),
           model: list[Path] | None = typer.Option(None, "--model", "-m", help="Models, when building on the fly."),
           model_key: list[Path] | None = typer.Option(None, "--model-key", help="Key file of encrypted models "
                                                       "(repeatable): installed on the board, outside the slots."),
           sign_key: Path | None = typer.Option(None, "--sign-key", help="Fleet key file the bundle must be signed "
                                                "with; a board without a fleet key is given this one."),
           rotate_from: Path | None = typer.Option(None, "--rotate-from", help="A fleet key the board has: installs "
                                                   "--sign-key beside it (key rotation)."),
           as_json: bool = JsonOpt):
    """Install a bundle on a board: changed files only, into the inactive slot, health-checked, then switched.
    With --drive: copy a CircuitPython bundle onto its CIRCUITPY drive (changed files only)."""
    from hyperion_host.ship import deploy as dep
    from hyperion_host.ship.circuitpython import bundle_runtime

    if drive is not None:
        if port is not None:
            raise HyperionError("--drive and --port exclude each other: --drive copies to a CircuitPython board's "
                                "CIRCUITPY drive, --port deploys to a MicroPython board over serial")
        for opt, value in (("--model-key", model_key), ("--sign-key", sign_key), ("--rotate-from", rotate_from)):
            if value:
                raise HyperionError("%s does not go with --drive: %s" % (opt, _CP_REFUSED[opt]))
        return _deploy_drive(drive, bundle, board, model, as_json)
    if board is not None:
        raise HyperionError("--board goes with --drive (a CircuitPython board); a MicroPython board's arch is read "
                            "from it over --port")
    if bundle is not None and bundle_runtime(bundle):
        raise HyperionError("%s is a CircuitPython bundle: copy it to the board's CIRCUITPY drive with "
                            "`hyperion-host deploy --drive <drive> %s`" % (bundle, bundle))
    mkeys = [read_key(k) for k in model_key or ()]
    skey = read_key(sign_key) if sign_key else None
    if bundle is None:
        bundle = _bundle_for_port(port, model or (), mkeys, skey)
    with progress("deploying %s" % bundle) as update:
        res = dep.deploy(port, str(bundle), progress=update, model_keys=mkeys, sign_key=skey,
                         rotate_from=read_key(rotate_from) if rotate_from else None)
    if as_json:
        print(json.dumps(dict(res, bundle=str(bundle))))
        return
    if not res["changed"]:
        out.print("%s already runs bundle %s (version %s, slot %s): nothing to do" % (
            res["port"], bundle, res["version"], res["slot"]), highlight=False)
        return
    out.print("%s: slot %s now active (was %s); %d files sent, %d copied on the board, %d unchanged; health %s; "
              "%.1f s" % (res["port"], res["slot"], res["previous"] or "none", res["copied"], res["copied_on_board"],
                          res["skipped"], ", ".join("%s %s" % kv for kv in res["health"].items()) or "ok",
                          res["seconds"]), highlight=False)


def _deploy_drive(drive, bundle, board, models, as_json):
    from hyperion_host.ship.drive import check_drive, deploy_to_drive

    check_drive(drive)  # before a bundle is built for it
    if bundle is not None and models:
        raise HyperionError("give a bundle folder or --model, not both (a bundle already holds its models)")
    if bundle is None:
        if not models:
            raise HyperionError("give a bundle folder (`hyperion-host build --circuitpython`) or --model with --board")
        if board is None:
            raise HyperionError("--model with --drive needs --board: the CircuitPython board to build for")
        bundle = _cp_bundle_for(board, models)
    with progress("copying to %s" % drive) as update:
        res = deploy_to_drive(drive, bundle, board=board, progress=update)
    if as_json:
        print(json.dumps(res))
        return
    for n in res["notes"]:
        notice(n)
    out.print("%s: bundle %s (board %s, version %s): %d files copied, %d unchanged%s%s" % (
        drive, bundle, res["board"], res["version"], res["copied"], res["unchanged"],
        "; removed stale %s" % ", ".join(res["removed"]) if res["removed"] else "",
        "; the example is %s" % res["code"] if res["code"] and res["code"] != "code.py" else ""),
        highlight=False, soft_wrap=True)


def _cp_bundle_for(board, models):
    """A CircuitPython bundle of the models for board, built into the cache (rebuilt each time: it is quick)."""
    import hashlib

    from hyperion_host.boards import get_board
    from hyperion_host.paths import home
    from hyperion_host.ship.circuitpython import build_cp_bundle, refuse_micropython_board
    from hyperion_host.ship.drive import DRIVE_WORDS

    b = get_board(board)
    refuse_micropython_board(b, *DRIVE_WORDS)
    for m in models:
        if not Path(m).is_file():
            raise HyperionError("no such model file: %s" % m)
    key = hashlib.sha256((b["name"] + " " + " ".join(hashlib.sha256(Path(m).read_bytes()).hexdigest() + Path(m).name
                                                      for m in models)).encode()).hexdigest()[:12]
    out_dir = home() / "cache" / ("cp-bundle-%s-%s" % (b["name"], key))
    build_cp_bundle(b["name"], [str(m) for m in models], out_dir, log=notice)
    return out_dir


def _bundle_for_port(port, models, model_keys=(), sign_key=None):
    """Build (cached) a bundle matching the board's arch."""
    import hashlib

    from hyperion_host.device.transport import Board, resolve_port
    from hyperion_host.device.vboard import manager
    from hyperion_host.paths import home
    from hyperion_host.ship.bundle import build_bundle

    dev = resolve_port(port)
    with Board(dev, soft_reset=False) as b:
        arch = b.identify()["arch"]
    vb = [v for v in manager.running() if v.port == dev]
    board = vb[0].config().get("board", "unix") if vb else {"x64": "unix", "armv6m": "rp2040", "armv7emsp": "rp2350",
                                                            "xtensawin": "esp32s3", "rv32imc": "esp32c3"}.get(arch, "unix")
    key = hashlib.sha256(("%s %s %s " % (board, arch, sign_key.hex() if sign_key else "") + " ".join(
        hashlib.sha256(Path(m).read_bytes()).hexdigest() for m in models)).encode()).hexdigest()[:12]
    out_dir = home() / "cache" / ("bundle-%s-%s-%s" % (board, arch, key))
    build_bundle(board, [str(m) for m in models], out_dir, arch=arch, model_keys=model_keys, sign_key=sign_key)
    return out_dir


def status(port: str | None = PortOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show the deployed bundle, its version and slot."""
    from hyperion_host.ship import deploy as dep

    st = dep.status(port)
    if as_json:
        print(json.dumps(st, indent=2))
        return
    if not st.get("active"):
        out.print("%s: arch %s, nothing deployed yet (`hyperion-host deploy` installs a bundle)"
                  % (st["port"], st["arch"]), highlight=False)
    else:
        out.print("%s: arch %s, active slot %s, version %s, bundle %s" % (
            st["port"], st["arch"], st["active"], st["version"], st["bundle"]), highlight=False)
    d = st.get("dev")
    if d:
        what = (["the firmware"] if d["firmware"] else []) + (["model " + ", ".join(d["models"])] if d["models"]
                                                                else [])
        out.print("dev slot (infer --port, script run): %s; %d files, %.1f KB%s" % (
            " and ".join(what) or "empty", d["files"], d["bytes"] / 1024,
            "" if st.get("active") else "; `import hyperion` uses it"), highlight=False)


def rollback(port: str | None = PortOpt, as_json: bool = JsonOpt):
    """Switch the board back to its previous slot."""
    from hyperion_host.ship import deploy as dep

    r = dep.rollback(port)
    if as_json:
        print(json.dumps(r))
        return
    out.print("%s: rolled back to slot %s (version %s)" % (r["port"], r["slot"], r["version"]), highlight=False)


def register(app):
    app.command()(build)
    app.command()(deploy)
    app.command()(status)
    app.command()(rollback)
    register_more(app)


def flash_cmd(
    board: str = typer.Option(..., "--board", "-b", help="Board name."),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial port (ESP boards)."),
    firmware: Path = typer.Option(..., "--firmware", help="MicroPython firmware: .bin (ESP, or RP2 raw) or .uf2."),
    erase: bool = typer.Option(False, "--erase", help="Erase the whole flash first (ESP)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact operations and offsets; write nothing."),
    uf2_out: Path | None = typer.Option(None, "--uf2-out", help="RP2: write the UF2 here instead of the drive."),
    as_json: bool = JsonOpt,
):
    """Flash MicroPython firmware: esptool for ESP chips, UF2 for RP2040/RP2350."""
    from hyperion_host.boards import get_board
    from hyperion_host.ship.flash import flash

    b = get_board(board)
    ops = flash(b, port, str(firmware), erase=erase, dry_run=dry_run, uf2_out=str(uf2_out) if uf2_out else None,
                log=lambda m: err.print(m, highlight=False))
    if as_json:
        print(json.dumps({"board": b["name"], "dry_run": dry_run, "operations": ops}))
        return
    for op in ops:
        out.print(("would " if dry_run else "") + op, highlight=False)


uf2_app = typer.Typer(help="UF2 files for RP2 boards.", no_args_is_help=True)


@uf2_app.command("pack")
def uf2_pack_cmd(image: Path = typer.Argument(..., help="A ROMFS image (from `build --romfs`)."),
                 board: str = typer.Option(..., "--board", "-b", help="Board name."),
                 out_file: Path = typer.Option(None, "-o", "--out", help="Output .uf2 (default: IMAGE.uf2).")):
    """Turn a ROMFS image into a UF2 at the board's ROMFS address."""
    from hyperion_host.boards import get_board
    from hyperion_host.ship.flash import uf2_pack

    if not image.is_file():
        raise HyperionError("no such image: %s" % image)
    out_file = out_file or image.with_suffix(".uf2")
    base, blocks = uf2_pack(str(image), get_board(board), str(out_file))
    out.print("%s: %d blocks at 0x%08x" % (out_file, blocks, base), highlight=False)


fleet_app = typer.Typer(help="Roll bundles out to many boards in batches, with health checks and rollback.",
                        no_args_is_help=True)


@fleet_app.command("plan")
def fleet_plan(fleet_file: Path = typer.Argument(..., help="FLEET.json or .yaml"),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """What changes on which board, in which batch."""
    from hyperion_host.ship import fleet

    rows = fleet.plan(fleet_file)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("batch", "board", "port", "action", "from", "to", "detail")
    for r in rows:
        t.add_row(str(r["batch"] or "-"), r["name"], r["port"], r["action"], str(r["from"]), str(r["to"]), r["detail"])
    out.print(t)


@fleet_app.command("apply")
def fleet_apply(fleet_file: Path = typer.Argument(..., help="FLEET.json or .yaml"), as_json: bool = JsonOpt):
    """Deploy batch by batch; stop and roll the batch back when its health checks fail."""
    from hyperion_host.ship import fleet

    with progress("rolling out %s" % fleet_file):
        res = fleet.apply(fleet_file, log=_fleet_log(as_json))
    if as_json:
        print(json.dumps(res))
    if not res["ok"]:
        raise HyperionError("batch %d failed its health checks; it was rolled back and the rollout stopped"
                            % res["stopped_at"])
    if not as_json:
        out.print("fleet updated: %d batch(es)" % len(res["batches"]))


def _fleet_log(as_json):
    """Progress lines on stdout, or none when stdout carries the JSON."""
    return (lambda m: None) if as_json else (lambda m: out.print(m, highlight=False))


@fleet_app.command("rollback")
def fleet_rollback(fleet_file: Path = typer.Argument(..., help="FLEET.json or .yaml"),
                   every: bool = typer.Option(False, "--all", help="Every board of the fleet, not only those the "
                                              "last apply switched."),
                   as_json: bool = JsonOpt):
    """Switch the boards the last `fleet apply` updated back to their previous slot (the rest are left alone)."""
    from hyperion_host.ship import fleet

    res = fleet.rollback(fleet_file, log=_fleet_log(as_json), every=every)
    if as_json:
        print(json.dumps(res))
    if not all(r["ok"] for r in res):
        raise HyperionError("%d board(s) could not roll back" % sum(not r["ok"] for r in res))


@fleet_app.command("status")
def fleet_status(fleet_file: Path = typer.Argument(..., help="FLEET.json or .yaml"),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Version, slot and health per board."""
    from hyperion_host.ship import fleet

    rows = fleet.status(fleet_file)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("board", "port", "version", "slot", "health")
    for r in rows:
        t.add_row(r["name"], r["port"], str(r.get("version")), str(r.get("slot")),
                  "%.0f%%" % (100 * r["health"]) if "health" in r else r.get("error", "-"))
    out.print(t)


def register_more(app):
    app.command("flash")(flash_cmd)
    app.add_typer(uf2_app, name="uf2")
    app.add_typer(fleet_app, name="fleet")
