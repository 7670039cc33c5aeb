# Hyperion A/B boot hook (installed as /boot.py by `hyperion-host deploy`): put the active slot's firmware
# first on sys.path. If the switch was cut off between writing active.tmp and renaming it, active.tmp holds
# the slot that passed its health check.
import sys


def _hyperion_slot():
    for name in ("/hyperion-ab/active", "/hyperion-ab/active.tmp"):
        try:
            with open(name) as f:
                s = f.read().strip()
        except OSError:
            continue
        if s in ("a", "b"):
            return s
    return None


_s = _hyperion_slot()
if _s:
    sys.path.insert(1, "/hyperion-ab/" + _s + "/lib")
del _s, _hyperion_slot
