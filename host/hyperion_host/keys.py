"""Key files: a model key (encrypted .hyq files) or a fleet key (signed bundles) is 32 random bytes kept as 64
hex digits in a file only its owner reads. docs/security.md says who holds which key."""

import os
import secrets

from hyperion import crypt
from hyperion_host.errors import HyperionError


def new_key(path):
    """Write a fresh key to path (mode 0600; a missing folder is made, readable by you only). An existing file is
    never replaced: a lost key loses every model encrypted with it. The key is written to a temporary file and
    linked into place, so no half-written key file is ever seen."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path):
        raise HyperionError("%s exists; a key file is never overwritten (pick another name)" % path)
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = os.path.join(d, ".%s.%s.part" % (os.path.basename(path), secrets.token_hex(4)))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise HyperionError("cannot write %s: %s" % (path, e.strerror or e)) from None
    key = secrets.token_bytes(32)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if path appeared meanwhile: never replaces it
    except FileExistsError:
        raise HyperionError("%s exists; a key file is never overwritten (pick another name)" % path) from None
    except OSError as e:
        raise HyperionError("cannot write %s: %s" % (path, e.strerror or e)) from None
    finally:
        os.unlink(tmp)
    return key


def read_key(path):
    """The 32-byte key in a key file; a one-line HyperionError for anything else."""
    try:
        with open(path, "rb") as f:
            text = f.read(200)
    except OSError as e:
        raise HyperionError("cannot read key file %s: %s" % (path, e.strerror)) from None
    try:
        return crypt.parse_key(text)
    except (ValueError, UnicodeError):
        raise HyperionError("%s is not a key file (it must hold 64 hex digits; make one with `hyperion-host keys "
                            "new FILE`)" % path) from None


def key_id(key):
    return crypt.key_id(key)
