"""Child processes that do not outlive the command that started them."""


def die_with_parent():
    """For subprocess.Popen(preexec_fn=...): on Linux, the child gets SIGKILL when the process that started it
    dies (a killed `profile`, `script run --local` or vboard supervisor must not leave QEMU or MicroPython
    running). Elsewhere, nothing."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
