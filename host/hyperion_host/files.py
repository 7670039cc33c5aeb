"""Files written whole or not at all, and only as regular files."""

import os
import stat
import tempfile

from hyperion_host.errors import HyperionError


def check_output(path):
    """HyperionError (one line) unless path can be written as a regular file: its folder exists, and it is not a
    directory, a device, a FIFO or a socket (a rename would replace one of those: as root, a real /dev node).
    Check every output of a command before writing the first, so none is left without the others."""
    p = os.fspath(path)
    d = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(d):
        raise HyperionError("cannot write %s: there is no folder %s" % (p, d))
    try:
        st = os.stat(p)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise HyperionError("cannot write %s: it is a folder; give a file name" % p)
    if not stat.S_ISREG(st.st_mode):
        raise HyperionError("cannot write %s: it is not a regular file (a device, FIFO or socket); give a file "
                            "name" % p)


def write_atomic(path, data):
    """Write via a temp file in the same directory and rename: never a half-written file at `path`, and never
    over anything but a regular file (check_output)."""
    path = os.fspath(path)
    check_output(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".%s." % os.path.basename(path), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a normal file gets the user's umask
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
