"""The hybrid Runtime (firmware/hyperion/hybrid.py) on the real MicroPython unix port against the real relay:
the local/remote/auto policies, the heap estimate from the .hyq header, and the fallback to the board when the
relay is stopped, slow (a stopped process: timeout) or answering errors (503 in maintenance, 429)."""

import json
import os
import signal
import time

import httpx
import numpy as np
from test_relay_common import RelayProcess, board_code, last_json, models_dir_fixture, serve  # noqa: F401

from hyperion_host.model.hyqfile import load_program

X = [0.25 * (i % 5) - 0.5 for i in range(16)]

SCRIPT = """
import json, time, hyperion
from hyperion.hybrid import Runtime, RemoteUnavailable, estimate
hyperion.configure(model_dirs=[%(dir)r])
rt = Runtime(%(policy)r, url=%(url)r, timeout=%(timeout)s, retries=0, reserve=%(reserve)d)
out = {"runs": [], "decide": rt.decide("mlp")}
for i in range(%(n)d):
    t0 = time.ticks_ms()
    try:
        y = rt.run("mlp", %(x)r)
        out["runs"].append([rt.last, list(y), time.ticks_diff(time.ticks_ms(), t0)])
    except RemoteUnavailable as e:
        out["runs"].append(["unavailable", e.reason, e.kind])
out["counts"] = rt.counts
out["last_error"] = rt.last_error
%(after)s
print(json.dumps(out))
"""


def hybrid(models_dir, policy="auto", url="http://127.0.0.1:9/mcp", n=1, timeout=5, reserve=16384, local=True,
           after="", heap=None):
    d = str(models_dir) if local else str(models_dir.parent / "empty")
    os.makedirs(d, exist_ok=True)
    r = board_code(SCRIPT % {"dir": d, "policy": policy, "url": url, "timeout": timeout, "reserve": reserve,
                             "n": n, "x": X, "after": after}, heap=heap)
    assert r.ok, r.stderr + r.stdout
    return last_json(r.stdout)


def reference(models_dir):
    prog, _ = load_program(str(models_dir / "mlp.hyq"))
    return prog.run({"x": np.asarray([X], np.float32)})["y"][0]


def close(y, models_dir):
    np.testing.assert_allclose(np.asarray(y, np.float32), reference(models_dir), atol=2e-5)


def test_policies_and_the_heap_estimate(models_dir):
    with serve(models_dir) as s:
        out = hybrid(models_dir, "auto", s.url, n=2)
        assert out["decide"] == "local" and [r[0] for r in out["runs"]] == ["local", "local"]
        assert out["counts"] == {"local": 2, "remote": 0, "fallback": 0, "failed": 0}
        close(out["runs"][0][1], models_dir)
        # auto, but it does not fit: the relay runs it
        out = hybrid(models_dir, "auto", s.url, reserve=10 ** 9)
        assert out["decide"] == "remote" and out["runs"][0][0] == "remote"
        close(out["runs"][0][1], models_dir)
        # auto, not on the board
        out = hybrid(models_dir, "auto", s.url, local=False)
        assert out["runs"][0][0] == "remote" and out["counts"]["remote"] == 1
        assert hybrid(models_dir, "remote", s.url)["runs"][0][0] == "remote"
        assert hybrid(models_dir, "local", "http://127.0.0.1:9/mcp")["runs"][0][0] == "local"
    # the estimate covers what loading and running really takes (measured on the board's heap), after the
    # firmware's one-time costs: a first load imports the structure check, whose names stay interned (a qstr pool
    # can double then); Runtime.fits keeps a reserve for those
    r = board_code("import gc, json, hyperion\nfrom hyperion.hybrid import estimate, Runtime\n"
                   "from hyperion import model, ops, layers, errors, hyq, kernels\nfrom hyperion.kernels import python, viper\n"
                   "p = %r\nhyperion.load(p).close()\ngc.collect()\nf0 = gc.mem_free()\n"
                   "m = hyperion.load(p)\nm.run(%r)\ngc.collect()\n"
                   "used = f0 - gc.mem_free()\nrt = Runtime('auto', url='http://127.0.0.1:9/mcp')\n"
                   "hyperion.configure(model_dirs=[%r])\n"
                   "print(json.dumps({'est': estimate(p), 'used': used, 'fits': rt.fits('mlp')}))"
                   % (str(models_dir / "mlp.hyq"), X, str(models_dir)))
    res = last_json(r.stdout)
    assert res["used"] <= res["est"] < 4 * res["used"] + 16384
    fits, need, free = res["fits"]
    assert fits and need == res["est"] + 16384 and free > need
    # a small heap: the same model does not fit, so auto goes to the relay (here unreachable: it falls back)
    out = hybrid(models_dir, "auto", heap=160 * 1024, reserve=150 * 1024)
    assert out["decide"] == "remote" and out["runs"][0][0] == "fallback"


