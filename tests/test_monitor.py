"""The relay's monitoring center on a real relay (uvicorn on loopback, keys, real models): the in-flight gauge,
alert rules (hits, cooldown, /api/monitoring, /metrics, the log, a webhook received by a real HTTP server),
their hot reload and config errors, the admin reset, board-side stats (a board client on the MicroPython unix
port; board_infer on a vboard), mergeable exports, and `hyperion-host monitor` run as a subprocess."""

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_relay_common import (  # noqa: F401
    ThreadedRelay,
    board_code,
    config,
    keys,
    last_json,
    mcp_post,
    models_dir_fixture,
    serve,
)
from websockets.sync.client import connect as ws_connect

from hyperion_host.errors import HyperionError
from hyperion_host.relay import config as C
from hyperion_host.relay.alerts import Alerts
from hyperion_host.relay.monitoring import Monitor, merge, percentiles, prometheus_of, snapshot_of

from helpers import BIN, assert_user_error

X = [[0.1] * 16]
REPO = Path(__file__).resolve().parent.parent


class Hook:
    """A webhook receiver on loopback (a real HTTP server in a thread): records each POST's JSON body. GET
    answers text that is not JSON (for the CLI's error)."""

    def __init__(self):
        bodies = self.bodies = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self._answer(b"ok")

            def do_GET(self):
                self._answer(b"<html>not a relay</html>")

            def _answer(self, body):
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.url = self.base + "/hooks/relay"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def write_config(path, rules, webhook=None, interval=0.2):
    lines = ["[monitoring]", "alert_interval = %s" % interval]
    if webhook:
        lines.append("webhook = %s" % json.dumps(webhook))
    for r in rules:
        lines.append("\n[[monitoring.alerts]]")
        lines += ["%s = %s" % (k, json.dumps(v)) for k, v in r.items()]
    path.write_text("\n".join(lines) + "\n")


def wait(cond, timeout=8):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met within %ss" % timeout)


def monitoring(s, key=None):
    return httpx.get(s.base + "/api/monitoring", headers={"X-API-Key": key} if key else {}).json()


def metrics(s, key=None):
    """{(name, labels...): value} from /metrics, parsed with prometheus_client's own parser."""
    text = httpx.get(s.base + "/metrics", headers={"X-API-Key": key} if key else {}).text
    return samples(text)


def samples(text):
    return {(x.name,) + tuple(sorted(x.labels.items())): x.value
            for f in text_string_to_metric_families(text) for x in f.samples}


def test_in_flight_counts_requests_and_websockets_being_served(models_dir):
    with serve(models_dir) as s:
        assert metrics(s)[("hyperion_relay_in_flight",)] == 0.0  # a scrape does not count itself
        with ws_connect(s.base.replace("http", "ws") + "/ws/generate") as ws:
            ws.send(json.dumps({"model": "lm", "prompt": "Hi", "max_tokens": 1}))
            ws.recv()
            assert metrics(s)[("hyperion_relay_in_flight",)] == 1.0
            assert monitoring(s)["in_flight"] == 1
        wait(lambda: monitoring(s)["in_flight"] == 0)
        m = metrics(s)
        assert m[("hyperion_relay_latency_ms", ("quantile", "0.5"))] > 0


