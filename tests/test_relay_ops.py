"""The relay's operational side on real HTTP: /api/health, /api/monitoring, /metrics, the /ws/generate
WebSocket, the stdio transport (the SDK's stdio client against a real `hyperion-host serve --stdio`), and
serving with several workers."""

import json
import os
import sys
import time

import anyio
import httpx
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from test_relay_common import RelayProcess, http_client, mcp_post, models_dir_fixture, serve  # noqa: F401
from websockets.sync.client import connect as ws_connect

from hyperion_host.model.hyqfile import load_program

X = [[0.1] * 16]


def test_health_monitoring_and_metrics(models_dir, vboard):
    with serve(models_dir, server__boards=[vboard.name]) as s:
        h = httpx.get(s.base + "/api/health")
        assert h.status_code == 200
        h = h.json()
        assert h["live"] and h["ready"] and h["models"]["loaded"] == 2 and h["models"]["errors"] == {}
        assert h["boards"] == [{"name": vboard.name, "port": vboard.port, "present": True, "busy": False,
                                "last_error": None}]
        assert h["protocols"] == ["2026-07-28", "2025-11-25"]
        probe = httpx.get(s.base + "/api/health?probe=1").json()
        assert probe["boards"][0]["info"]["implementation"] == "micropython"
        for _ in range(3):
            assert mcp_post(s.url, "infer", {"model": "mlp", "input": X}).status_code == 200
        mcp_post(s.url, "infer", {"model": "nope", "input": X})
        mcp_post(s.url, "board_exec", {"board": vboard.name, "code": "print(1)"})
        mcp_post(s.url, "infer", {"model": "mlp", "input": X}, headers={"Origin": "http://evil.example"})
        m = httpx.get(s.base + "/api/monitoring").json()
        assert m["requests"] >= 6 and m["errors"] >= 1 and m["by_status"]["403"] == 1
        assert set(m["latency_ms"]) == {"p50", "p90", "p95", "p99", "samples"}
        assert m["latency_ms"]["p50"] <= m["latency_ms"]["p90"] <= m["latency_ms"]["p99"]
        assert m["tools"]["infer"]["calls"] == 4 and m["tools"]["infer"]["errors"] == 1
        assert m["boards"] == {vboard.name: {"calls": 1, "errors": 0}}
        assert m["fallbacks"] == 0 and m["models"] == 2
        assert any(e["event"] == "tool_error" and e["tool"] == "infer" for e in m["logs"])
        text = httpx.get(s.base + "/metrics").text
        assert 'hyperion_relay_tool_calls_total{outcome="ok",tool="infer"} 3.0' in text
        assert 'hyperion_relay_board_calls_total{board="%s",outcome="ok"} 1.0' % vboard.name in text
        assert "hyperion_relay_request_seconds_bucket" in text and "hyperion_relay_models_loaded 2.0" in text
    # not ready: a model that does not load; a board that went away
    bad = models_dir.parent / "badmodels"
    bad.mkdir(exist_ok=True)
    (bad / "broken.hyq").write_bytes(b"HYQ1 not really")
    with serve(bad) as s:
        r = httpx.get(s.base + "/api/health")
        assert r.status_code == 503 and not r.json()["ready"] and "broken" in r.json()["models"]["errors"]


def test_deeply_nested_json_is_a_400_not_a_500_and_keeps_the_websocket(models_dir):
    """5000-deep JSON in an MCP POST (both protocol eras) and on /ws/generate: a clear error, the relay and
    the socket stay up."""
    from test_relay_common import META, MODERN

    deep = "[" * 5000 + "]" * 5000
    with serve(models_dir) as s:
        for version in (MODERN, "2025-11-25"):
            h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": version}
            if version == MODERN:
                h.update({"Mcp-Method": "tools/call", "Mcp-Name": "list_models"})
            body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_models", ' \
                   '"arguments": {"x": %s}, "_meta": %s}}' % (deep, json.dumps(META))
            r = httpx.post(s.url, content=body, headers=h, timeout=30)
            assert r.status_code == 400 and "nested more than 64 deep" in r.text, (version, r.status_code, r.text)
        assert mcp_post(s.url, "list_models", {}).status_code == 200  # still serving
        with ws_connect(s.base.replace("http", "ws") + "/ws/generate") as ws:
            ws.send(deep)
            assert "nested at most 64 deep" in json.loads(ws.recv())["error"]
            ws.send(json.dumps({"model": "lm", "prompt": "Hi", "max_tokens": 1}))
            assert json.loads(ws.recv())["index"] == 0  # the same socket still answers


