"""`make bench`: run every benchmark in tools/bench/ (each writes its section of bench/results.json)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "common.py"}


def main():
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name in SKIP:
            continue
        print("== %s" % script.name, flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE).returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    print("results: bench/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