def test_an_alert_fires_after_its_hits_respects_its_cooldown_and_is_reported_everywhere(tmp_path, models_dir):
    kf, k = keys(tmp_path, "viewer", "admin")
    hook = Hook()
    cfg = tmp_path / "relay.toml"
    rule = {"name": "http-errors", "metric": "errors_total", "op": "gt", "value": 0, "hits": 2, "cooldown": 1.5,
            "severity": "critical"}
    write_config(cfg, [rule], hook.url)
    try:
        audit = tmp_path / "audit.jsonl"
        with ThreadedRelay(config(models_dir, _path=str(cfg), auth__keys_file=kf, auth__audit_log=str(audit))) as s:
            v = k["viewer"]
            wait(lambda: monitoring(s, v)["alerts"]["evaluations"] >= 3)
            a = monitoring(s, v)["alerts"]
            assert a["rules"] == 1 and a["active"] == [] and a["recent"] == []  # no errors yet: nothing
            t_err = time.time()
            assert httpx.get(s.base + "/nope", headers={"X-API-Key": v}).status_code == 404
            first = wait(lambda: monitoring(s, v)["alerts"]["recent"])[0]
            # two checks in a row over the threshold: the first saw it, the next one fired
            assert first["rule"] == "http-errors" and first["hits"] == 2 and first["value"] >= 1
            assert first["since"] >= t_err - 0.01 and first["ts"] - first["since"] >= 0.15
            assert first["severity"] == "critical" and first["text"].startswith("errors_total > 0")
            while time.time() < first["ts"] + 1.2:  # still over, but cooling down
                time.sleep(0.1)
            a = monitoring(s, v)["alerts"]
            assert len(a["recent"]) == 1 and a["active"][0]["rule"] == "http-errors"
            second = wait(lambda: monitoring(s, v)["alerts"]["recent"][1:])[0]
            assert second["ts"] - first["ts"] >= 1.5
            m = metrics(s, v)
            assert m[("hyperion_relay_alerts_fired_total", ("rule", "http-errors"))] == 2.0
            assert m[("hyperion_relay_alert_active", ("rule", "http-errors"))] == 1.0
            logs = [e for e in monitoring(s, v)["logs"] if e["event"] == "alert"]
            assert logs[0]["level"] == "critical" and logs[0]["rule"] == "http-errors" and logs[0]["hits"] == 2
            wait(lambda: len(hook.bodies) == 2)
            assert [b["ts"] for b in hook.bodies] == [first["ts"], second["ts"]]
            assert hook.bodies[0]["type"] == "alert" and hook.bodies[0]["replica"] == monitoring(s, v)["replica"]
            # reset (admin): counters, samples, logs and alert history go; Prometheus counters do not
            before = sum(x for key, x in metrics(s, v).items() if key[0] == "hyperion_relay_requests_total")
            r = httpx.post(s.base + "/api/monitoring/reset", headers={"X-API-Key": v})
            assert r.status_code == 403 and "needs role admin" in r.json()["message"]
            assert httpx.post(s.base + "/api/monitoring/reset", headers={"X-API-Key": k["admin"]}).json()["reset"]
            m = monitoring(s, v)
            assert m["requests"] <= 2 and m["alerts"]["recent"] == [] and m["tools"] == {}
            assert [e["event"] for e in m["logs"]] == ["monitoring_reset"]
            after = sum(x for key, x in metrics(s, v).items() if key[0] == "hyperion_relay_requests_total")
            assert after > before
            s.relay.audit.flush()
            lines = [json.loads(x) for x in audit.read_text().splitlines()]
            assert [x["key"] for x in lines if x.get("action") == "monitoring_reset"] == [k["admin"].split("_")[1]]
    finally:
        hook.close()


def test_alert_rules_reload_with_the_config_file(tmp_path, models_dir):
    cfg = tmp_path / "relay.toml"
    write_config(cfg, [{"name": "http-errors", "metric": "errors", "op": "gt", "value": 0}])
    with ThreadedRelay(config(models_dir, _path=str(cfg))) as s:
        wait(lambda: monitoring(s)["alerts"]["evaluations"] >= 1)
        # new rules and a webhook that is down: the alert fires, the failed POST is logged, the relay serves on
        write_config(cfg, [{"name": "models-up", "metric": "models_loaded", "op": "eq", "value": 2,
                            "severity": "info"}], "http://127.0.0.1:9/hook?token=s3cret")
        wait(lambda: any(e["event"] == "reloaded" and "monitoring.alerts" in e["changed"]
                         for e in monitoring(s)["logs"]))
        ev = wait(lambda: monitoring(s)["alerts"]["recent"])[0]
        assert ev["rule"] == "models-up" and ev["value"] == 2 and monitoring(s)["alerts"]["rules"] == 1
        fail = wait(lambda: [e for e in monitoring(s)["logs"] if e["event"] == "webhook_failed"])[0]
        assert fail["target"] == "http://127.0.0.1:9" and fail["rule"] == "models-up"
        assert "s3cret" not in json.dumps(monitoring(s)["logs"])  # the URL's path and query are not logged
        m = metrics(s)
        assert m[("hyperion_relay_alert_active", ("rule", "models-up"))] == 1.0
        assert m[("hyperion_relay_alert_active", ("rule", "http-errors"))] == 0.0
        # a broken rule: reported, the last good rules stay
        write_config(cfg, [{"name": "x", "metric": "errors", "op": "ge", "value": 0}])
        bad = wait(lambda: [e for e in monitoring(s)["logs"] if e["event"] == "reload_failed"])[0]
        assert "'monitoring.alerts[0].op' must be gt, lt or eq, not 'ge'" in bad["error"]
        assert [r.name for r in s.relay.alerts.rules] == ["models-up"]


