"""Scale-out on Ray Serve (`serve --engine ray`), loaded by locust on loopback (host speed, this machine).

1. Throughput: kws `infer` calls from 8 locust users against 1, then 2 fixed replicas (the anchor is the
   1-replica run, in the same session).
2. The autoscaler under a burst: 1 user, then 8 for 30 s, then 1 again, with replicas allowed 1..2. Replicas
   running and wanted, and the p95 latency, are sampled every half second; bench/scale.png plots them.
Every run counts failed calls: a scale event must not cost any.

    .venv/bin/python tools/bench/scale.py            # ~4 minutes; writes bench/results.json (section "scale")
"""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import RESULTS_DIR, ROOT, save

BIN = Path(sys.executable).parent
USERS = 8
SECONDS = 30
CALL = {"name": "infer", "arguments": {"model": "kws", "input": [[[[0.1 * ((i * 7 + j) % 11 - 5) for j in range(10)]
                                                                      for i in range(98)]]]}}
FIXED = """
[limits]
per_key = 0
per_ip = 0
[scale]
min_replicas = {n}
max_replicas = {n}
"""
BURST = """
[limits]
per_key = 0
per_ip = 0
[scale]
min_replicas = 1
max_replicas = 2
interval = 1
[[scale.rules]]
metric = "in_flight_per_replica"
op = "gt"
value = 2
for = 2
step = 1
cooldown = 5
[[scale.rules]]
metric = "in_flight_per_replica"
op = "lt"
value = 1
for = 5
step = -1
cooldown = 15
"""
STAGES = [[15, 1], [45, USERS], [100, 1]]


