"""The relay's MCP tools through the official SDK client: in-process (`Client(server)`, both eras) and over
real HTTP on loopback (uvicorn), 2026-07-28 and the 2025-11-25 handshake; board tools on a real vboard."""

import base64
import json

import anyio
import numpy as np
import pytest
from mcp.client import Client
from test_relay_common import LEGACY, MODERN, ThreadedRelay, http_client, keys, mcp_post, models_dir_fixture, serve  # noqa: F401

from hyperion_host.model.hyqfile import load_program
from hyperion_host.relay import config as C
from hyperion_host.relay.server import Relay
from hyperion_host.relay.tools import tool_names

X = [[0.25 * (i % 5) - 0.5 for i in range(16)]]


def reference(models_dir, x=X):
    prog, _ = load_program(str(models_dir / "mlp.hyq"))
    return prog.run({"x": np.asarray(x, np.float32)})["y"]


@pytest.fixture(scope="module")
def relay(models_dir, vboard):
    return Relay(C.load(overrides={("server", "models"): str(models_dir), ("server", "boards"): [vboard.name]},
                        environ={}))


@pytest.fixture(scope="module")
def http(relay):
    with ThreadedRelay(relay=relay) as t:  # this very relay (its vboard and models) over real HTTP
        yield t


def run(coro):
    return anyio.run(coro)


def sc(res):
    assert not res.is_error, res.content
    assert json.loads(res.content[-1].text) == res.structured_content  # the same JSON as text and structured
    return res.structured_content


# -- in-process, both protocol eras ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_inference_tools_in_process(relay, models_dir, mode):
    async def main():
        async with Client(relay.mcp, mode=mode) as c:
            assert c.protocol_version == (MODERN if mode == "auto" else LEGACY)
            names = {t.name for t in (await c.list_tools()).tools}
            assert names == {"list_models", "model_info", "infer", "generate", "model_profile", "board_list",
                             "board_exec", "board_script", "board_infer", "board_files", "board_status",
                             "board_rollback"}
            assert names == set(tool_names())
            ms = sc(await c.call_tool("list_models", {}))
            assert {m["name"]: m["text"] for m in ms["models"]} == {"mlp": False, "lm": True}
            info = sc(await c.call_tool("model_info", {"model": "mlp"}))
            assert info["inputs"] == [{"name": "x", "shape": [1, 16], "dtype": "float32"}]
            assert info["arena_bytes"] > 0 and info["quant"]["bits"] == 4
            r = sc(await c.call_tool("infer", {"model": "mlp", "input": X}))
            out = r["outputs"][0]
            assert out["name"] == "y" and out["shape"] == [1, 4]
            np.testing.assert_array_equal(np.asarray(out["values"], np.float32), reference(models_dir))
            # base64 in, base64 out
            data = base64.b64encode(np.asarray(X, "<f4").tobytes()).decode()
            r = sc(await c.call_tool("infer", {"model": "mlp", "data": data, "dtype": "float32", "shape": [1, 16],
                                               "output_format": "base64"}))
            y = np.frombuffer(base64.b64decode(r["outputs"][0]["data"]), "<f4").reshape(1, 4)
            np.testing.assert_array_equal(y, reference(models_dir))
            # one-line errors as tool errors
            bad = await c.call_tool("infer", {"model": "mlp", "input": [[1, 2, 3]]})
            assert bad.is_error and "expects shape [1, 16]" in bad.content[0].text
            bad = await c.call_tool("infer", {"model": "nope", "input": X})
            assert bad.is_error and "unknown model 'nope' (models: lm, mlp)" in bad.content[0].text
            bad = await c.call_tool("generate", {"model": "mlp", "prompt": "hi"})
            assert bad.is_error and "not a text model" in bad.content[0].text
    run(main)


