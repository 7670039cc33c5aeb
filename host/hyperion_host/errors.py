"""User-facing errors: one line that names the problem and the fix, a non-zero exit, no traceback."""


class HyperionError(Exception):
    """An error caused by the user's input or environment; the CLI prints `error: <message>`."""

    exit_code = 1

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def format_message(self):
        return self.message
