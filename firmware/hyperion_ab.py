# Hyperion A/B boot hook. `hyperion-host deploy` installs it as /hyperion_ab.py and adds `import hyperion_ab`
# to /boot.py (keeping whatever else boot.py does). It puts the active slot's firmware first on sys.path. If a
# switch was cut off between writing active.tmp and renaming it, active.tmp holds the slot that passed its
# health check.
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
