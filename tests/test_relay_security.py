"""Relay security on real HTTP: API keys (401), roles (403), rate limits (429 + Retry-After), the audit log,
hashed key storage, live reload of keys and limits, Host/Origin checks, TLS, and config errors."""

import base64
import json
import os
import signal
import time

import anyio
import httpx
import pytest
from test_relay_common import (  # noqa: F401
    LEGACY,
    RelayProcess,
    http_client,
    keys,
    mcp_post,
    models_dir_fixture,
    self_signed,
    serve,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from helpers import assert_user_error, run_cli

ROUTES = ["/api/health", "/api/monitoring", "/metrics"]
X = [[0.1] * 16]


def audit_lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f]


def test_keys_and_roles_on_every_route(tmp_path, models_dir):
    kf, k = keys(tmp_path, "viewer", "operator", "admin")
    audit = str(tmp_path / "audit.jsonl")
    with serve(models_dir, auth__keys_file=kf, auth__audit_log=audit) as s:
        # 401: missing or wrong key, on every protected route, with one-line reasons
        for path in ROUTES:
            r = httpx.get(s.base + path)
            assert r.status_code == 401 and r.json()["error"] == "no_key", path
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = httpx.get(s.base + path, headers={"X-API-Key": k["admin"] + "x"})
            assert r.status_code == 401 and r.json()["error"] == "bad_key", path
        r = mcp_post(s.url, "list_models", {})
        assert r.status_code == 401 and r.json()["error"]["data"]["reason"] == "no_key"
        r = mcp_post(s.url, "list_models", {}, key="hyk_00000000_forged")
        assert r.status_code == 401
        for url in (s.base.replace("http", "ws") + "/ws/generate",
                    s.base.replace("http", "ws") + "/ws/generate?api_key=wrong"):
            with pytest.raises(InvalidStatus) as e:
                ws_connect(url).close()
            assert e.value.response.status_code == 401
        # the three ways to present a key
        assert httpx.get(s.base + "/api/health", headers={"X-API-Key": k["viewer"]}).status_code == 200
        assert httpx.get(s.base + "/api/health", headers={"Authorization": "Bearer " + k["viewer"]}).status_code == 200
        assert httpx.get(s.base + "/api/health?api_key=" + k["viewer"]).status_code == 200
        # 403: roles. viewer lists; operator infers; only admin reaches boards
        assert mcp_post(s.url, "list_models", {}, key=k["viewer"]).status_code == 200
        r = mcp_post(s.url, "infer", {"model": "mlp", "input": X}, key=k["viewer"])
        assert r.status_code == 403 and "needs role operator" in r.json()["error"]["message"]
        assert mcp_post(s.url, "infer", {"model": "mlp", "input": X}, key=k["operator"]).status_code == 200
        r = mcp_post(s.url, "board_exec", {"board": "b", "code": "1"}, key=k["operator"])
        assert r.status_code == 403 and "needs role admin" in r.json()["error"]["message"]
        r = mcp_post(s.url, "board_exec", {"board": "b", "code": "1"}, key=k["operator"], version=LEGACY)
        assert r.status_code == 403  # the handshake era: the tool name is read from the body
        # a base64-wrapped Mcp-Name header cannot hide the tool from the role check
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "X-API-Key": k["operator"],
             "Mcp-Name": "=?base64?%s?=" % base64.b64encode(b"board_exec").decode()}
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "board_exec", "arguments": {"board": "b", "code": "1"},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}
        assert httpx.post(s.url, json=body, headers=h).status_code == 403
        with pytest.raises(InvalidStatus) as e:
            ws_connect(s.base.replace("http", "ws") + "/ws/generate?api_key=" + k["viewer"]).close()
        assert e.value.response.status_code == 403
        r = mcp_post(s.url, "board_exec", {"board": "b", "code": "1"}, key=k["admin"])
        assert r.status_code == 200 and r.json()["result"]["isError"]  # allowed; there is no board 'b'
        # the SDK client with a key, both eras
        async def sdk():
            for mode in ("auto", "legacy"):
                async with http_client(s.url, k["operator"], mode=mode) as c:
                    assert not (await c.call_tool("infer", {"model": "mlp", "input": X})).is_error
        anyio.run(sdk)
        s.relay.audit.flush()
    lines = audit_lines(audit)
    denied = [x for x in lines if x["outcome"] == "denied"]
    assert {(x["status"], x.get("reason")) for x in denied} >= {(401, "no_key"), (401, "bad_key"), (403, "role")}
    ok = [x for x in lines if x["outcome"] == "ok" and x["tool"] == "infer"]
    ids = {kid for kid in (x["key"] for x in ok)}
    assert len(ok) == 3 and len(ids) == 1 and all(x["ms"] >= 0 for x in ok)
    assert any(x["tool"] == "board_exec" and x["outcome"] == "error" and "unknown board" in x["error"]
               for x in lines)
    assert not any(v in open(audit).read() for v in k.values())  # keys never reach the log


