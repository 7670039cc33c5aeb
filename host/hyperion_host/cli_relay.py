"""`hyperion-host serve`: the MCP relay server (inference and board tools over Streamable HTTP or stdio)."""


def register(app):
    """Add the relay commands to the main typer app."""
