"""The typer app, the options and consoles every command group shares, and main()."""

import contextlib
import sys

import typer

from hyperion_host import __version__
from hyperion_host.cli.console import make_console
from hyperion_host.errors import HyperionError


def _flags_without_a_type():
    """typer 0.29 shows flags as `--help <bool>`, as if they took a value; a flag takes none, so its help shows no
    type (the rendering only: parsing is untouched)."""
    try:
        from typer.core import TyperOption
    except ImportError:
        return
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) and not getattr(self, "count", False) else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_flags_without_a_type()


def _print_version(value: bool):
    if value:
        print(__version__)
        raise typer.Exit()


app = typer.Typer(
    help="Hyperion host toolchain: run 4-bit neural networks on MicroPython boards.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                       help="Print the Hyperion version and exit.")):
    """Hyperion host toolchain: run 4-bit neural networks on MicroPython boards."""

out = make_console()
err = make_console(stderr=True)

PortOpt = typer.Option(None, "--port", "-p", help="Device path or vboard name (default: $HYPERION_PORT, "
                       "else the single connected device).")
NoResetOpt = typer.Option(False, "--no-reset", help="Do not soft-reset the board first.")


def notice(text):
    err.print("[yellow]note:[/] " + text, highlight=False)


JsonOpt = typer.Option(False, "--json", help="Print the result as JSON (stdout).")


@contextlib.contextmanager
def progress(what, total=None, unit="steps"):
    """A progress bar on stderr for work that takes a while; yields update(done, total=None, what=None).
    unit 'bytes' shows sizes and speed. Drawn only on a terminal, and gone when the work ends."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    counts = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    with Progress(SpinnerColumn(), "[progress.description]{task.description}", BarColumn(), *counts,
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(what, total=total)

        def update(done, total=None, what=None):
            kw = {"completed": done}
            if total is not None:
                kw["total"] = total
            if what is not None:
                kw["description"] = what
            bar.update(task, **kw)

        yield update


@contextlib.contextmanager
def upload_progress(what):
    """Yields progress(done, total, name) for files sent to a board: a bar in bytes from the first call that
    sends something until a call with name None (the board then runs what was sent, and may print)."""
    bars = contextlib.ExitStack()
    shown = {}

    def update(done, total, name):
        if name is None:
            bars.close()
            shown.clear()
            return
        if not shown:
            shown["update"] = bars.enter_context(progress(what, total, unit="bytes"))
        shown["update"](done, total, "%s %s" % (what, name))

    with bars:
        yield update


@app.command()
def version():
    """Print the Hyperion version."""
    out.print(__version__)


def main(argv: list[str] | None = None):
    try:
        app(args=argv, prog_name="hyperion-host")
    except HyperionError as e:
        err.print("error: " + e.format_message(), highlight=False, markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)

