"""The web UI (/ui) in real headless Chromium (Debian's, driven by playwright from PyPI) against a relay this module
starts with the repository's models and a vboard: pages without console errors for every role, a drawn digit
classified on the relay and by MicroPython WebAssembly in the page (both equal to the CLI), tokens streaming,
monitoring updating, a WAV for kws, Picol in the page against tclsh, and what a viewer cannot reach.
Screenshots go to bench/ui/."""

import json
import shutil
import subprocess
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from openapi_spec_validator import validate
from playwright.sync_api import sync_playwright
from test_relay_common import ThreadedRelay, keys

from hyperion_host.relay import config as C
from hyperion_host.relay.server import Relay
from hyperion_host.relay.tools import tool_names
from hyperion_host.relay.web import RUNTIME_FILES, runtime_dir

from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SHOTS = ROOT / "bench" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = ("models", "boards", "monitoring", "browser", "api")
PV = "2026-07-28"

# Strokes in the pad's own 0..1 coordinates: a 7, a 1 and a 0 (an ellipse), as a hand would draw them
DIGITS = {
    "seven": [[(0.2, 0.2), (0.8, 0.2), (0.45, 0.85)]],
    "one": [[(0.45, 0.25), (0.55, 0.15), (0.55, 0.85)]],
    "zero": [[(0.5 + 0.25 * np.sin(t), 0.5 - 0.33 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 24)]],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory, vboard):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make sysdeps` as root (apt-get install chromium)")
    if not all((runtime_dir() / f).is_file() for f in RUNTIME_FILES):
        pytest.fail("MicroPython's WebAssembly port is missing from %s: run `make web`" % runtime_dir())
    tmp = tmp_path_factory.mktemp("web")
    kf, ks = keys(tmp, "viewer", "operator", "admin")
    cfg = C.load(overrides={("server", "port"): 0, ("server", "models"): str(MODELS),
                            ("server", "boards"): [vboard.name], ("auth", "keys_file"): kf,
                            ("auth", "audit_log"): str(tmp / "audit.jsonl"),
                            ("limits", "per_key"): 100000, ("limits", "per_ip"): 100000}, environ={})
    SHOTS.mkdir(parents=True, exist_ok=True)
    with ThreadedRelay(relay=Relay(cfg)) as r, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield Site(r, ks, browser, vboard, kf)
        finally:
            browser.close()


class Site:
    def __init__(self, relay, keys, browser, vboard, keys_file):
        self.relay, self.keys, self.browser, self.vboard, self.keys_file = relay, keys, browser, vboard, keys_file
        self.base = relay.base

    def open(self, role, page="models", viewport=None):
        """A fresh browser context signed in with ROLE's key through the login form, on /ui/PAGE; console
        errors, page errors and failed requests are collected in .errors."""
        ctx = self.browser.new_context(viewport=viewport or {"width": 1100, "height": 900})
        pg = ctx.new_page()
        pg.errors = []
        pg.on("console", lambda m: m.type == "error" and pg.errors.append("console: " + m.text))
        pg.on("pageerror", lambda e: pg.errors.append("pageerror: %s" % e))
        pg.on("worker", lambda w: w.on("console", lambda m: m.type == "error" and pg.errors.append(
            "worker: " + m.text)))
        pg.goto(self.base + "/ui/" + page)
        pg.wait_for_selector("#login")
        pg.fill("#key", self.keys[role])
        pg.click("#login button[type=submit]")
        pg.wait_for_selector("body[data-ready=%s]" % page, timeout=30000)
        return pg

    def call(self, role, tool, args, expect=200):
        r = httpx.post(self.base + "/mcp", timeout=30, headers={
            "X-API-Key": self.keys[role], "Content-Type": "application/json", "MCP-Protocol-Version": PV,
            "Accept": "application/json, text/event-stream", "Mcp-Method": "tools/call", "Mcp-Name": tool},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args, "_meta": {
                "io.modelcontextprotocol/protocolVersion": PV, "io.modelcontextprotocol/clientCapabilities": {}}}})
        assert r.status_code == expect, r.text
        return r.json()


def shot(pg, name):
    pg.screenshot(path=str(SHOTS / (name + ".png")), full_page=True)


def draw(pg, strokes, pad="canvas.pad"):
    """Real pointer strokes on the pad (mouse down, moves, up), in its 0..1 coordinates."""
    box = pg.locator(pad).bounding_box()
    for stroke in strokes:
        pts = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        pg.mouse.move(*pts[0])
        pg.mouse.down()
        for a, b in zip(pts, pts[1:]):
            pg.mouse.move(*b, steps=6)
        pg.mouse.up()


def cli_logits(x, tmp):
    """`hyperion-host infer` on the digits model with the page's 8x8 input."""
    path = Path(tmp) / "x.npy"
    np.save(path, np.asarray(x, np.float32).reshape(1, 1, 8, 8))
    p = run_cli("infer", str(MODELS / "digits" / "digits.hyq"), "-i", str(path), "--json")
    assert p.returncode == 0, p.stderr
    return np.asarray(json.loads(p.stdout)["outputs"]["logits"], np.float32).ravel()


def test_pages_render_without_console_errors_for_every_role(site):
    for role in ("viewer", "operator", "admin"):
        for page in PAGES:
            pg = site.open(role, page)
            if page == "browser" and role == "viewer":
                assert "needs an operator key" in pg.inner_text("#wasm-role")
            elif page == "browser":
                pg.wait_for_selector("body[data-wasm=ready]", timeout=90000)
            if page == "monitoring":
                pg.wait_for_selector("#mon-status:text('live')")
                pg.wait_for_timeout(2500)  # a few pushes: the charts draw
            assert pg.locator("main .error").count() == 0, pg.inner_text("main")
            assert pg.errors == [], (role, page, pg.errors)
            if role == "admin":
                shot(pg, page)
            pg.context.close()
    # a phone-sized screen: no page is wider than the screen
    for page in PAGES:
        pg = site.open("admin", page, viewport={"width": 390, "height": 844})
        if page == "browser":
            pg.wait_for_selector("body[data-wasm=ready]", timeout=90000)
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390, page
        assert pg.errors == []
        if page in ("models", "browser"):
            shot(pg, page + "-phone")
        pg.context.close()


def test_drawn_digits_on_the_relay_match_the_cli(site, tmp_path):
    pg = site.open("operator", "models")
    pg.click("a[data-model=digits]")
    seen = set()
    for name, strokes in DIGITS.items():
        pg.click("text=Clear")
        draw(pg, strokes)
        pg.click("#classify")
        pg.wait_for_selector("#relay-result[data-label]")
        x = json.loads(pg.get_attribute("#relay-result", "data-input"))
        assert len(x) == 64 and sum(x) > 3, (name, x)  # a real drawing reached the model, scaled 0..1
        assert max(x) <= 1.0
        label = pg.get_attribute("#relay-result", "data-label")
        assert label == str(int(np.argmax(cli_logits(x, tmp_path)))), name
        seen.add(label)
    assert len(seen) >= 2  # different drawings, different answers
    shot(pg, "models-digit")
    assert pg.errors == []


def test_the_digit_in_micropython_webassembly_matches_the_cli(site, tmp_path):
    pg = site.open("operator", "browser")
    pg.wait_for_selector("body[data-wasm=ready]", timeout=90000)
    info = pg.inner_text("#wasm-info")
    assert "MicroPython v1.29" in info and "python" in info  # the npm runtime, on the bytecode kernels
    for name, strokes in DIGITS.items():
        pg.click("text=Clear")
        draw(pg, strokes)
        pg.click("#classify")
        pg.wait_for_selector("#wasm-result[data-label]")
        pg.wait_for_selector("#relay-result[data-label]")
        x = json.loads(pg.get_attribute("#wasm-result", "data-input"))
        ref = cli_logits(x, tmp_path)
        wasm = np.asarray(json.loads(pg.get_attribute("#wasm-result", "data-logits")), np.float32)
        assert pg.get_attribute("#wasm-result", "data-label") == str(int(np.argmax(ref))), name
        assert pg.get_attribute("#relay-result", "data-label") == str(int(np.argmax(ref))), name
        assert np.allclose(wasm, ref, atol=1e-3 * max(1.0, float(np.abs(ref).max()))), (wasm, ref)
        assert "ms in this browser" in pg.inner_text("#wasm-result")
    shot(pg, "browser-digit")
    # Picol in the page answers as tclsh does
    for script in ("set n 6; puts [expr {$n * 7}]", "puts [string toupper [lindex {a hyperion c} 1]]"):
        pg.fill("#tcl-in", script)
        before = pg.inner_text("#tcl-log")
        pg.click("#tcl-go")
        pg.wait_for_function("t => document.querySelector('#tcl-log').textContent.length > t", arg=len(before))
        want = subprocess.run(["tclsh"], input=script, capture_output=True, text=True, timeout=10).stdout.strip()
        assert pg.inner_text("#tcl-log")[len(before):].splitlines()[1] == want
    assert pg.errors == []


def test_a_model_profiled_on_an_emulated_board_from_its_page(site):
    """The Models page's Profile button: the rp2040's emulated Cortex-M0 runs the model (QEMU, deterministic), and
    the page shows the instruction count `hyperion-host profile` gives."""
    pg = site.open("operator", "models")
    pg.click("a[data-model=digits]")
    assert "Not profiled" in pg.inner_text("#emulated")
    pg.select_option("#profile-board", "rp2040")
    pg.click("#profile")
    pg.wait_for_selector("[data-instructions=rp2040]", timeout=300000)
    shown = int(pg.inner_text("[data-instructions=rp2040]").replace(",", ""))
    p = run_cli("profile", str(MODELS / "digits" / "digits.hyq"), "--board", "rp2040", "--json", timeout=300)
    assert p.returncode == 0, p.stderr
    assert shown == json.loads(p.stdout)["instructions"] > 0
    shot(pg, "models-profile")
    assert pg.errors == []
    # a viewer sees the cached figures, but no button, and the relay refuses the tool
    pg = site.open("viewer", "models")
    pg.click("a[data-model=digits]")
    assert pg.locator("[data-instructions=rp2040]").count() == 1 and pg.locator("#profile").count() == 0
    assert "needs role operator" in site.call("viewer", "model_profile", {"model": "digits"}, expect=403)[
        "error"]["message"]
    r = site.call("operator", "model_profile", {"model": "digits", "board": "esp32"})["result"]
    assert r["isError"] and "has no emulated core" in r["content"][0]["text"]


def test_tokens_stream_over_the_websocket(site):
    pg = site.open("operator", "models")
    pg.click("a[data-model=tinylm]")
    pg.evaluate("""() => { window.updates = 0;
        new MutationObserver(() => window.updates++).observe(document.querySelector('#tokens'),
                                                            {childList: true, characterData: true, subtree: true}); }""")
    pg.fill("#prompt", "the board ")
    pg.click("#generate")
    pg.wait_for_selector("#tokens[data-done]", timeout=30000)
    n = int(pg.get_attribute("#tokens", "data-tokens"))
    assert n > 1 and pg.evaluate("window.updates") >= n  # the page changed once per token, as they came
    assert pg.inner_text("#tokens") == pg.get_attribute("#tokens", "data-text")
    want = site.call("operator", "generate", {"model": "tinylm", "prompt": "the board ", "max_tokens": 48})
    assert want["result"]["structuredContent"]["text"] == pg.get_attribute("#tokens", "data-text")
    shot(pg, "models-tinylm")
    assert pg.errors == []


def test_a_wav_upload_classified_as_the_board_does(site, tmp_path, micropython):
    raw = (MODELS / "kws" / "samples" / "yes.raw").read_bytes()
    wav = tmp_path / "yes.wav"
    with wave.open(str(wav), "wb") as w:  # stereo: the page takes the first channel
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        s = np.frombuffer(raw, "<i2")
        w.writeframes(np.stack([s, s // 3], 1).astype("<i2").tobytes())
    pg = site.open("operator", "models")
    pg.click("a[data-model=kws]")
    pg.set_input_files("#wav", str(wav))
    pg.wait_for_selector("#relay-result[data-label]", timeout=30000)
    got = pg.get_attribute("#relay-result", "data-label")
    # the board's own listen() on the same samples, on real MicroPython
    r = micropython("import hyperion, array\nm = hyperion.load(%r)\ns = array.array('h', open(%r, 'rb').read())\n"
                    "print(m.listen(s)[0])" % (str(MODELS / "kws" / "kws.hyq"),
                                               str(MODELS / "kws" / "samples" / "yes.raw")), timeout=120)
    assert r.returncode == 0, r.stderr
    assert got == r.stdout.strip().splitlines()[-1] == "yes"
    assert pg.errors == []


def test_monitoring_updates_after_calls(site):
    pg = site.open("viewer", "monitoring")
    pg.wait_for_selector("[data-total=requests]")
    before = int(pg.inner_text("[data-total=requests]"))
    for _ in range(5):
        site.call("operator", "infer", {"model": "digits", "input": np.zeros((1, 1, 8, 8)).tolist()})
    pg.wait_for_function("n => +document.querySelector('[data-total=requests]').textContent >= n", arg=before + 5,
                         timeout=10000)
    pg.wait_for_selector("[data-tool-calls=infer]")
    assert int(pg.inner_text("[data-tool-calls=infer]")) >= 5
    shot(pg, "monitoring-live")
    assert pg.errors == []


def test_boards_page_shows_heap_and_slot_and_runs_tcl(site):
    pg = site.open("admin", "boards")
    name = site.vboard.name
    assert pg.inner_text("[data-free='%s']" % name).endswith("KB")  # free heap read off the board
    assert pg.inner_text("[data-slot='%s']" % name) == "none"  # nothing deployed on this vboard
    pg.fill("#tcl", "puts [expr {6 * 7}]")
    pg.click("#tcl-run")
    pg.wait_for_function("() => document.querySelector('#tcl-out').textContent.trim() === '42'", timeout=30000)
    assert pg.locator("#rollback").count() == 1
    shot(pg, "boards")
    assert pg.errors == []


def test_a_viewer_cannot_reach_admin_actions(site):
    pg = site.open("viewer", "boards")
    assert pg.locator("#rollback").count() == 0 and pg.locator("#tcl-run").count() == 0
    assert "needs an admin key" in pg.inner_text("main") and "need an operator key" in pg.inner_text("main")
    assert pg.inner_text("[data-free='%s']" % site.vboard.name) == ""  # no board_status for a viewer
    pg.goto(site.base + "/ui/monitoring")
    pg.wait_for_selector("body[data-ready=monitoring]")
    assert pg.locator("#reset").count() == 0
    pg.goto(site.base + "/ui/models")
    pg.wait_for_selector("body[data-ready=models]")
    assert pg.locator("#classify").count() == 0 and "needs an operator key" in pg.inner_text("#try")
    assert pg.errors == []
    # and the relay refuses them, whatever the page shows
    for tool, args in (("board_rollback", {"board": site.vboard.name}), ("board_script",
                                                                          {"board": site.vboard.name, "script": "puts x"}),
                       ("infer", {"model": "digits", "input": [0]})):
        err = site.call("viewer", tool, args, expect=403)["error"]
        assert "needs role" in err["message"]
    site.call("operator", "board_rollback", {"board": site.vboard.name}, expect=403)
    h = {"X-API-Key": site.keys["viewer"]}
    assert httpx.post(site.base + "/api/monitoring/reset", headers=h).status_code == 403
    with pytest.raises(Exception, match="403"):
        from websockets.sync.client import connect

        connect(site.base.replace("http", "ws") + "/ws/generate?api_key=" + site.keys["viewer"]).close()


def test_public_files_only_and_keyed_data(site):
    b = site.base
    page = httpx.get(b + "/ui/boards")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(b + "/ui/config.json").json() == {"auth": True}
    assert httpx.get(b + "/ui/wasm/micropython.wasm").headers["content-type"] == "application/wasm"
    files = httpx.get(b + "/ui/firmware/files.json").json()["files"]
    paths = {f["path"] for f in files}
    assert {"hyperion/__init__.py", "hyperion/picol/interp.py", "hyperion/kernels/python.py"} <= paths
    one = httpx.get(b + "/ui/firmware/hyperion/hyq.py")
    assert one.status_code == 200 and one.content == (ROOT / "firmware" / "hyperion" / "hyq.py").read_bytes()
    for bad in ("/ui/static/../web.py", "/ui/static/%2e%2e%2fweb.py", "/ui/firmware/hyperion/../../pyproject.toml",
                "/ui/firmware/%2e%2e/host/hyperion_host/relay/auth.py", "/ui/wasm/package.json", "/ui/nosuch",
                "/ui/static/nosuch.js", "/ui/firmware/hyperion/__pycache__/x.pyc"):
        r = httpx.get(b + bad)
        assert r.status_code == 404 and "error" in r.json(), bad
    # data needs a key
    for path in ("/api/whoami", "/api/openapi.json", "/api/models/digits/file"):
        assert httpx.get(b + path).status_code == 401
    h = {"X-API-Key": site.keys["viewer"]}
    assert httpx.get(b + "/api/whoami", headers=h).json()["role"] == "viewer"
    assert httpx.get(b + "/api/models/digits/file", headers=h).status_code == 403  # weights: operator
    h = {"X-API-Key": site.keys["operator"]}
    hyq = httpx.get(b + "/api/models/digits/file", headers=h)
    assert hyq.content == (MODELS / "digits" / "digits.hyq").read_bytes()
    r = httpx.get(b + "/api/models/nosuch/file", headers=h)
    assert r.status_code == 404 and "unknown model 'nosuch'" in r.json()["message"]


def test_openapi_document_is_valid_and_complete(site):
    h = {"X-API-Key": site.keys["viewer"]}
    doc = httpx.get(site.base + "/api/openapi.json", headers=h).json()
    validate(doc)  # OpenAPI 3.1 schema, strictly
    routes = {getattr(r, "path", None) for r in site.relay.relay.app().app.routes}
    rest = {p for p in routes if p and not p.startswith("/ui")}
    assert rest == set(doc["paths"]), rest ^ set(doc["paths"])
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["x-role"] in ("viewer", "operator", "admin", "per tool"), path
    # the roles it states are the ones the guard applies
    assert httpx.post(site.base + "/api/monitoring/reset", headers=h).status_code == 403
    assert doc["paths"]["/api/monitoring/reset"]["post"]["x-role"] == "admin"
    pg = site.open("viewer", "api")
    assert pg.locator("#mcp-tools details").count() == len(tool_names())
    assert pg.locator("details[data-tool=infer] pre").count() == 1
    assert pg.errors == []


def test_a_clip_for_the_wrong_model_or_malformed_is_one_line_error(site):
    """infer's dtype pcm16 (what the WAV upload sends): bad clips are refused with one line, not a traceback."""
    good = np.frombuffer((MODELS / "kws" / "samples" / "stop.raw").read_bytes(), "<i2")
    import base64

    def b64(a):
        return base64.b64encode(np.asarray(a, "<i2").tobytes()).decode()

    r = site.call("operator", "infer", {"model": "kws", "data": b64(good), "dtype": "pcm16"})["result"]
    assert not r["isError"] and len(r["structuredContent"]["outputs"][0]["values"][0]) == 12
    for model, data, msg in (("digits", b64(good), "takes no audio"),
                             ("kws", "%%%", "not valid base64"),
                             ("kws", base64.b64encode(b"\x01\x02\x03").decode(), "16-bit PCM"),
                             ("kws", "", "16-bit PCM"),
                             ("kws", b64(np.zeros(16000 * 31)), "longer than 30 s")):
        r = site.call("operator", "infer", {"model": model, "data": data, "dtype": "pcm16"})["result"]
        assert r["isError"] and msg in r["content"][0]["text"], (model, r)
        assert "\n" not in r["content"][0]["text"] and "Traceback" not in r["content"][0]["text"]
    short = site.call("operator", "infer", {"model": "kws", "data": b64(good[:4000]), "dtype": "pcm16"})["result"]
    assert not short["isError"]  # a short clip is zero-padded to the model's window, as on the board


def test_live_monitoring_stops_for_a_revoked_key(site):
    from websockets.sync.client import connect

    from hyperion_host.relay.auth import add_key, remove_key

    key, _ = add_key(site.keys_file, "short-lived", "viewer")
    url = site.base.replace("http", "ws", 1) + "/ws/monitoring?api_key=" + key
    deadline = time.time() + 10
    while True:  # the relay re-reads the keys file every second
        try:
            ws = connect(url, open_timeout=5)
            break
        except Exception:
            assert time.time() < deadline, "the new key never worked"
            time.sleep(0.3)
    with ws:
        assert "requests" in json.loads(ws.recv(timeout=10))
        remove_key(site.keys_file, "short-lived")
        msgs = []
        with pytest.raises(Exception, match="1000|closed|ConnectionClosed"):
            while len(msgs) < 20:
                msgs.append(json.loads(ws.recv(timeout=10)))
        assert msgs and msgs[-1] == {"error": "the API key was revoked"}