def test_a_client_that_sends_its_body_slowly_is_cut_off(models_dir):
    """A slowloris: headers, then a body that never comes. limits.read_timeout answers 408 and frees the
    connection; limits.idle_timeout and max_connections reach uvicorn."""
    import socket

    with serve(models_dir, limits__read_timeout=1, limits__idle_timeout=2, limits__max_connections=8) as s:
        assert s.config.timeout_keep_alive == 2 and s.config.limit_concurrency == 8
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"jsonrpc\"")
        t0 = time.monotonic()
        reply = c.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive within 1" in reply, reply
        assert time.monotonic() - t0 < 5
        c.close()
        assert mcp_post(s.url, "list_models", {}).status_code == 200  # the relay still serves


def test_websocket_streams_tokens(models_dir):
    prog, _ = load_program(str(models_dir / "lm.hyq"))
    with serve(models_dir) as s:
        with ws_connect(s.base.replace("http", "ws") + "/ws/generate") as ws:
            ws.send(json.dumps({"model": "lm", "prompt": "Hi", "max_tokens": 6}))
            msgs = [json.loads(ws.recv()) for _ in range(7)]
            assert [m["index"] for m in msgs[:6]] == list(range(6))
            assert msgs[6]["done"] and msgs[6]["tokens"] == 6
            assert bytes(m["id"] for m in msgs[:6]).decode("utf-8", "replace") == msgs[6]["text"]
            ws.send(json.dumps({"model": "mlp", "prompt": "x"}))
            assert "not a text model" in json.loads(ws.recv())["error"]
            ws.send("not json")
            assert "error" in json.loads(ws.recv())
            ws.send(json.dumps({"model": "lm", "prompt": "Hi", "max_tokens": 2, "temperature": 1.0, "seed": 3}))
            assert json.loads(ws.recv())["index"] == 0
        m = httpx.get(s.base + "/api/monitoring").json()
        assert m["tools"]["ws_generate"]["calls"] >= 2 and m["by_route"]["ws"] == 1


def test_stdio_transport_with_the_sdk_client(models_dir):
    params = StdioServerParameters(command=os.path.join(os.path.dirname(sys.executable), "hyperion-host"),
                                   args=["serve", "--stdio", "--models", str(models_dir)],
                                   env=dict(os.environ))

    async def main():
        async with Client(params) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            assert {"infer", "generate", "board_exec"} <= tools
            r = await c.call_tool("infer", {"model": "mlp", "input": X})
            assert not r.is_error and r.structured_content["outputs"][0]["shape"] == [1, 4]
            seen = []

            async def progress(p, total, message):
                seen.append(p)

            r = await c.call_tool("generate", {"model": "lm", "prompt": "ok", "max_tokens": 3},
                                  progress_callback=progress)
            assert r.structured_content["tokens"] == 3 and seen == [1, 2, 3]
    anyio.run(main)


def test_two_workers_serve_both_protocols(tmp_path, models_dir):
    with RelayProcess("--models", str(models_dir), "--workers", "2") as p:
        assert "with 2 workers" in "".join(p.lines)

        async def main():
            for mode in ("auto", "legacy"):
                async with http_client(p.url, mode=mode) as c:
                    for _ in range(4):
                        assert not (await c.call_tool("infer", {"model": "mlp", "input": X})).is_error
        anyio.run(main)


def test_models_in_their_own_folders_are_served_and_a_second_name_is_a_fault(models_dir, tmp_path):
    """--models models/ serves the repository's layout (models/digits/digits.hyq); two files with one name: the
    first is served, the other is a named fault."""
    import shutil

    from hyperion_host.relay.models import ModelStore

    d = tmp_path / "m"
    (d / "mlp").mkdir(parents=True)
    (d / "again").mkdir()
    shutil.copy(models_dir / "mlp.hyq", d / "mlp" / "mlp.hyq")
    shutil.copy(models_dir / "mlp.hyq", d / "again" / "mlp.hyq")
    (d / "deeper" / "x").mkdir(parents=True)
    shutil.copy(models_dir / "mlp.hyq", d / "deeper" / "x" / "deep.hyq")  # two levels down: not looked at
    store = ModelStore(str(d))
    assert sorted(store.models) == ["mlp"] and str(store.models["mlp"].path) == str(d / "again" / "mlp.hyq")
    assert list(store.errors.values()) == ["another model is named mlp: rename one"]
