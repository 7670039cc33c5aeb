"""Virtual boards: the MicroPython unix port behind a pseudo-terminal (manager starts and finds them; supervisor
is the process that holds the ptys and restarts the interpreter like a board's soft reset)."""