def test_rate_limits_answer_429_with_retry_after(tmp_path, models_dir):
    kf, k = keys(tmp_path, "operator", "viewer")
    with serve(models_dir, auth__keys_file=kf, limits__per_key=5, limits__per_ip=12, limits__window=30) as s:
        codes = [mcp_post(s.url, "list_models", {}, key=k["operator"]).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        r = mcp_post(s.url, "list_models", {}, key=k["operator"])
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 30
        assert "rate limit for key" in r.json()["error"]["message"]
        # another key has its own budget until the address's budget (12) is spent
        codes = [httpx.get(s.base + "/api/health", headers={"X-API-Key": k["viewer"]}).status_code
                 for _ in range(5)]
        assert codes.count(200) == 4 and codes[-1] == 429
        r = httpx.get(s.base + "/api/health")  # even without a key: a flood gets no key check
        assert r.status_code == 429 and r.json()["error"] == "rate_ip" and "retry-after" in r.headers


def test_key_file_storage_cli_and_live_reload(tmp_path, models_dir):
    kf = str(tmp_path / "keys.json")
    p = run_cli("serve", "keys", "add", "board-1", "--role", "operator", "--keys-file", kf)
    assert p.returncode == 0, p.stderr
    key = p.stdout.strip()
    assert key.startswith("hyk_") and "shown only now" in p.stderr
    stored = json.load(open(kf))["keys"][0]
    assert key not in open(kf).read() and set(stored) >= {"id", "salt", "sha256", "role"}
    assert len(bytes.fromhex(stored["salt"])) == 16 and len(stored["sha256"]) == 64
    assert oct(os.stat(kf).st_mode & 0o777) == "0o600"
    assert_user_error(run_cli("serve", "keys", "add", "board-1", "--keys-file", kf), "exists")
    assert_user_error(run_cli("serve", "keys", "add", "x", "--role", "root", "--keys-file", kf), "unknown role")
    cfg = tmp_path / "relay.toml"
    cfg.write_text("[limits]\nper_key = 100\n")
    with serve(models_dir, auth__keys_file=kf, _path=str(cfg)) as s:
        assert mcp_post(s.url, "list_models", {}, key=key).status_code == 200
        # a new key works without a restart; limits change without a restart
        p = run_cli("serve", "keys", "add", "later", "--role", "viewer", "--keys-file", kf)
        later = p.stdout.strip()
        cfg.write_text("[limits]\nper_key = 2\n[server]\nmaintenance = false\n")
        _wait(lambda: httpx.get(s.base + "/api/health", headers={"X-API-Key": later}).status_code == 200)
        _wait(lambda: s.relay.key_limit.limit == 2)
        codes = [httpx.get(s.base + "/api/health", headers={"X-API-Key": later}).status_code for _ in range(3)]
        assert 429 in codes
        # maintenance (reloadable): tool calls get 503 + Retry-After, health says why
        cfg.write_text("[limits]\nper_key = 100\n[server]\nmaintenance = true\n")
        _wait(lambda: s.relay.cfg["server"]["maintenance"])
        r = mcp_post(s.url, "list_models", {}, key=key)
        assert r.status_code == 503 and r.headers["retry-after"] == "30"
        # a broken file is reported in the monitoring log and the last good config stays
        cfg.write_text("[limits]\nper_key = -1\n")
        _wait(lambda: any(e["event"] == "reload_failed" for e in s.relay.monitor.logs))
        assert s.relay.cfg["limits"]["per_key"] == 100
        # removing a key revokes it
        assert run_cli("serve", "keys", "remove", "board-1", "--keys-file", kf).returncode == 0
        _wait(lambda: httpx.get(s.base + "/api/health", headers={"X-API-Key": key}).status_code == 401)
    p = run_cli("serve", "keys", "list", "--keys-file", kf)
    assert "later" in p.stdout and "board-1" not in p.stdout and later not in p.stdout


def _wait(cond, timeout=5):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met within %ss" % timeout)


def test_host_and_origin_checks(models_dir):
    """DNS-rebinding protection: on loopback only loopback Host/Origin values pass; --allow-host (config
    security.allowed_hosts) admits a LAN address for boards."""
    evil = {"Origin": "http://evil.example"}
    lan = {"Host": "192.168.1.10:8321"}
    with serve(models_dir) as s:
        assert mcp_post(s.url, "list_models", {}).status_code == 200
        r = httpx.post(s.url, headers=dict(evil, **{"Content-Type": "application/json"}), content="{}")
        assert r.status_code == 403
        assert httpx.get(s.base + "/api/health", headers=evil).status_code == 403
        assert httpx.get(s.base + "/api/health", headers=lan).status_code == 421
    with serve(models_dir, security__allowed_hosts=["192.168.1.10:*"]) as s:
        assert httpx.get(s.base + "/api/health", headers=lan).status_code == 200
        h = dict(lan, **{"Content-Type": "application/json", "Accept": "application/json",
                         "MCP-Protocol-Version": "2025-11-25"})
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        assert httpx.post(s.url, json=body, headers=h).status_code == 200
        h["Host"] = "10.0.0.9:8321"
        assert httpx.post(s.url, json=body, headers=h).status_code == 421


def test_tls_with_a_self_signed_certificate(tmp_path, models_dir):
    cert, key, _ = self_signed(tmp_path)
    with serve(models_dir, server__tls_cert=cert, server__tls_key=key) as s:
        assert s.url.startswith("https://")
        import ssl

        r = httpx.get(s.base + "/api/health", verify=ssl.create_default_context(cafile=cert))
        assert r.status_code == 200 and r.json()["ready"]
        with pytest.raises(httpx.ConnectError):
            httpx.get(s.base + "/api/health")  # not trusted without the certificate

        async def sdk():
            async with http_client(s.url, verify=ssl.create_default_context(cafile=cert)) as c:
                assert c.protocol_version == "2026-07-28"
                assert not (await c.call_tool("infer", {"model": "mlp", "input": X})).is_error
        anyio.run(sdk)
        with pytest.raises(httpx.HTTPError):
            httpx.get(s.base.replace("https", "http") + "/api/health")


def test_cli_config_errors_are_one_line(tmp_path, models_dir):
    bad = tmp_path / "bad.toml"
    cases = [
        ("[limits]\nper_keys = 3\n", "unknown key 'limits.per_keys'"),
        ("[limits]\nper_key = \"many\"\n", "'limits.per_key' must be a number of requests per window"),
        ("[nope]\n", "unknown section 'nope'"),
        ("[limits\n", "is not valid TOML"),
        ("[server]\nprotocols = [\"2024-01-01\"]\n", "'server.protocols' must be"),
    ]
    for text, frag in cases:
        bad.write_text(text)
        assert_user_error(run_cli("serve", "--config", str(bad)), frag)
    j = tmp_path / "bad.json"
    j.write_text("{\"server\": {\"port\": \"x\"}}")
    assert_user_error(run_cli("serve", "--config", str(j)), "'server.port' must be a port number")
    assert_user_error(run_cli("serve", env={"HYPERION_RELAY_LIMITS_PER_KEY": "lots"}),
                      "HYPERION_RELAY_LIMITS_PER_KEY: 'limits.per_key' must be")
    assert_user_error(run_cli("serve", env={"HYPERION_RELAY_LIMIT_PER_KEY": "3"}),
                      "unknown environment variable HYPERION_RELAY_LIMIT_PER_KEY")
    assert_user_error(run_cli("serve", "--tls-cert", str(bad)), "needs both a certificate and a key")
    assert_user_error(run_cli("serve", "--tls-cert", str(bad), "--tls-key", str(bad)), "cannot use --tls-cert")
    assert_user_error(run_cli("serve", "--models", str(tmp_path / "none")), "does not exist")
    assert_user_error(run_cli("serve", "--keys-file", str(tmp_path / "none.json")), "no keys file at")
    assert_user_error(run_cli("serve", "--listen", "0.0.0.0"), "without API keys")
    assert_user_error(run_cli("serve", "--listen", "0.0.0.0:99999"), "from 0 to 65535")
    assert_user_error(run_cli("serve", "--port", "nosuchboard"), "unknown port 'nosuchboard'")
    # --port is a serial port in every command; the old meanings get a pointer, not a search for a board
    assert_user_error(run_cli("serve", "--port", "8321"), "use --listen :8321")
    assert_user_error(run_cli("serve", "--board", "vb0"), "as --port vb0")
    assert_user_error(run_cli("serve", "--host", "0.0.0.0"), "--listen HOST:PORT")
    assert_user_error(run_cli("serve", "mark-text", str(models_dir / "mlp.hyq"), "-o", str(tmp_path / "x.hyq")),
                      "must take one int token input")


def test_environment_overrides_and_a_served_process(tmp_path, models_dir):
    kf, k = keys(tmp_path, "viewer")
    with RelayProcess("--models", str(models_dir), env={"HYPERION_RELAY_AUTH_KEYS_FILE": kf,
                                                        "HYPERION_RELAY_LIMITS_PER_KEY": "3"}) as p:
        assert httpx.get(p.base + "/api/health").status_code == 401
        r = httpx.get(p.base + "/api/monitoring", headers={"X-API-Key": k["viewer"]})
        assert r.status_code == 200 and r.json()["limits"]["per_key"] == 3


def test_sighup_reloads_the_config(tmp_path, models_dir):
    """SIGHUP re-reads the config file even when its change went unnoticed (same mtime)."""
    cfg = tmp_path / "relay.json"
    cfg.write_text(json.dumps({"limits": {"per_key": 7}}))
    st = os.stat(cfg)
    with RelayProcess("--models", str(models_dir), "--config", str(cfg)) as p:
        assert httpx.get(p.base + "/api/monitoring").json()["limits"]["per_key"] == 7
        cfg.write_text(json.dumps({"limits": {"per_key": 9}}))
        os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))  # the file watcher cannot see this change
        time.sleep(1.5)
        assert httpx.get(p.base + "/api/monitoring").json()["limits"]["per_key"] == 7
        os.kill(p.proc.pid, signal.SIGHUP)
        _wait(lambda: httpx.get(p.base + "/api/monitoring").json()["limits"]["per_key"] == 9)
