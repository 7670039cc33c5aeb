# Hyperion A/B boot hook. `hyperion-host deploy` installs it as /hyperion_ab.py and adds `import hyperion_ab`
# to /boot.py (keeping whatever else boot.py does). It puts the active slot's firmware first on sys.path (with no
# slot deployed, the dev slot's, which `infer --port` and `script run` fill). If a
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
# no deployed slot: the firmware that infer/script run keep in the dev slot, if any, so `import hyperion` works
sys.path.insert(1, "/hyperion-ab/" + (_s or "dev") + "/lib")
del _s, _hyperion_slot
