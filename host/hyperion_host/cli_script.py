"""`hyperion-host script run` and `hyperion-host shell`: Tcl (Picol) on the board over the serial REPL."""


def register(app):
    """Add the script commands to the main typer app."""