def test_generate_greedy_matches_the_host_runtime_and_streams_progress(relay, models_dir):
    prog, _ = load_program(str(models_dir / "lm.hyq"))

    def greedy(prompt, n):
        toks = list(prompt.encode())
        for _ in range(n):
            w = toks[-8:]
            x = np.zeros((1, 8), np.int64)
            x[0, :len(w)] = w
            toks.append(int(np.argmax(prog.run({"tokens": x})["logits"][0, len(w) - 1, :256])))
        return bytes(toks[len(prompt.encode()):]).decode("utf-8", "replace")

    async def main():
        async with Client(relay.mcp) as c:
            seen = []

            async def progress(p, total, message):
                seen.append((p, total, message))

            r = sc(await c.call_tool("generate", {"model": "lm", "prompt": "Hello, board", "max_tokens": 12},
                                     progress_callback=progress))
            assert r["tokens"] == 12 and r["text"] == greedy("Hello, board", 12)
            assert [p for p, _, _ in seen] == list(range(1, 13)) and all(t == 12 for _, t, _ in seen)
            # sampled: seeded, so repeatable; different seeds differ
            a = sc(await c.call_tool("generate", {"model": "lm", "prompt": "x", "max_tokens": 16,
                                                  "temperature": 1.5, "seed": 7}))
            b = sc(await c.call_tool("generate", {"model": "lm", "prompt": "x", "max_tokens": 16,
                                                  "temperature": 1.5, "seed": 7}))
            d = sc(await c.call_tool("generate", {"model": "lm", "prompt": "x", "max_tokens": 16,
                                                  "temperature": 1.5, "seed": 8, "top_k": 5}))
            assert a["text"] == b["text"] and a["text"] != d["text"]
            # the board's sampler: top_p 1e-6 keeps only the best byte (greedy); a repeat penalty changes choices
            p = sc(await c.call_tool("generate", {"model": "lm", "prompt": "Hello, board", "max_tokens": 12,
                                                  "temperature": 1.0, "top_p": 1e-6, "seed": 1}))
            assert p["text"] == r["text"]
            q = sc(await c.call_tool("generate", {"model": "lm", "prompt": "Hello, board", "max_tokens": 12,
                                                  "repetition_penalty": 3.0}))
            assert q["text"] != r["text"]
            bad = await c.call_tool("generate", {"model": "lm", "prompt": "x", "top_p": 0})
            assert bad.is_error and "top_p" in bad.content[0].text
            # a million tokens is refused at once (limits.max_tokens), not generated for a client that is gone
            big = await c.call_tool("generate", {"model": "lm", "prompt": "x", "max_tokens": 1000000})
            assert big.is_error and "over this relay's limit of 1024 tokens" in big.content[0].text
    run(main)


def test_an_unforeseen_tool_fault_is_answered_audited_and_counted(relay, monkeypatch):
    """An exception no tool expects (here from the runtime) is an error result, not a dropped request, and it
    shows in the audit log and the per-tool error counters."""
    from hyperion_host.relay import models as M

    def boom(entry, feeds):
        raise RuntimeError("boom")

    monkeypatch.setattr(M, "run", boom)
    seen = []
    monkeypatch.setattr(relay.audit, "write", lambda **rec: seen.append(rec))
    before = relay.monitor.snapshot()["tools"].get("infer", {}).get("errors", 0)

    async def main():
        async with Client(relay.mcp) as c:
            r = await c.call_tool("infer", {"model": "mlp", "input": [[0.1] * 16]})
            assert r.is_error and "internal error in infer (RuntimeError: boom)" in r.content[0].text
    run(main)
    assert relay.monitor.snapshot()["tools"]["infer"]["errors"] == before + 1
    assert seen and seen[-1]["tool"] == "infer" and seen[-1]["outcome"] == "error" and "boom" in seen[-1]["error"]


# -- over real HTTP: every tool, both eras ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_every_tool_over_http(http, vboard, models_dir, mode):
    async def main():
        async with http_client(http.url, mode=mode) as c:
            assert c.protocol_version == (MODERN if mode == "auto" else LEGACY)
            assert {m["name"] for m in sc(await c.call_tool("list_models", {}))["models"]} == {"mlp", "lm"}
            assert sc(await c.call_tool("model_info", {"model": "lm"}))["text"] == {"tokenizer": "bytes"}
            r = sc(await c.call_tool("infer", {"model": "mlp", "input": X}))
            np.testing.assert_array_equal(np.asarray(r["outputs"][0]["values"], np.float32), reference(models_dir))
            g = sc(await c.call_tool("generate", {"model": "lm", "prompt": "ab", "max_tokens": 4}))
            assert g["tokens"] == 4
            boards = sc(await c.call_tool("board_list", {}))["boards"]
            assert [(b["name"], b["port"], b["present"]) for b in boards] == [(vboard.name, vboard.port, True)]
            e = sc(await c.call_tool("board_exec", {"board": vboard.name, "code": "import sys\nprint(sys.platform, 6*7)"}))
            assert e["stdout"].strip() == "linux 42" and e["traceback"] is None
            bad = await c.call_tool("board_exec", {"board": vboard.name, "code": "1/0"})
            assert bad.is_error and "ZeroDivisionError" in bad.content[0].text
            w = sc(await c.call_tool("board_files", {"board": vboard.name, "action": "write", "path": "note.txt",
                                                     "content": "hello " + mode}))
            assert w["bytes"] == len("hello " + mode)
            ls = sc(await c.call_tool("board_files", {"board": vboard.name, "action": "list", "path": ""}))
            assert {"name": "note.txt", "dir": False, "size": w["bytes"]} in ls["entries"]
            rd = sc(await c.call_tool("board_files", {"board": vboard.name, "action": "read", "path": ":note.txt"}))
            assert rd["content"] == "hello " + mode
            assert sc(await c.call_tool("board_files", {"board": vboard.name, "action": "delete",
                                                        "path": "note.txt"}))["deleted"]
            gone = await c.call_tool("board_files", {"board": vboard.name, "action": "read", "path": "note.txt"})
            assert gone.is_error and "cannot read ':note.txt'" in gone.content[0].text
            bad = await c.call_tool("board_exec", {"board": "nope", "code": "1"})
            assert bad.is_error and "unknown board 'nope' (boards: %s)" % vboard.name in bad.content[0].text
    run(main)


