"""`hyperion-host script run` and `hyperion-host shell`: Tcl (Picol) on the board over the serial REPL."""

from pathlib import Path

import typer

from hyperion_host.cli.app import PortOpt, notice
from hyperion_host.errors import HyperionError

script_app = typer.Typer(help="Tcl scripts (Picol) on a board, a vboard or the local MicroPython.",
                         no_args_is_help=True)

@script_app.command("run")
def run(file: Path = typer.Argument(..., help="A .tcl script."),
        port: str | None = PortOpt,
        local: bool = typer.Option(False, "--local", help="Run on the local MicroPython unix port, not a board."),
        no_reset: bool = typer.Option(False, "--no-reset", help="Do not soft-reset the board first."),
        timeout: float = typer.Option(300, "--timeout", help="Seconds the script may run (0: no limit); then the "
                                      "Tcl error \"time limit exceeded\", exit status 1.")):
    """Run a Tcl script on the board, streaming its output; a Tcl error goes to stderr with exit status 1."""
    from hyperion_host.device import script

    if local and port:
        raise HyperionError("give either --port or --local, not both")
    if timeout < 0:
        raise HyperionError("--timeout must be 0 (no limit) or more seconds")
    if local:
        code = script.run_local(file, timeout=timeout)
    else:
        code = script.run_on_board(port, script.read_script(file), no_reset=no_reset, notice=notice,
                                   timeout=timeout)
    raise typer.Exit(code)


def shell(port: str | None = PortOpt,
          no_reset: bool = typer.Option(False, "--no-reset", help="Do not soft-reset the board first.")):
    """Interactive Tcl prompt on the board (history, Tab completion; Ctrl-D or `exit` leaves)."""
    from hyperion_host.device import script
    from hyperion_host.device.transport import Board, resolve_port

    with Board(resolve_port(port), soft_reset=not no_reset) as b:
        script.sync_firmware(b, notice)
        sh = script.Shell(b)
        code = script.interactive(sh)
    raise typer.Exit(code)


def register(app):
    """Add the script commands to the main typer app."""
    app.add_typer(script_app, name="script")
    app.command("shell")(shell)
