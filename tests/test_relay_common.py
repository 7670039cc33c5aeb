"""Shared parts of the relay, remote-client and hybrid tests (no tests here): small models, a relay served by
real uvicorn on loopback (in a thread, or as a `hyperion-host serve` subprocess), SDK clients, a self-signed
certificate, and MicroPython runs of the board client."""

import contextlib
import datetime
import ipaddress
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import httpx2
import pytest
import uvicorn
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from hyperion_host.device.local import run_micropython
from hyperion_host.relay import config as C
from hyperion_host.relay.auth import add_key
from hyperion_host.relay.server import Relay, bind, uvicorn_config

from helpers import BIN, stop_group

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def make_models(d):
    """mlp.hyq (MLP 16-32-4, 4-bit) and lm.hyq (one-block transformer over byte tokens, marked as text)."""
    from hyperion_host.files import write_atomic
    from hyperion_host.model.quantize import Options, quantize_model
    from hyperion_host.relay.models import mark_text_model

    import onnx_examples

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    opts = Options(4, 32, "asym", "int8", None, 0.0, (), ())
    blob, _ = quantize_model(onnx_examples.deep_mlp(d / "mlp.onnx", sizes=(16, 32, 4)), opts, None)
    write_atomic(d / "mlp.hyq", blob)
    blob, _ = quantize_model(onnx_examples.transformer(d / "lm.onnx", vocab=256, dim=32, seq=8), opts, None)
    write_atomic(d / "lm_plain.hyq", blob)
    mark_text_model(d / "lm_plain.hyq", output=str(d / "lm.hyq"))
    for f in ("mlp.onnx", "lm.onnx"):
        (d / f).unlink()
    (d / "lm_plain.hyq").rename(d.parent / "lm_plain.hyq")
    return d


_MODELS = []


@pytest.fixture(scope="session", name="models_dir")
def models_dir_fixture(tmp_path_factory):
    """The models above, made once per test session (modules importing this fixture share them)."""
    if not _MODELS:
        _MODELS.append(make_models(tmp_path_factory.mktemp("relay") / "models"))
    return _MODELS[0]


def config(models=None, **over):
    """A relay config: {("section", "key"): value} overrides as keyword `section__key=value`."""
    path = over.pop("_path", None)
    o = {("server", "port"): 0}
    if models is not None:
        o[("server", "models")] = str(models)
    for k, v in over.items():
        s, key = k.split("__")
        o[(s, key)] = v
    return C.load(path, overrides=o, environ={})


class ThreadedRelay:
    """A Relay on real uvicorn, on 127.0.0.1 and an ephemeral port, in a thread."""

    def __init__(self, cfg=None, relay=None):
        self.relay = relay or Relay(cfg)
        self.cfg = cfg = self.relay.cfg
        self.config = uvicorn_config(self.relay.app(), cfg)
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        scheme = "https" if cfg["server"]["tls_cert"] else "http"
        self.base = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.url = self.base + "/mcp"
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if not self.thread.is_alive() or time.time() - t0 > 20:
                raise RuntimeError("the relay did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def serve(models=None, **over):
    return ThreadedRelay(config(models, **over))


class RelayProcess:
    """`hyperion-host serve ARGS` as a subprocess; .port from its startup line."""

    def __init__(self, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "serve", "--listen", ":0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True,
                                     start_new_session=True)
        self.lines = []
        t0 = time.time()
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("the relay exited: %s" % "".join(self.lines))
            self.lines.append(line)
            m = re.search(r"MCP on (https?)://[^:]+:(\d+)/mcp", line)
            if m:
                self.port = int(m.group(2))
                self.base = "%s://127.0.0.1:%d" % (m.group(1), self.port)
                self.url = self.base + "/mcp"
                break
            if time.time() - t0 > 30:
                raise RuntimeError("the relay did not start")
        self._wait_http()

    def _wait_http(self):
        for _ in range(200):
            try:
                httpx.get(self.base + "/api/health", timeout=1, verify=False)
                return
            except httpx.HTTPError:
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)  # a test may have stopped it
        stop_group(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@contextlib.asynccontextmanager
async def http_client(url, key=None, mode="auto", verify=True):
    """The SDK's client over real HTTP (Streamable HTTP), with an API key header when given."""
    headers = {"X-API-Key": key} if key else {}
    async with httpx2.AsyncClient(headers=headers, verify=verify, timeout=30) as hc:
        async with Client(streamable_http_client(url, http_client=hc), mode=mode) as c:
            yield c


def keys(tmp_path, *roles):
    """A keys file with one key per role; returns (path, {role: key})."""
    path = str(tmp_path / "keys.json")
    out = {}
    for r in roles:
        out[r], _ = add_key(path, "k-" + r, r)
    return path, out


def mcp_post(url, name, arguments, key=None, version=MODERN, method="tools/call", headers=None, **kw):
    """One raw 2026-07-28 POST (or a handshake-era one when version is LEGACY)."""
    params = {"name": name, "arguments": arguments} if method == "tools/call" else {}
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": version}
    if version == MODERN:
        params["_meta"] = META
        h["Mcp-Method"] = method
        if method == "tools/call":
            h["Mcp-Name"] = name
    if key:
        h["X-API-Key"] = key
    h.update(headers or {})
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return httpx.post(url, content=json.dumps(body), headers=h, timeout=30, **kw)


def self_signed(d, hosts=("localhost", "127.0.0.1")):
    """(cert.pem, key.pem, cert.der) of a self-signed EC certificate for hosts, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    d = Path(d)
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return str(d / "cert.pem"), str(d / "key.pem"), str(d / "cert.der")


def board_code(code, heap=None, timeout=60):
    """Run code on the real MicroPython unix port with the compiled firmware (.mpy) on its path."""
    from hyperion_host.firmware import cached_firmware

    return run_micropython(code, heap=heap, timeout=timeout, firmware=cached_firmware("x64"))


def last_json(stdout):
    """The last line of MicroPython output that is a JSON object (tests print their results as JSON)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("no JSON line in: " + stdout[-1000:])
