"""`serve --engine ray`: the relay as a real Ray Serve application (Ray from PyPI, a local cluster started by the
relay itself), with two replicas at least, the board host pinned where the vboard is, and the hub they share.
One app serves the whole module (starting Ray takes ~20 s); the scale test runs last and leaves the floor."""

import json
import os
import re
import subprocess
import threading
import time

import anyio
import anyio.to_thread
import httpx
import numpy as np
import pytest
from test_monitor import Hook, monitor_cli
from test_relay_common import http_client, keys, make_models, mcp_post  # noqa: F401
from test_relay_tools import X, reference, two_bundles
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from hyperion_host.relay.auth import add_key, remove_key

from helpers import BIN, assert_user_error, run_cli, stop_group

pytestmark = pytest.mark.timeout(600)

LOAD_KEYS = 6
CONFIG = """
[monitoring]
alert_interval = 0.5
webhook = "%s"

[[monitoring.alerts]]
name = "tool-errors"
metric = "tool_errors_total"
op = "gt"
value = 0

[limits]
per_key = 30
per_ip = 0
window = 300

[scale]
min_replicas = 2
max_replicas = 3
replica_cpus = 0.25
interval = 0.5

[[scale.rules]]
metric = "in_flight_per_replica"
op = "gt"
value = 1.5
for = 2
step = 1
cooldown = 1

[[scale.rules]]
metric = "in_flight_per_replica"
op = "lt"
value = 0.5
for = 4
step = -1
cooldown = 4
"""


class RayRelay:
    """`hyperion-host serve --engine ray ...` as a subprocess, its stderr drained in a thread."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "serve", "--engine", "ray", "--listen",
                                      ":0", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
        self.lines = []
        self.ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self.ready.wait(180) or self.proc.poll() is not None:
            stop_group(self.proc)
            raise RuntimeError("the Ray relay did not start:\n" + "".join(self.lines[-40:]))

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"MCP on http://[^:]+:(\d+)/mcp", line)
            if m:
                self.base = "http://127.0.0.1:%s" % m.group(1)
                self.url = self.base + "/mcp"
                self.ready.set()

    def stop(self):
        stop_group(self.proc, timeout=60)


@pytest.fixture(scope="module")
def ray_relay(tmp_path_factory, vboard):
    d = tmp_path_factory.mktemp("ray")
    models = make_models(d / "models")
    kf, ks = keys(d, "viewer", "operator", "admin")
    for name in ["limited", "revoked", "probe1", "probe2"] + ["load%d" % i for i in range(LOAD_KEYS)]:
        ks[name], _ = add_key(kf, name, "operator")
    hook = Hook()
    (d / "relay.toml").write_text(CONFIG % hook.url)
    r = RayRelay("--models", str(models), "--keys-file", kf, "--audit-log", str(d / "audit.jsonl"),
                 "--config", str(d / "relay.toml"), "--port", vboard.name)
    r.keys, r.keys_file, r.models, r.audit, r.hook = ks, kf, models, d / "audit.jsonl", hook
    yield r
    r.stop()
    hook.close()
    for _ in range(60):  # Ray's own processes end a few seconds after the relay
        left = ray_processes()
        if not left:
            break
        time.sleep(0.5)
    assert not left, "Ray processes left behind: %s" % left


def ray_processes():
    """The command lines of Ray's processes still running (raylet, the GCS, workers)."""
    out = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(r"ray::|/raylet |gcs_server ", cmd):
            out.append(cmd[:120])
    return out


def test_the_ray_engine_refuses_what_it_cannot_serve_in_one_line(tmp_path):
    """Checked before any Ray process starts."""
    import socket

    assert_user_error(run_cli("serve", "--engine", "ray", "--keys-file", str(tmp_path / "none.json")),
                      "no keys file at")
    assert_user_error(run_cli("serve", "--engine", "ray", "--workers", "2"), "drop --workers")
    assert_user_error(run_cli("serve", "--engine", "ray", "--stdio"), "drop --stdio")
    assert_user_error(run_cli("serve", "--engine", "ray", "--min-replicas", "3", "--max-replicas", "2"),
                      "scale.min_replicas (3) is above scale.max_replicas (2)")
    assert_user_error(run_cli("serve", "--engine", "ray", "--port", "nosuchboard"), "unknown port 'nosuchboard'")
    assert_user_error(run_cli("serve", "--engine", "rai"), "'server.engine' must be local or ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert_user_error(run_cli("serve", "--engine", "ray", "--listen", "127.0.0.1:%d" % s.getsockname()[1]),
                          "cannot listen on", "Address already in use")
    assert not ray_processes()


