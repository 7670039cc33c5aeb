"""Shared bits for the benchmarks: a results file that each benchmark adds its section to, and tables."""

import json
import os
import platform
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(os.environ.get("HYPERION_BENCH_DIR", ROOT / "bench"))
console = Console()


def save(section, rows, notes=""):
    """Merge rows (a list of dicts) into bench/results.json under `section`, and write bench/<section>.md."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = {"rows": rows, "notes": notes, "machine": platform.machine(),
                     "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    (RESULTS_DIR / (section + ".md")).write_text(markdown(rows, notes))
    show(section, rows)


def markdown(rows, notes=""):
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + ("\n\n" + notes if notes else "") + "\n"


def show(title, rows):
    t = Table(*rows[0].keys(), title=title)
    for r in rows:
        t.add_row(*(fmt(v) for v in r.values()))
    console.print(t)


def fmt(v):
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 1000 else "%.0f" % v
    return str(v)