def test_fallback_when_the_relay_is_stopped(models_dir):
    p = RelayProcess("--models", str(models_dir))
    url = p.url
    p.stop()
    out = hybrid(models_dir, "remote", url, n=2)
    assert [r[0] for r in out["runs"]] == ["fallback", "fallback"]
    assert out["counts"] == {"local": 0, "remote": 0, "fallback": 2, "failed": 0}
    assert "refused" in out["last_error"]
    close(out["runs"][1][1], models_dir)
    out = hybrid(models_dir, "auto", url, local=False)
    kind, reason = out["runs"][0][2], out["runs"][0][1]
    assert out["runs"][0][0] == "unavailable" and kind == "refused"
    assert "model 'mlp' could not run on the relay (connection refused" in reason and "not on the board" in reason
    assert out["counts"]["failed"] == 1


def test_fallback_when_the_relay_is_slow(models_dir):
    with RelayProcess("--models", str(models_dir)) as p:
        os.killpg(p.proc.pid, signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
        try:
            t0 = time.time()
            out = hybrid(models_dir, "remote", p.url, timeout=0.5)
            assert out["runs"][0][0] == "fallback" and "timed out" in out["last_error"]
            assert time.time() - t0 < 5
            out = hybrid(models_dir, "auto", p.url, timeout=0.5, local=False)
            assert out["runs"][0][0] == "unavailable" and out["runs"][0][2] == "timeout"
        finally:
            os.killpg(p.proc.pid, signal.SIGCONT)
        out = hybrid(models_dir, "remote", p.url)
        assert out["runs"][0][0] == "remote"


def test_fallback_when_the_relay_answers_errors(models_dir):
    with serve(models_dir) as good, serve(models_dir, server__maintenance=True) as down:
        # 503 (maintenance), then the same board client reports its fallbacks to a healthy relay
        after = ("from hyperion import remote\nrt._client = remote.Client(%r)\nrt.policy = 'remote'\n"
                 "out['then'] = [rt.run('mlp', %r) is not None, rt.last]" % (good.url, X))
        out = hybrid(models_dir, "remote", down.url, n=2, after=after)
        assert [r[0] for r in out["runs"]] == ["fallback", "fallback"] and "503" in out["last_error"]
        assert out["then"] == [True, "remote"]
        m = httpx.get(good.base + "/api/monitoring").json()
        (client,) = m["clients"].values()  # its counts, with its heap and local latency (test_monitor.py)
        assert m["fallbacks"] == 2 and {k: client[k] for k in ("local", "remote", "fallback", "failed")} == \
            {"local": 0, "remote": 0, "fallback": 2, "failed": 0} and client["runs"] == 2
        out = hybrid(models_dir, "auto", down.url, local=False)
        assert out["runs"][0][2] == "server" and "HTTP 503" in out["runs"][0][1]
    with serve(models_dir, limits__per_ip=1) as limited:
        out = hybrid(models_dir, "remote", limited.url, n=3)
        assert [r[0] for r in out["runs"]] == ["remote", "fallback", "fallback"]
        assert "429" in out["last_error"]
        out = hybrid(models_dir, "auto", limited.url, local=False)
        assert out["runs"][0][2] == "rate"


def test_runtime_imports_on_cpython_and_checks_its_policy():
    import sys

    from hyperion_host.paths import firmware_dir

    sys.path.insert(0, str(firmware_dir()))
    from hyperion.hybrid import RemoteUnavailable, Runtime  # noqa: F401

    try:
        Runtime("fast")
    except ValueError as e:
        assert "policy must be one of local, remote, auto" in str(e)
    else:
        raise AssertionError("no error")
    assert json.dumps(Runtime("local").stats())


GEN_SCRIPT = """
import json, hyperion
from hyperion.hybrid import Runtime
hyperion.configure(model_dirs=[%(dir)r])
rt = Runtime(%(policy)r, url=%(url)r, timeout=30, retries=0)
pieces = list(rt.generate("tinylm", "Once upon a time", 24, temperature=0, stop="."))
print(json.dumps({"pieces": pieces, "last": rt.last, "counts": rt.counts, "last_error": rt.last_error}))
"""


def test_a_language_model_writes_on_the_board_or_on_the_relay_when_its_cache_does_not_fit(tmp_path):
    """Runtime.generate: with room, the board writes (streamed pieces, as Model.generate does); on a heap too
    small for tinylm's decoder, the relay writes the same request."""
    import shutil

    from hyperion_host.relay import models as M

    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "models", "tinylm", "tinylm.hyq"), d / "tinylm.hyq")
    with serve(d) as s:
        args = {"dir": str(d), "url": s.url}
        r = board_code(GEN_SCRIPT % dict(args, policy="auto"), heap=1024 * 1024)
        assert r.ok, r.stderr + r.stdout
        big = last_json(r.stdout)
        assert big["last"] == "local" and len(big["pieces"]) > 5
        r = board_code(GEN_SCRIPT % dict(args, policy="auto"), heap=140 * 1024)
        assert r.ok, r.stderr + r.stdout
        small = last_json(r.stdout)
        assert small["last"] == "remote" and "did not fit on the board" in small["last_error"]
        assert small["counts"]["remote"] == 1 and len(small["pieces"]) == 1
        g = M.Generator(s.relay.models.get("tinylm"), "Once upon a time", 24, 0.0, stop=".")
        while not g.done:
            g.step()
        assert small["pieces"][0] == g.text() and "." not in g.text() and g.text()
        assert "".join(big["pieces"]) == g.text()  # greedy on either side: the same first sentence