def health(r, key):
    """One /api/health over a new connection (so Serve's proxy may route it to any replica)."""
    return httpx.get(r.base + "/api/health", headers={"X-API-Key": key}, timeout=30)


def replicas_seen(r, key, n=20):
    return {health(r, key).json()["replica"] for _ in range(n)}


def sc(res):
    assert not res.is_error, res.content[0].text
    return res.structured_content


def test_every_tool_through_ray_serve_with_the_sdk_client(ray_relay, vboard, tmp_path):
    from hyperion_host.relay.tools import tool_names
    from hyperion_host.ship import deploy as dep

    r = ray_relay
    h = health(r, r.keys["viewer"]).json()
    assert h["engine"] == "ray" and h["ready"] and h["models"]["loaded"] == 2
    b1, b2 = two_bundles(tmp_path, r.models)

    async def main():
        async with http_client(r.url, key=r.keys["admin"]) as c:
            assert {t.name for t in (await c.list_tools()).tools} == set(tool_names()) == {
                "list_models", "model_info", "infer", "generate", "model_profile", "board_list", "board_exec",
                "board_script", "board_infer", "board_files", "board_status", "board_rollback"}
            assert {m["name"] for m in sc(await c.call_tool("list_models", {}))["models"]} == {"mlp", "lm"}
            assert sc(await c.call_tool("model_info", {"model": "lm"}))["text"] == {"tokenizer": "bytes"}
            y = sc(await c.call_tool("infer", {"model": "mlp", "input": X}))["outputs"][0]["values"]
            np.testing.assert_array_equal(np.asarray(y, np.float32), reference(r.models.parent / "models"))
            assert sc(await c.call_tool("generate", {"model": "lm", "prompt": "ab", "max_tokens": 5}))["tokens"] == 5
            p = await c.call_tool("model_profile", {"model": "mlp", "board": "esp32"})  # (test_web runs QEMU)
            assert p.is_error and "has no emulated core" in p.content[0].text
            boards = sc(await c.call_tool("board_list", {}))["boards"]
            assert [(b["name"], b["present"]) for b in boards] == [(vboard.name, True)]
            e = sc(await c.call_tool("board_exec", {"board": vboard.name, "code": "print(6*7)"}))
            assert e["stdout"].strip() == "42"
            s = sc(await c.call_tool("board_script", {"board": vboard.name, "script": "puts [expr {6*7}]"}))
            assert s["stdout"] == "42\n"
            b = sc(await c.call_tool("board_infer", {"board": vboard.name, "model": "mlp", "input": X}))
            np.testing.assert_allclose(np.asarray(b["outputs"][0]["values"], np.float32),
                                       reference(r.models.parent / "models"), atol=1e-5)
            w = sc(await c.call_tool("board_files", {"board": vboard.name, "action": "write", "path": "ray.txt",
                                                     "content": "through ray"}))
            assert w["bytes"] == 11
            rd = sc(await c.call_tool("board_files", {"board": vboard.name, "action": "read", "path": "ray.txt"}))
            assert rd["content"] == "through ray"
            # board_status and board_rollback run in the board host (deploy.py there), before and after deploys
            st = sc(await c.call_tool("board_status", {"board": vboard.name}))
            assert st["implementation"] == "micropython" and st["mem_free"] > 0 and st["active_slot"] is None
            none = await c.call_tool("board_rollback", {"board": vboard.name})
            assert none.is_error and "nothing to roll back" in none.content[0].text
            for b in (b1, b2):
                await anyio.to_thread.run_sync(dep.deploy, vboard.name, b)
            st = sc(await c.call_tool("board_status", {"board": vboard.name}))
            assert (st["active_slot"], st["bundle_version"]) == ("b", "2.0")
            back = sc(await c.call_tool("board_rollback", {"board": vboard.name}))
            assert (back["slot"], back["previous"], back["version"]) == ("a", "b", "1.0")
            st = sc(await c.call_tool("board_status", {"board": vboard.name}))
            assert (st["active_slot"], st["bundle_version"]) == ("a", "1.0")
            bad = await c.call_tool("board_exec", {"board": "nope", "code": "1"})
            assert bad.is_error and "unknown board 'nope'" in bad.content[0].text
            gone = await c.call_tool("board_exec", {"board": vboard.name, "code": "1/0"})
            assert gone.is_error and "ZeroDivisionError" in gone.content[0].text

    anyio.run(main)
    # tokens streamed over the WebSocket, through Serve's proxy; a viewer may not open one
    url = r.base.replace("http", "ws") + "/ws/generate"
    with ws_connect(url, additional_headers={"X-API-Key": r.keys["operator"]}) as ws:
        ws.send(json.dumps({"model": "lm", "prompt": "ab", "max_tokens": 4}))
        msgs = [json.loads(ws.recv()) for _ in range(5)]
    assert [m.get("index") for m in msgs[:4]] == [0, 1, 2, 3] and msgs[4]["done"] and msgs[4]["tokens"] == 4
    with pytest.raises(InvalidStatus) as e:
        with ws_connect(url, additional_headers={"X-API-Key": r.keys["viewer"]}):
            pass
    assert e.value.response.status_code == 403