@pytest.mark.parametrize("rule, message", [
    ({"metric": "errors", "op": "gt", "value": 1}, "'monitoring.alerts[0]' needs 'name'"),
    ({"name": "a", "metric": "errors", "op": "ge", "value": 1}, "'monitoring.alerts[0].op' must be gt, lt or eq"),
    ({"name": "a", "metric": "nosuch", "op": "gt", "value": 1}, "'monitoring.alerts[0].metric' must be a metric"),
    ({"name": "a", "metric": "tool.infer.bogus", "op": "gt", "value": 1}, "'monitoring.alerts[0].metric'"),
    ({"name": "a", "metric": "errors", "op": "gt", "value": "1"}, "'monitoring.alerts[0].value' must be a number"),
    ({"name": "a", "metric": "errors", "op": "gt", "value": 1, "hits": 0}, "'monitoring.alerts[0].hits' must be"),
    ({"name": "a", "metric": "errors", "op": "gt", "value": 1, "cooldown": -1}, "'monitoring.alerts[0].cooldown'"),
    ({"name": "a", "metric": "errors", "op": "gt", "value": 1, "severity": "bad"}, "info, warning or critical"),
    ({"name": "a", "metric": "errors", "op": "gt", "value": 1, "for": 2}, "unknown key 'monitoring.alerts[0].for'"),
])
def test_a_bad_alert_rule_is_a_one_line_error_naming_the_file_rule_and_key(tmp_path, rule, message):
    cfg = tmp_path / "relay.toml"
    write_config(cfg, [rule])
    with pytest.raises(HyperionError) as e:
        C.load(str(cfg), environ={})
    text = e.value.format_message()
    assert text.startswith(str(cfg) + ": ") and message in text and "\n" not in text, text


def test_other_monitoring_config_errors(tmp_path):
    cfg = tmp_path / "relay.toml"
    ok = {"name": "a", "metric": "errors", "op": "gt", "value": 1}
    write_config(cfg, [ok, dict(ok, metric="latency_p95_ms")])
    with pytest.raises(HyperionError, match=r"'monitoring.alerts\[1\].name' 'a' is used by an earlier rule"):
        C.load(str(cfg), environ={})
    for text, message in (("[monitoring]\nwebhook = \"ftp://x/y\"\n", "'monitoring.webhook' must be an http://"),
                          ("[monitoring]\nalert_interval = 0\n", "'monitoring.alert_interval' must be seconds"),
                          ("[monitoring]\nalerts = 3\n", "'monitoring.alerts' must be a list")):
        cfg.write_text(text)
        with pytest.raises(HyperionError, match=message):
            C.load(str(cfg), environ={})
    # from the environment as JSON; HYPERION_RELAY_URL (the monitor CLI's) is not a relay setting
    env = {"HYPERION_RELAY_MONITORING_ALERTS": json.dumps([ok]), "HYPERION_RELAY_URL": "http://127.0.0.1:1"}
    assert C.load(None, environ=env)["monitoring"]["alerts"] == [ok]


