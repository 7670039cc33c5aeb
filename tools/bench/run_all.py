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
    write_summary()
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    print("results: bench/results.json, bench/results.md")
    return 0


def write_summary():
    """bench/results.md: every section's table, in one file."""
    from common import RESULTS_DIR

    parts = ["# Hyperion benchmarks\n\nReproduce: `make bench`.\n"]
    for md in sorted(RESULTS_DIR.glob("*.md")):
        if md.name != "results.md":
            parts.append("## %s\n\n%s" % (md.stem, md.read_text()))
    (RESULTS_DIR / "results.md").write_text("\n".join(parts))


if __name__ == "__main__":
    sys.exit(main())
