"""Benchmark: the MCP relay's `infer` tool under load, against two anchors measured in the same run:

- a bare Starlette JSON endpoint (the HTTP stack's ceiling),
- a minimal server of the same `mcp` SDK with a trivial tool (the SDK's own cost per call),
- the relay's `board_list` (a tool that does no work: what the relay's own layers cost: API key, role check,
  rate limiter with no limit set, audit log, monitoring, Prometheus metrics),
- the relay's `infer` on a small model (MLP 16-32-4, 4-bit, run by the host reference runtime), same layers.

Every server is the same uvicorn stack on TCP sockets with TCP_NODELAY (see relay.server.bind), one worker
and then two (each worker its own SO_REUSEPORT socket, as `hyperion-host serve --workers 2` does). The SDK's
canonical trivial tool is a plain function, which the SDK runs in a worker thread; an `async def` one is
measured too (the relay's tools are async). Load: wrk, 32 connections, one POST per request in the
2026-07-28 form (single POST with MCP-Protocol-Version, Mcp-Method, Mcp-Name; no session). Each response
body is checked by wrk's Lua script.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import save

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

CONNECTIONS = 32
DURATION = 5
WARMUP = 2
PV = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": PV, "io.modelcontextprotocol/clientCapabilities": {}}

# The anchors: run as `python -c ANCHOR kind port workers`.
ANCHOR = r"""
import multiprocessing, sys
import uvicorn
from hyperion_host.relay.server import bind


def serve(kind, port):
    import bench_anchor

    app = getattr(bench_anchor, kind + "_app")()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[bind("127.0.0.1", port, reuse_port=True)])


if __name__ == "__main__":
    kind, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=serve, args=(kind, port)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""

ANCHOR_MODULE = r'''
def sdk_app():
    from mcp.server.mcpserver import MCPServer
    s = MCPServer("trivial", log_level="WARNING")

    @s.tool()
    def add(a: int, b: int) -> int:
        """a + b"""
        return a + b

    return s.streamable_http_app(json_response=True, stateless_http=True)


def sdk_async_app():
    from mcp.server.mcpserver import MCPServer
    s = MCPServer("trivial", log_level="WARNING")

    @s.tool()
    async def add(a: int, b: int) -> int:
        """a + b"""
        return a + b

    return s.streamable_http_app(json_response=True, stateless_http=True)


def bare_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request):
        body = await request.json()
        return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": {"ok": True}})

    return Starlette(routes=[Route("/mcp", echo, methods=["POST"])])
'''