def test_alerts_evaluate_hits_cooldown_and_ops():
    mon = Monitor(replica="t")
    rules = [{"name": "e", "metric": "errors", "op": "gt", "value": 0, "hits": 2, "cooldown": 10},
             {"name": "models", "metric": "models_loaded", "op": "eq", "value": 0},
             {"name": "fast", "metric": "latency_p95_ms", "op": "lt", "value": 5, "cooldown": 0},
             {"name": "ghost", "metric": "tool.nope.errors", "op": "eq", "value": 0}]
    al = Alerts(rules)

    def check(t, *statuses):
        for st in statuses:
            mon.request("mcp", st, 0.002)
        return sorted(ev["rule"] for ev in al.evaluate(mon.snapshot(), t))

    assert check(0) == ["models"]  # no samples yet: "fast" has no value and cannot fire; "ghost" never
    assert check(1, 500) == ["fast"]  # errors: one check over, two needed
    assert check(2, 500) == ["e", "fast"]
    assert {a["rule"]: a["hits"] for a in al.active()} == {"e": 2, "models": 3, "fast": 2}
    assert check(3, 500) == ["fast"]  # e still over but cooling down (10 s)
    assert check(4) == ["fast"] and "e" in al.resolved  # no new errors in this interval: e went back under
    assert check(5, 500) == ["fast"] and check(6, 500) == ["fast"]  # two hits again, within the cooldown
    assert check(12.5, 500) == ["e", "fast"]
    assert [ev["rule"] for ev in al.history].count("e") == 2
    # the error rate over the interval, and a reload that keeps unchanged rules' state
    al.update([rules[0], {"name": "rate", "metric": "error_rate", "op": "gt", "value": 0.4}])
    assert check(13, 200, 500) == ["rate"]
    assert check(14, 200, 200, 200) == [] and al.evaluations == 10
    assert {a["rule"] for a in al.active()} == set()
    al.clear()
    assert not al.history and al.summary()["active"] == []


def test_merged_exports_sum_counts_and_take_percentiles_over_both(tmp_path):
    a, b = Monitor(10, 100, replica="a"), Monitor(10, 100, replica="b")
    for ms in (1, 2, 3, 4):
        a.request("mcp", 200, ms / 1000)
    for ms in (10, 20, 30, 40, 50, 60):
        b.request("mcp", 500 if ms == 60 else 200, ms / 1000)
    a.tool("infer", True, 0.001)
    b.tool("infer", False, 0.003)
    a.in_flight, b.in_flight = 2, 3
    a.log("info", "one")
    a.client_report("board-1", {"fallback": 1, "mem_free": 5000})
    time.sleep(0.01)
    b.log("warning", "two")
    b.client_report("board-1", {"fallback": 4, "mem_free": 4000})  # the same board, later: counted once
    ea, eb = a.export(), b.export()
    m = merge([json.loads(json.dumps(ea)), eb])  # exports are plain JSON
    snap = snapshot_of(m)
    assert set(snap) == set(a.snapshot())
    assert snap["requests"] == 10 and snap["errors"] == 1 and snap["in_flight"] == 5
    assert snap["by_status"] == {"200": 9, "500": 1} and snap["replicas"] == ["a", "b"]
    both = [ms / 1000 for ms in (1, 2, 3, 4, 10, 20, 30, 40, 50, 60)]
    assert snap["latency_ms"] == dict(percentiles(both), samples=10) and snap["latency_ms"]["p50"] == 10.0
    assert snap["tools"]["infer"]["calls"] == 2 and snap["tools"]["infer"]["errors"] == 1
    assert snap["fallbacks"] == 4 and snap["clients"]["board-1"]["mem_free"] == 4000
    assert [r["event"] for r in snap["logs"]] == ["one", "two"]
    prom = samples(prometheus_of(m).decode())
    assert prom[("hyperion_relay_requests_total", ("route", "mcp"), ("status", "200"))] == 9
    assert prom[("hyperion_relay_in_flight",)] == 5 and prom[("hyperion_relay_replicas",)] == 2
    assert prom[("hyperion_relay_latency_ms", ("quantile", "0.5"))] == 10.0
    assert prom[("hyperion_relay_tool_calls_total", ("outcome", "error"), ("tool", "infer"))] == 1
    # full windows: each keeps its share of the merged window, its newest samples
    c, d = Monitor(10, 4), Monitor(10, 4)
    for i in range(6):
        c.request("mcp", 200, i)
        d.request("mcp", 200, 10 + i)
    assert sorted(merge([c.export(), d.export()])["latency"]) == [4, 5, 14, 15]
    # reset forgets all but what is live
    a.reset()
    s = a.snapshot()
    assert s["requests"] == 0 and s["logs"] == [] and s["clients"] == {} and s["in_flight"] == 2