def test_roles_rate_limits_revocation_and_audit_hold_across_replicas(ray_relay):
    r = ray_relay
    assert len(replicas_seen(r, r.keys["probe1"])) >= 2  # requests do spread over two replicas

    for _ in range(6):  # every replica refuses a viewer an operator's tool
        res = httpx.post(r.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                      "params": {"name": "infer", "arguments": {"model": "mlp", "input": X}}},
                         headers={"X-API-Key": r.keys["viewer"], "Accept": "application/json, text/event-stream",
                                  "MCP-Protocol-Version": "2025-11-25"}, timeout=30)
        assert res.status_code == 403 and "needs role operator" in res.json()["error"]["message"]

    # one window for all replicas: 30 requests pass in all, not 30 per replica
    codes, seen = [], set()
    for _ in range(40):
        res = health(r, r.keys["limited"])
        codes.append(res.status_code)
        if res.status_code == 200:
            seen.add(res.json()["replica"])
    assert codes == [200] * 30 + [429] * 10, codes
    assert len(seen) >= 2

    # a key removed from the keys file stops working on every replica
    assert health(r, r.keys["revoked"]).status_code == 200
    remove_key(r.keys_file, "revoked")
    deadline = time.time() + 15
    while time.time() < deadline and any(health(r, r.keys["revoked"]).status_code != 401 for _ in range(6)):
        time.sleep(0.5)
    assert all(health(r, r.keys["revoked"]).status_code == 401 for _ in range(10))

    time.sleep(2.5)  # replicas hand audit lines to the hub every second
    lines = [json.loads(x) for x in r.audit.read_text().splitlines()]
    ids = {k: r.keys[k].split("_")[1] for k in ("limited", "viewer")}
    limited = [x for x in lines if x.get("key") == ids["limited"]]
    assert sum(x.get("reason") == "rate_key" for x in limited) == 10
    assert len({x["replica"] for x in lines if x.get("replica")}) >= 2
    assert any(x.get("key") == ids["viewer"] and x.get("reason") == "role" for x in lines)


def test_monitoring_alerts_and_the_monitor_cli_see_every_replica(ray_relay):
    r = ray_relay
    url, key = ("--url", r.base), ("--key", r.keys["probe2"])
    for _ in range(6):  # over new connections: several replicas serve them
        res = mcp_post(r.url, "infer", {"model": "mlp", "input": X}, key=r.keys["operator"])
        assert res.status_code == 200 and not res.json()["result"]["isError"]
    time.sleep(2)  # replicas report every second
    p = monitor_cli("status", "--json", *url, *key)
    snap = json.loads(p.stdout)
    assert p.returncode == 0 and snap["engine"] == "ray", p.stderr
    assert snap["tools"]["infer"]["calls"] >= 6 and len(set(snap["replicas"]) - {"hub"}) >= 2
    assert snap["scale"]["target"] == 2 and snap["scale"]["replicas_reporting"] >= 2
    # the failed board calls of the first test fired the rule once, for the app (the hub checks merged figures)
    assert len(r.hook.bodies) == 1 and r.hook.bodies[0]["rule"] == "tool-errors", r.hook.bodies
    assert r.hook.bodies[0]["replica"] == "hub"
    p = monitor_cli("alerts", "--json", *url, *key)
    a = json.loads(p.stdout)
    assert p.returncode == 0 and a["rules"] == 1 and [x["rule"] for x in a["recent"]] == ["tool-errors"]
    prom = httpx.get(r.base + "/metrics", headers={"X-API-Key": r.keys["probe2"]}, timeout=30).text
    assert 'hyperion_relay_alerts_fired_total{rule="tool-errors"} 1.0' in prom
    assert re.search(r'hyperion_relay_tool_calls_total\{outcome="ok",tool="infer"\} ([0-9.]+)', prom)
    p = monitor_cli("logs", *url, *key)
    assert p.returncode == 0 and " alert " in p.stdout and " started " in p.stdout
    p = monitor_cli("status", "--follow", "--count", "2", "--interval", "0.3", *url, *key)
    assert p.returncode == 0 and p.stdout.count("in flight") == 2, p.stdout
    # a reset from one replica reaches them all
    assert monitor_cli("reset", *url, *key).returncode != 0  # an operator may not
    p = monitor_cli("reset", *url, "--key", r.keys["admin"])
    assert p.returncode == 0, p.stderr
    time.sleep(2.5)
    snap = json.loads(monitor_cli("status", "--json", *url, *key).stdout)
    assert "infer" not in snap["tools"] and snap["alerts"]["recent"] == []


