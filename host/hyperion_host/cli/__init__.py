"""`hyperion-host`: thin typer commands, one module per group. They parse options, call the API of
hyperion_host.model/ship/device/relay and print; nothing below this package imports typer or rich."""

from hyperion_host.cli.app import app, main

# each group registers its commands on `app`, in the order `--help` lists them
from hyperion_host.cli import board, files, model, ship, keys, script, relay, monitor, scale  # noqa: E402, F401  isort: skip

model.register(app)
ship.register(app)
keys.register(app)
script.register(app)
relay.register(app)
monitor.register(app)
scale.register(app)

__all__ = ["app", "main"]