class Relay:
    def __init__(self, tmp, config, key_file):
        cfg = Path(tmp) / "relay.toml"
        cfg.write_text(config)
        self.proc = subprocess.Popen([str(BIN / "hyperion-host"), "serve", "--engine", "ray", "--listen", ":0",
                                      "--models", str(ROOT / "models"), "--keys-file", key_file, "--config",
                                      str(cfg)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        t0 = time.time()
        for line in self.proc.stderr:
            m = re.search(r"MCP on http://[^:]+:(\d+)/mcp", line)
            if m:
                self.base = "http://127.0.0.1:" + m.group(1)
                break
            if time.time() - t0 > 180:
                break
        else:
            raise SystemExit("the Ray relay did not start")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def stop(self):
        import signal

        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def locust(base, key, tmp, name, users=USERS, seconds=SECONDS, stages=None):
    """Run locust headless; returns (aggregated stats row, per-second history rows)."""
    prefix = str(Path(tmp) / name)
    env = dict(os.environ, HYPERION_BENCH_KEY=key, HYPERION_BENCH_CALL=json.dumps(CALL))
    args = [str(BIN / "locust"), "-f", str(Path(__file__).parent / "locustfile.py"), "--headless", "--host", base,
            "--csv", prefix, "--only-summary", "--loglevel", "ERROR"]
    if stages:
        env["HYPERION_BENCH_STAGES"] = json.dumps(stages)
        env["HYPERION_BENCH_TRACE"] = prefix + "_trace.txt"
    else:
        args += ["-u", str(users), "-r", str(users), "-t", "%ds" % seconds]
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=seconds + 300)
    with open(prefix + "_stats.csv") as f:
        total = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
    with open(prefix + "_stats_history.csv") as f:
        history = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
    trace = []
    if stages:
        with open(prefix + "_trace.txt") as f:
            trace = [tuple(float(x) for x in line.split()) for line in f]
    return total, history, trace


def row(phase, total):
    return {"phase": phase, "users": USERS, "calls": int(total["Request Count"]),
            "failures": int(total["Failure Count"]), "calls_per_s": round(float(total["Requests/s"]), 1),
            "p50_ms": float(total["50%"]), "p95_ms": float(total["95%"])}


def fixed(tmp, key, key_file, n):
    r = Relay(tmp, FIXED.format(n=n), key_file)
    try:
        locust(r.base, key, tmp, "warm%d" % n, seconds=5)
        total, _, _ = locust(r.base, key, tmp, "fixed%d" % n)
        return row("%d replica%s" % (n, "" if n == 1 else "s"), total)
    finally:
        r.stop()


def burst(tmp, key, key_file):
    r = Relay(tmp, BURST, key_file)
    samples, stop = [], threading.Event()

    def sample():
        while not stop.wait(0.5):
            try:
                m = httpx.get(r.base + "/api/monitoring", headers={"X-API-Key": key}, timeout=5).json()
                samples.append({"t": time.time(), "running": m["scale"]["running"], "target": m["scale"]["target"]})
            except (httpx.HTTPError, KeyError, ValueError):
                pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        total, history, trace = locust(r.base, key, tmp, "burst", seconds=STAGES[-1][0], stages=STAGES)
        time.sleep(2)
        stop.set()
        th.join()
        m = httpx.get(r.base + "/api/monitoring", headers={"X-API-Key": key}, timeout=5).json()
    finally:
        r.stop()
    return total, history, trace, samples, m["scale"]


def windows(trace, t0, width=2.0):
    """(window start, p95 ms, calls) of the calls that ended in each `width`-second window."""
    import math

    out = {}
    for t, ms, _ in trace:
        out.setdefault(int((t - t0) // width), []).append(ms)
    rows = []
    for k in sorted(out):
        v = sorted(out[k])
        rows.append((k * width, v[min(len(v) - 1, math.ceil(0.95 * len(v)) - 1)], len(v)))
    return rows


def plot(history, trace, samples, decisions, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(float(history[0]["Timestamp"]), samples[0]["t"])
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    a.step([s["t"] - t0 for s in samples], [s["running"] for s in samples], where="post", label="running")
    a.step([s["t"] - t0 for s in samples], [s["target"] for s in samples], where="post", ls="--", label="wanted")
    for d in decisions:
        a.annotate(d["action"], (d["ts"] - t0, d["to"]), textcoords="offset points", xytext=(4, 4))
    a.set_ylabel("replicas")
    a.set_ylim(0, 3)
    a.legend(loc="upper right")
    w = windows(trace, t0)
    b.plot([x[0] for x in w], [x[1] for x in w], label="p95 ms (2 s windows)")
    b2 = b.twinx()
    b2.plot([float(h["Timestamp"]) - t0 for h in history], [int(h["User Count"]) for h in history], color="grey",
            ls=":", label="users")
    b.set_ylabel("p95 latency, 2 s windows (ms)")
    b2.set_ylabel("locust users (dotted)")
    b.set_xlabel("seconds")
    fig.suptitle("Ray Serve relay under a burst (kws infer, 2-core host)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    from hyperion_host.relay.auth import add_key

    tmp = tempfile.mkdtemp(prefix="hyperion-bench-scale-")
    key_file = str(Path(tmp) / "keys.json")
    key, _ = add_key(key_file, "bench", "operator")
    rows = [fixed(tmp, key, key_file, 1), fixed(tmp, key, key_file, 2)]
    speedup = rows[1]["calls_per_s"] / rows[0]["calls_per_s"]
    total, history, trace, samples, scale = burst(tmp, key, key_file)
    rows.append(dict(row("burst 1->%d->1 users, 1..2 replicas" % USERS, total), users=USERS))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    plot(history, trace, samples, scale["decisions"], RESULTS_DIR / "scale.png")
    ups = [d for d in scale["decisions"] if d["action"] == "up"]
    downs = [d for d in scale["decisions"] if d["action"] == "down"]
    notes = ("Host speed on this machine (%d cores), loopback, locust %s. 2 replicas give %.2fx the calls/s of 1. "
             "Burst: %d scale-up and %d scale-down decisions (%s), %d failed calls. Plot: bench/scale.png. "
             "Reproduce: `.venv/bin/python tools/bench/scale.py`."
             % (os.cpu_count(), _locust_version(), speedup, len(ups), len(downs),
                "; ".join("%s %d->%d at %.0fs: %s" % (d["action"], d["from"], d["to"], d["ts"] - samples[0]["t"],
                                                      d["reason"]) for d in ups + downs),
                int(total["Failure Count"])))
    save("scale", rows, notes)
    print(notes)
    t0 = samples[0]["t"]
    (RESULTS_DIR / "scale.json").write_text(json.dumps({
        "rows": rows, "speedup": speedup, "decisions": scale["decisions"], "samples": samples,
        "p95_windows": [{"t": t, "p95_ms": p, "calls": n} for t, p, n in windows(trace, t0)]}, indent=1))


def _locust_version():
    from importlib.metadata import version

    return version("locust")


if __name__ == "__main__":
    main()