def test_the_web_ui_and_its_live_monitoring_under_ray(ray_relay):
    """/ui and its endpoints come from the same app on every replica; /ws/monitoring pushes the merged view."""
    from websockets.sync.client import connect

    r = ray_relay
    page = httpx.get(r.base + "/ui/monitoring", timeout=30)
    assert page.status_code == 200 and "/ui/static/app.js" in page.text
    assert httpx.get(r.base + "/ui/wasm/micropython.wasm", timeout=30).headers["content-type"] == "application/wasm"
    doc = httpx.get(r.base + "/api/openapi.json", headers={"X-API-Key": r.keys["probe2"]}, timeout=30)
    assert doc.status_code == 200 and "/ws/monitoring" in doc.json()["paths"]
    ws_url = r.base.replace("http", "ws", 1) + "/ws/monitoring?api_key=" + r.keys["probe2"]
    with connect(ws_url, open_timeout=30) as ws:
        first, second = json.loads(ws.recv(timeout=30)), json.loads(ws.recv(timeout=30))
    assert first["engine"] == second["engine"] == "ray" and "scale" in second
    assert second["uptime_s"] >= first["uptime_s"]
    assert len(set(second["replicas"]) - {"hub"}) >= 2  # every replica's figures, whichever one answers


def monitoring(r, key):
    res = httpx.get(r.base + "/api/monitoring", headers={"X-API-Key": key}, timeout=30)
    assert res.status_code == 200, res.text
    return res.json()


def scale_lines(r):
    return [x for x in map(json.loads, r.audit.read_text().splitlines()) if x.get("tool") == "scale"]


def wait_for_decision(r, action, timeout):
    """The first scale decision of this kind, from the audit log (the hub writes it at once)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ds = [d for d in scale_lines(r) if d["outcome"] == action]
        if ds:
            return ds[0]
        time.sleep(0.5)
    last = httpx.get(r.base + "/api/monitoring", headers={"X-API-Key": r.keys["admin"]}, timeout=30).text[-3000:]
    raise AssertionError("no scale-%s decision within %ds:\n%s\n%s" % (action, timeout, "".join(r.lines[-30:]),
                                                                      last))


def test_the_policy_adds_a_replica_under_a_burst_and_removes_it_after_the_cooldown(ray_relay):
    """Runs last: the burst takes the app from its floor (2) to its ceiling (3), and back once it is over."""
    r = ray_relay
    stop, results = threading.Event(), []

    def load(key):
        while not stop.is_set():
            res = mcp_post(r.url, "generate", {"model": "lm", "prompt": "ab", "max_tokens": 400}, key=key)
            results.append((res.status_code, res.json().get("result", {}).get("isError", True)))
            if res.status_code != 200:
                return

    threads = [threading.Thread(target=load, args=(r.keys["load%d" % i],)) for i in range(LOAD_KEYS)]
    for t in threads:
        t.start()
    try:
        up = wait_for_decision(r, "up", 90)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert (up["replicas"]["from"], up["replicas"]["to"]) == (2, 3), up
    assert "in_flight_per_replica > 1.5" in up["reason"]
    down = wait_for_decision(r, "down", 90)
    assert (down["replicas"]["from"], down["replicas"]["to"]) == (3, 2), down
    assert "in_flight_per_replica < 0.5" in down["reason"]
    assert results and all(x == (200, False) for x in results), results  # no error through both scale events
    assert [(x["outcome"], x["replicas"]["from"], x["replicas"]["to"]) for x in scale_lines(r)] == [
        ("up", 2, 3), ("down", 3, 2)]
    m = monitoring(r, r.keys["probe2"])["scale"]
    assert m["counts"] == {"up": 1, "down": 1} and [d["action"] for d in m["decisions"]] == ["up", "down"]
    assert m["decisions"][1]["ts"] - m["decisions"][0]["ts"] >= 4  # the scale-down rule's cooldown
    assert m["target"] == 2
    prom = httpx.get(r.base + "/metrics", headers={"X-API-Key": r.keys["probe2"]}, timeout=30).text
    assert 'hyperion_relay_scale_decisions_total{action="up"} 1.0' in prom
    assert 'hyperion_relay_scale_decisions_total{action="down"} 1.0' in prom and "hyperion_relay_replicas_wanted 2.0" in prom