CLIENT = """
import json, hyperion
from hyperion.hybrid import Runtime
hyperion.configure(model_dirs=[%(dir)r])
rt = Runtime("local", url=%(url)r, api_key=%(key)r, timeout=10, retries=0)
for i in range(5):
    rt.run("mlp", %(x)r)
before = rt.report()
rt.policy = "remote"
rt.run("mlp", %(x)r)
print(json.dumps({"id": rt.client().client_id, "report": before, "counts": rt.counts}))
"""


def test_a_board_client_reports_its_heap_latency_and_kernels(tmp_path, models_dir):
    kf, k = keys(tmp_path, "operator", "viewer")
    with serve(models_dir, auth__keys_file=kf) as s:
        r = board_code(CLIENT % {"dir": str(models_dir), "url": s.url, "key": k["operator"], "x": X[0]})
        assert r.ok, r.stderr + r.stdout
        out = last_json(r.stdout)
        c = monitoring(s, k["viewer"])["clients"][out["id"]]
        mine = out["report"]
        assert c["local"] == 5 and c["remote"] == 0 and c["fallback"] == 0 and c["runs"] == 5
        assert 0 < c["p50_ms"] <= c["p95_ms"] and c["p50_ms"] == round(mine["p50_ms"], 3)
        assert isinstance(c["mem_free"], int) and c["mem_free"] > 0 and c["kernels"] in ("c", "viper", "python")
        # what a client sends is checked: wrong types, huge numbers and odd strings are dropped
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.hyperion/client": {"id": "evil", "local": True, "remote": -1, "fallback": 3, "mem_free": "lots",
                                       "p50_ms": 1e300, "p95_ms": "x",
                                       "kernels": "<script>", "extra": "x" * 10000}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "list_models", "arguments": {}, "_meta": meta}}
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "list_models",
             "X-API-Key": k["viewer"]}
        assert httpx.post(s.url, content=json.dumps(body), headers=h).status_code == 200
        evil = monitoring(s, k["viewer"])["clients"]["evil"]
        assert set(evil) == {"fallback", "ts"} and evil["fallback"] == 3


def test_board_infer_records_the_boards_own_figures(models_dir, vboard):
    with serve(models_dir, server__boards=[vboard.name]) as s:
        r = mcp_post(s.url, "board_infer", {"board": vboard.name, "model": "mlp", "input": X})
        stats = r.json()["result"]["structuredContent"]["stats"]
        b = monitoring(s)["boards"][vboard.name]
        assert b["calls"] == 1 and b["infer"]["runs"] == 1 and b["infer"]["model"] == "mlp"
        assert b["infer"]["latency_ms"]["last"] == round(stats["latency_us"] / 1000, 3)
        assert b["infer"]["peak_heap_bytes"] == stats["peak_heap_bytes"] > 0
        assert sum(b["infer"]["kernels"].values()) == len(stats["kernels"])


def monitor_cli(*args):
    """`hyperion-host monitor ARGS` with neither HYPERION_RELAY_URL nor HYPERION_API_KEY set."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYPERION_RELAY_URL", "HYPERION_API_KEY")}
    return subprocess.run([os.path.join(BIN, "hyperion-host"), "monitor", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def interrupted(args, env):
    """Run a --follow command until it prints, then Ctrl-C it: (exit code, stdout, stderr)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = p.stdout.readline()  # it is following now
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    return p.returncode, first + out, err