def test_board_script_and_board_infer_over_http(http, vboard, models_dir):
    async def main():
        async with http_client(http.url) as c:
            s = sc(await c.call_tool("board_script", {"board": vboard.name, "script":
                                                      "set n 0\nforeach i {1 2 3 4} {incr n $i}\nputs \"sum $n\"\n"
                                                      "puts stderr warn"}))
            assert s["status"] == 0 and s["stdout"] == "sum 10\n" and s["stderr"] == "warn\n"
            bad = await c.call_tool("board_script", {"board": vboard.name, "script": "puts [nosuch]"})
            assert bad.is_error and "invalid command name \"nosuch\"" in bad.content[0].text
            r = sc(await c.call_tool("board_infer", {"board": vboard.name, "model": "mlp", "input": X}))
            y = np.asarray(r["outputs"][0]["values"], np.float32)
            np.testing.assert_allclose(y, reference(models_dir), atol=1e-5)
            assert r["stats"]["latency_us"] > 0 and set(r["stats"]["kernels"]) <= {"c", "python"}
    run(main)


def test_board_calls_are_serialized_and_time_out(relay, vboard):
    """One REPL per board: concurrent calls queue on the board's lock; a call past its timeout is interrupted
    (Ctrl-C) and the board serves the next call."""
    async def main():
        async with Client(relay.mcp) as c:
            results = {}

            async def one(i):
                results[i] = await c.call_tool("board_exec", {"board": vboard.name,
                                                              "code": "import time\ntime.sleep(0.2)\nprint(%d)" % i})

            t0 = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(one, i)
            assert anyio.current_time() - t0 >= 0.6  # one after the other
            assert [results[i].structured_content["stdout"].strip() for i in range(3)] == ["0", "1", "2"]
            slow = await c.call_tool("board_exec", {"board": vboard.name, "code": "while True:\n pass",
                                                    "timeout": 1})
            assert slow.is_error and "did not finish within 1s; it was interrupted" in slow.content[0].text
            ok = sc(await c.call_tool("board_exec", {"board": vboard.name, "code": "print('alive')"}))
            assert ok["stdout"].strip() == "alive"
    run(main)


def two_bundles(d, models_dir):
    """Two bundles for a vboard (x64), as `hyperion-host build` makes them: mlp (version 1.0), and mlp with a copy
    of it (2.0; a bundle's id comes from its files, so the copy makes it a different bundle)."""
    from hyperion_host.ship.bundle import build_bundle

    (d / "m").mkdir()
    (d / "m" / "mlp2.hyq").write_bytes((models_dir / "mlp.hyq").read_bytes())
    build_bundle("rp2040", [str(models_dir / "mlp.hyq")], d / "b1", arch="x64", version="1.0")
    build_bundle("rp2040", [str(models_dir / "mlp.hyq"), str(d / "m" / "mlp2.hyq")], d / "b2", arch="x64",
                 version="2.0")
    return str(d / "b1"), str(d / "b2")