LUA = r"""
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "%(pv)s"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "%(name)s"
%(extra)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, %(expect)s, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50": %%d, "p90": %%d, "p95": %%d, "p99": %%d, ' ..
    '"bad": %%d, "socket_errors": %%d, "non2xx": %%d}\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), b,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: sudo apt-get install wrk")
    return shutil.which("wrk")


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_up(url, proc, headers=None, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + proc.stderr.read().decode()[-2000:])
        try:
            httpx.post(url, json={}, headers=headers or {}, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_wrk(wrk, url, body, name, expect, extra, tmp):
    script = Path(tmp) / ("bench-%s.lua" % name)
    script.write_text(LUA % {"body": lua_string(body), "pv": PV, "name": name, "expect": lua_string(expect),
                             "extra": extra})
    subprocess.run([wrk, "-t1", "-c%d" % CONNECTIONS, "-d%ds" % WARMUP, "-s", str(script), url],
                   capture_output=True, check=True)
    p = subprocess.run([wrk, "-t1", "-c%d" % CONNECTIONS, "-d%ds" % DURATION, "-s", str(script), url],
                       capture_output=True, text=True, check=True)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")][0]
    return json.loads(line[7:])


def main():
    from hyperion_host.files import write_atomic
    from hyperion_host.model.quantize import Options, quantize_model
    from hyperion_host.relay.auth import add_key

    import onnx_examples

    wrk = ensure_wrk()
    tmp = tempfile.mkdtemp(prefix="hyperion-bench-relay-")
    os.environ["HYPERION_HOME"] = tmp
    models = Path(tmp) / "models"
    models.mkdir()
    onnx = onnx_examples.deep_mlp(Path(tmp) / "mlp.onnx", sizes=(16, 32, 4))
    blob, _ = quantize_model(onnx, Options(4, 32, "asym", "int8", None, 0.0, (), ()), None)
    write_atomic(models / "mlp.hyq", blob)
    keys = str(Path(tmp) / "keys.json")
    key, _ = add_key(keys, "bench", "operator")
    cfg = Path(tmp) / "relay.toml"
    cfg.write_text("[limits]\nper_key = 0\nper_ip = 0\n")
    (Path(tmp) / "bench_anchor.py").write_text(ANCHOR_MODULE)
    (Path(tmp) / "bench_serve.py").write_text(ANCHOR)
    env = dict(os.environ, PYTHONPATH=tmp + os.pathsep + os.environ.get("PYTHONPATH", ""))

    infer_args = {"model": "mlp", "input": [[0.25] * 16]}
    cases = [
        ("bare Starlette JSON endpoint", "bare", None, "echo", {}, '"ok":true'),
        ("SDK MCPServer, trivial tool", "sdk", None, "add", {"a": 1, "b": 2}, '"isError":false'),
        ("SDK MCPServer, trivial async tool", "sdk_async", None, "add", {"a": 1, "b": 2}, '"isError":false'),
        ("relay board_list (no model: the relay's own layers), key + audit", "relay", None, "board_list", {},
         '"isError":false'),
        ("relay infer (MLP 16-32-4), key + audit", "relay", None, "infer", infer_args, '"isError":false'),
    ]
    rows = []
    results = {}
    for workers in (1, 2):
        for title, kind, _, name, args, expect in cases:
            port = free_port()
            url = "http://127.0.0.1:%d/mcp" % port
            headers = {}
            extra = ""
            if kind == "relay":
                cmd = [str(Path(sys.executable).parent / "hyperion-host"), "serve", "--models", str(models),
                       "--listen", "127.0.0.1:%d" % port, "--keys-file", keys, "--audit-log", str(Path(tmp) / "audit.jsonl"),
                       "--config", str(cfg), "--workers", str(workers)]
                headers = {"X-API-Key": key}
                extra = 'wrk.headers["X-API-Key"] = "%s"' % key
            else:
                cmd = [sys.executable, str(Path(tmp) / "bench_serve.py"), kind, str(port), str(workers)]
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
            try:
                wait_up(url, proc, headers)
                body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                   "params": {"name": name, "arguments": args, "_meta": META}})
                h = dict(headers, **{"Content-Type": "application/json", "Accept": "application/json, "
                                     "text/event-stream", "MCP-Protocol-Version": PV, "Mcp-Method": "tools/call",
                                     "Mcp-Name": name})
                check = httpx.post(url, content=body, headers=h, timeout=5)
                assert check.status_code == 200 and expect in check.text, check.text[:300]
                r = run_wrk(wrk, url, body, name, expect, extra, tmp)
            finally:
                stop(proc)
            rps = r["requests"] / r["seconds"]
            results[(kind, workers)] = rps
            rows.append({"server": title, "workers": workers, "req_per_s": round(rps),
                         "p50_ms": r["p50"] / 1000, "p90_ms": r["p90"] / 1000, "p95_ms": r["p95"] / 1000,
                         "p99_ms": r["p99"] / 1000, "errors": r["bad"] + r["socket_errors"] + r["non2xx"],
                         "vs_sdk_trivial": round(rps / results[("sdk", workers)], 2) if ("sdk", workers) in results
                         else None})
            print("%s, %d worker(s): %.0f req/s, p99 %.1f ms" % (title, workers, rps, r["p99"] / 1000), flush=True)
    for r in rows:
        if r["vs_sdk_trivial"] is None:
            r["vs_sdk_trivial"] = round(results[("bare", r["workers"])] / results[("sdk", r["workers"])], 2)
    notes = ("wrk -t1 -c%d -d%ds (after %ds of warm-up), one POST per call in the 2026-07-28 form; %d CPUs, wrk on "
             "the same machine. vs_sdk_trivial: throughput over the SDK's trivial tool with the same number of "
             "workers. Reproduce: `make bench` (or `.venv/bin/python tools/bench/relay.py`)."
             % (CONNECTIONS, DURATION, WARMUP, os.cpu_count()))
    shutil.rmtree(tmp, ignore_errors=True)
    save("relay", rows, notes=notes)


if __name__ == "__main__":
    main()
