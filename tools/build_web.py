"""`make web`: MicroPython's WebAssembly port for the relay's board-in-the-browser page (/ui/browser).

It comes from npm at the version tools/web/package-lock.json pins (`npm ci` checks the lock's integrity hash),
and only its two runtime files are kept: micropython.mjs and micropython.wasm (~560 KB), copied to where the
relay serves them from (hyperion_host.relay.web.runtime_dir(): <python env>/share/hyperion/wasm, or
$HYPERION_WASM_DIR). A second run with the same lock does nothing. npm is needed only here, never at run time.

    .venv/bin/python tools/build_web.py
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hyperion_host.relay.web import RUNTIME_FILES, runtime_dir

HERE = Path(__file__).resolve().parent / "web"
PACKAGE = "@micropython/micropython-webassembly-pyscript"


def main():
    lock = (HERE / "package-lock.json").read_bytes()
    stamp_value = hashlib.sha256(lock).hexdigest()
    dest = runtime_dir()
    stamp = dest / "npm-lock.sha256"
    if stamp.is_file() and stamp.read_text().strip() == stamp_value and all((dest / f).is_file()
                                                                            for f in RUNTIME_FILES):
        print("MicroPython WebAssembly: %s (cached)" % dest)
        return 0
    npm = shutil.which("npm")
    if not npm:
        print("error: npm is not installed: install Debian's nodejs and npm (`make sysdeps` as root does)",
              file=sys.stderr)
        return 1
    version = json.loads(lock)["packages"]["node_modules/" + PACKAGE]["version"]
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("package.json", "package-lock.json"):
            shutil.copy(HERE / f, tmp)
        r = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=tmp, capture_output=True, text=True, timeout=600)
        if r.returncode:
            print("error: npm ci failed:\n" + (r.stderr or r.stdout).strip()[-2000:], file=sys.stderr)
            return 1
        src = Path(tmp) / "node_modules" / PACKAGE
        dest.mkdir(parents=True, exist_ok=True)
        for f in RUNTIME_FILES:
            part = dest / (f + ".part")
            shutil.copyfile(src / f, part)
            part.replace(dest / f)
        (dest / "VERSION").write_text("%s %s\n" % (PACKAGE, version))
        stamp.write_text(stamp_value + "\n")
    sizes = ", ".join("%s %d KB" % (f, (dest / f).stat().st_size // 1024) for f in RUNTIME_FILES)
    print("MicroPython WebAssembly %s: %s (%s)" % (version, dest, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