def test_board_status_and_board_rollback_after_real_deploys(tmp_path, models_dir, start_vboard):
    """board_status (operator) reads a board's firmware, heap and A/B slots without resetting it; board_rollback
    (admin) switches slots as `hyperion-host rollback` does. The bundles are deployed as `hyperion-host deploy`
    deploys them (deploy.deploy)."""
    from hyperion_host.ship import deploy as dep

    vb = start_vboard()
    kf, k = keys(tmp_path, "viewer", "operator", "admin")
    b1, b2 = two_bundles(tmp_path, models_dir)

    with serve(models_dir, auth__keys_file=kf, server__boards=[vb.name]) as s:
        def tool(name, role="admin", **args):
            async def main():
                async with http_client(s.url, k[role]) as c:
                    return await c.call_tool(name, args)
            return run(main)

        def status():
            return sc(tool("board_status", "operator", board=vb.name))

        def error(res):
            assert res.is_error and "\n" not in res.content[0].text, res.content
            return res.content[0].text

        # a fresh board: no bundle deployed is a state, not an error; the board is not reset
        sc(tool("board_exec", board=vb.name, code="kept = 42"))
        st = status()
        assert st["board"] == vb.name and st["implementation"] == "micropython" and st["arch"] == "x64"
        assert st["platform"] == "linux" and st["version"].count(".") == 2 and st["mpy"] > 0
        assert st["mem_free"] > 0 and st["mem_alloc"] > 0
        assert (st["active_slot"], st["bundle_version"], st["slots"]) == (None, None, {"a": None, "b": None})
        kept = sc(tool("board_exec", board=vb.name, code="print(kept, '_state' in globals())"))
        assert kept["stdout"].split() == ["42", "False"]  # the REPL kept its state, and got no helper left over
        assert error(tool("board_status", "operator", board="nope")) == "unknown board 'nope' (boards: %s)" % vb.name
        assert "nothing to roll back" in error(tool("board_rollback", board=vb.name))
        # roles: a viewer may not roll back (the HTTP guard answers 403 before the tool runs)
        r = mcp_post(s.url, "board_rollback", {"board": vb.name}, key=k["viewer"])
        assert r.status_code == 403 and "needs role admin" in r.json()["error"]["message"]
        r = mcp_post(s.url, "board_status", {"board": vb.name}, key=k["viewer"])  # it interrupts a program
        assert r.status_code == 403 and "needs role operator" in r.json()["error"]["message"]

        dep.deploy(vb.name, b1)
        st = status()
        assert (st["active_slot"], st["bundle_version"]) == ("a", "1.0") and st["slots"]["b"] is None
        assert st["slots"]["a"]["version"] == "1.0" and st["slots"]["a"]["arch"] == "x64"
        assert "slot b holds no complete bundle" in error(tool("board_rollback", board=vb.name))
        assert status()["active_slot"] == "a"  # a refused rollback changes nothing

        dep.deploy(vb.name, b2)
        st = status()
        assert (st["active_slot"], st["bundle_version"]) == ("b", "2.0")
        assert {x: st["slots"][x]["version"] for x in "ab"} == {"a": "1.0", "b": "2.0"}
        back = sc(tool("board_rollback", board=vb.name))
        assert (back["board"], back["slot"], back["previous"], back["version"]) == (vb.name, "a", "b", "1.0")
        st = status()
        assert (st["active_slot"], st["bundle_version"]) == ("a", "1.0") and st["slots"]["b"]["version"] == "2.0"
        assert dep.status(vb.name)["active"] == "a"
        booted = sc(tool("board_exec", board=vb.name, code="import hyperion\nprint(hyperion.__file__)", reset=True))
        assert booted["stdout"].strip().startswith("/hyperion-ab/a/")
        assert sc(tool("board_rollback", board=vb.name))["slot"] == "b"  # and forward again
        assert status()["active_slot"] == "b"


def test_raw_2026_post_and_handshake_answers(http):
    """What the wire looks like: one POST with the 2026 headers and no session; an unknown version gets
    -32022 with the supported list (what the board client keys its fallback on)."""
    r = mcp_post(http.url, "list_models", {})
    assert r.status_code == 200 and "mcp-session-id" not in r.headers
    assert {m["name"] for m in r.json()["result"]["structuredContent"]["models"]} == {"mlp", "lm"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "list_models", "arguments": {}, "_meta": dict(
            {"io.modelcontextprotocol/protocolVersion": "2099-01-01",
             "io.modelcontextprotocol/clientCapabilities": {}})}}
    import httpx

    r = httpx.post(http.url, json=body, headers={"Accept": "application/json, text/event-stream",
                                                 "MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/call",
                                                 "Mcp-Name": "list_models"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == -32022 and MODERN in err["data"]["supported"]
