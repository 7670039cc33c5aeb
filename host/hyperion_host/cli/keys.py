"""`keys`: make key files, and see or prune the keys a board holds (docs/security.md)."""

import json
from pathlib import Path

import typer
from rich.table import Table

from hyperion_host.cli.app import PortOpt, out

keys_app = typer.Typer(help="Key files for encrypted models and signed bundles, and the keys on a board.",
                       no_args_is_help=True)


@keys_app.command("new")
def keys_new(path: Path = typer.Argument(..., help="The key file to write (never overwritten).")):
    """Write a new random key (32 bytes as hex, readable by you only)."""
    from hyperion_host.keys import key_id, new_key

    key = new_key(path)
    out.print("wrote %s: key %s; keep it secret, and keep a copy (what it encrypts cannot be read without it)"
              % (path, key_id(key)), highlight=False)


@keys_app.command("id")
def keys_id(path: Path = typer.Argument(..., help="A key file.")):
    """Print a key file's id (the name boards and models know it by)."""
    from hyperion_host.keys import key_id, read_key

    out.print(key_id(read_key(path)))


@keys_app.command("list")
def keys_list(port: str | None = PortOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """The keys on a board (ids only) and which slot uses each."""
    from hyperion_host.ship.deploy import board_keys

    r = board_keys(port)
    if as_json:
        print(json.dumps(r, indent=2))
        return
    t = Table("key", "kind", "used by slots", title=r["port"])
    for k in r["keys"]:
        t.add_row(k["id"], k["kind"], ", ".join(k["slots"]) or "none")
    out.print(t)


@keys_app.command("prune")
def keys_prune(port: str | None = PortOpt):
    """Remove the keys neither slot uses: the last step of a key rotation."""
    from hyperion_host.ship.deploy import prune_keys

    r = prune_keys(port)
    out.print("%s: removed %s; kept %s" % (r["port"], ", ".join("%s (%s)" % (k["id"], k["kind"]) for k in r["removed"])
                                           or "nothing", ", ".join(k["id"] for k in r["kept"]) or "nothing"),
              highlight=False)


def register(app):
    app.add_typer(keys_app, name="keys")