def test_the_monitor_cli_against_a_running_relay(tmp_path, models_dir):
    kf, k = keys(tmp_path, "viewer", "operator", "admin")
    cfg = tmp_path / "relay.toml"
    write_config(cfg, [{"name": "models-up", "metric": "models_loaded", "op": "gt", "value": 1}])
    with ThreadedRelay(config(models_dir, _path=str(cfg), auth__keys_file=kf)) as s:
        for _ in range(3):
            mcp_post(s.url, "infer", {"model": "mlp", "input": X}, key=k["operator"])
        wait(lambda: monitoring(s, k["viewer"])["alerts"]["recent"])
        url = ("--url", s.base)
        v = ("--key", k["viewer"])
        p = monitor_cli("status", "--json", *url, *v)
        snap = json.loads(p.stdout)
        assert p.returncode == 0 and snap["tools"]["infer"]["calls"] == 3 and "in_flight" in snap
        p = monitor_cli("status", *url, *v)
        assert p.returncode == 0 and "in flight" in p.stdout and "infer" in p.stdout and "models-up" in p.stdout
        p = monitor_cli("logs", *url, *v)
        assert p.returncode == 0 and " info     started " in p.stdout and " alert " in p.stdout
        p = monitor_cli("logs", "--level", "warning", "--json", *url, *v)
        assert p.returncode == 0 and all(json.loads(x)["level"] != "info" for x in p.stdout.splitlines())
        p = monitor_cli("alerts", "--json", *url, *v)
        a = json.loads(p.stdout)
        assert p.returncode == 0 and a["rules"] == 1 and a["active"][0]["rule"] == "models-up"
        p = monitor_cli("status", "--follow", "--count", "2", "--interval", "0.2", *url, *v)
        assert p.returncode == 0 and p.stdout.count("in flight") == 2, p.stdout
        p = monitor_cli("status", "--follow", "--count", "2", "--interval", "0.2", "--json", *url, *v)
        assert p.returncode == 0 and [json.loads(x)["replica"] for x in p.stdout.splitlines()] == [snap["replica"]] * 2
        p = monitor_cli("alerts", "--follow", "--count", "1", *url, *v)
        assert p.returncode == 0 and "models-up: models_loaded > 1" in p.stdout
        # the key from the environment; Ctrl-C ends a --follow cleanly
        env = dict(os.environ, HYPERION_RELAY_URL=s.base, HYPERION_API_KEY=k["viewer"])
        code, out, err = interrupted([os.path.join(BIN, "hyperion-host"), "monitor", "logs", "--follow"], env)
        assert code == 0 and "started" in out and "Traceback" not in err, err
        # errors: one line, non-zero exit
        assert_user_error(monitor_cli("reset", *url, "--key", k["operator"]), "needs role admin",
                          "has role operator")
        assert_user_error(monitor_cli("reset", *url, *v), "needs role admin")
        assert_user_error(monitor_cli("status", *url), "wants a valid API key", "HYPERION_API_KEY")
        assert_user_error(monitor_cli("status", "--url", "http://127.0.0.1:9"), "cannot reach the relay",
                          "Connection refused")
        assert_user_error(monitor_cli("status", "--count", "2", *url, *v), "--count goes with --follow")
        p = monitor_cli("reset", *url, "--key", k["admin"])
        assert p.returncode == 0 and "reset the monitoring" in p.stdout
        assert monitoring(s, k["viewer"])["tools"] == {}
    hook = Hook()
    try:
        assert_user_error(monitor_cli("status", "--url", hook.base), "not the relay's JSON")
    finally:
        hook.close()


def test_the_monitor_commands_in_the_docs_run_verbatim(tmp_path, models_dir):
    """docs/monitoring.md's `hyperion-host monitor` commands (the docs tour leaves them out: they need a relay)
    against a running relay, with HYPERION_RELAY_URL and HYPERION_API_KEY (admin) set; --follow ones get a Ctrl-C."""
    from test_readme_tour import commands

    cmds = [c for c in commands((REPO / "docs" / "monitoring.md").read_text())
            if c.startswith("hyperion-host monitor ")]
    assert len(cmds) >= 6
    kf, k = keys(tmp_path, "admin")
    rules = [{"name": "models-up", "metric": "models_loaded", "op": "gt", "value": 1}]
    with serve(models_dir, auth__keys_file=kf, monitoring__alerts=rules, monitoring__alert_interval=0.1) as s:
        assert httpx.get(s.base + "/api/health", headers={"X-API-Key": "hyk_x_y"}).status_code == 401  # a warning
        wait(lambda: monitoring(s, k["admin"])["alerts"]["recent"])  # an alert: each --follow has something to show
        env = dict(os.environ, HYPERION_RELAY_URL=s.base, HYPERION_API_KEY=k["admin"])
        for cmd in cmds:
            args = [os.path.join(BIN, "hyperion-host")] + shlex.split(cmd)[1:]
            if "--follow" in args and "--count" not in args:
                code, out, err = interrupted(args, env)
            else:
                p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
                code, out, err = p.returncode, p.stdout, p.stderr
            assert code == 0 and "Traceback" not in err, (cmd, out, err)
