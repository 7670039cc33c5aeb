# hyperion.remote: the board's MCP client (sockets and json only; runs on MicroPython and CPython).
#
#   c = remote.connect("http://192.168.1.10:8321/mcp", api_key="hyk_...")
#   y = c.infer("big_model", x)          # array('f'), or a tuple of them for several outputs
#   r = c.call("list_models")            # any tool: its structured result as a dict
#
# Protocol: each call is one POST to /mcp with the 2026-07-28 headers (MCP-Protocol-Version, Mcp-Method,
# Mcp-Name) and the per-request _meta envelope; no handshake. A server that does not serve 2026-07-28
# (it answers HTTP 400 with JSON-RPC error -32022 "Unsupported protocol version" and data.supported, or an
# older server's 4xx) is spoken to with the 2025-11-25 handshake instead: initialize,
# notifications/initialized, then the call, with Mcp-Session-Id when the server gives one.
# HTTP and HTTPS (ssl), an API key (X-API-Key), a timeout per request, retries with exponential backoff on
# transient failures (refused, reset, timeout, 5xx, 429 with its Retry-After). The HTTP(S) side: transport.py.
#
# "serial:" as the URL talks to a host bridge over the REPL's serial line instead (no network): each request
# is printed as one line, RS "HYMCP " + JSON, and the host writes the response back as one JSON line
# (hyperion-host serve --bridge PORT).
import json
import time

from hyperion.transport import Http, RemoteError, RemoteUnavailable, parse_url  # noqa: F401 (re-exported)

PROTOCOL = "2026-07-28"
LEGACY = "2025-11-25"
MARK = "\x1eHYMCP "
_PV = "io.modelcontextprotocol/protocolVersion"
_CAPS = "io.modelcontextprotocol/clientCapabilities"
_INFO = "io.modelcontextprotocol/clientInfo"
CLIENT_META = "io.hyperion/client"



def _now_ms():
    try:
        return time.ticks_ms()
    except AttributeError:
        return int(time.time() * 1000)


def _sleep(s):
    if s > 0:
        time.sleep(s)


def _client_id():
    try:
        import binascii

        import machine

        return "board-" + binascii.hexlify(machine.unique_id()).decode()
    except (ImportError, AttributeError):
        pass
    try:
        import binascii
        import os

        return "board-" + binascii.hexlify(os.urandom(4)).decode()
    except (ImportError, AttributeError):
        return "board"


class _Base:
    """What the HTTP and serial clients share: request bodies, result decoding, call() and infer()."""

    def __init__(self, timeout=10, retries=1, backoff=0.25, client_id=None):
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.client_id = client_id or _client_id()
        self.counts = None  # a dict (local/remote/fallback/failed) sent to the relay with each call, for its monitoring
        self.report = None  # or a function giving a dict of more figures to send (hybrid.Runtime.report)
        self._id = 0
        self.protocol = None  # the protocol version in use once a call succeeded

    def _meta(self, modern):
        m = {}
        if modern:
            m[_PV] = PROTOCOL
            m[_CAPS] = {}
            m[_INFO] = {"name": "hyperion-board", "version": _version()}
        c = self.report() if self.report is not None else {}
        if self.counts:
            for k in ("local", "remote", "fallback", "failed"):
                c[k] = self.counts.get(k, 0)
        c["id"] = self.client_id
        m[CLIENT_META] = c
        return m

    def _request(self, method, params, modern):
        self._id += 1
        if params is None:
            params = {}
        params["_meta"] = self._meta(modern)
        return self._id, json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})

    def call(self, name, arguments=None):
        """Call a tool; returns its structured result (a dict). Retries transient failures with backoff."""
        attempt = 0
        while True:
            try:
                return _tool_result(self._call_once(name, arguments or {}))
            except RemoteUnavailable as e:
                self.close()
                if attempt >= self.retries:
                    raise
                wait = self.backoff * (1 << attempt)
                if e.retry_after:
                    wait = max(wait, min(e.retry_after, 2 * self.timeout))
                attempt += 1
                _sleep(wait)

    def list_tools(self):
        return self._rpc("tools/list", None).get("tools", [])

    def infer(self, model, x, shape=None):
        """Run a relay model on x (array('f'), list, or anything indexable of numbers). Returns array('f')
        (or a tuple of them for several outputs), as hyperion.load(...).run(x) does."""
        import binascii

        data = _f32_bytes(x)
        args = {"model": model, "data": binascii.b2a_base64(data).decode().strip(), "dtype": "float32",
                "output_format": "base64"}
        if shape is not None:
            args["shape"] = list(shape)
        res = self.call("infer", args)
        outs = tuple(_f32_array(binascii.a2b_base64(o["data"])) for o in res["outputs"])
        return outs[0] if len(outs) == 1 else outs

    def close(self):
        pass


def _version():
    try:
        from hyperion import __version__

        return __version__
    except ImportError:
        return "0"


def _tool_result(result):
    if result.get("isError"):
        texts = [c.get("text", "") for c in result.get("content", []) if isinstance(c, dict)]
        raise RemoteError(" ".join(texts) or "the tool failed", "tool")
    sc = result.get("structuredContent")
    if sc is not None:
        return sc
    for c in result.get("content", []):
        if isinstance(c, dict) and c.get("type") == "text":
            try:
                return json.loads(c["text"])
            except ValueError:
                return {"text": c["text"]}
    return {}


def _rpc_result(msg, status):
    """The result of a decoded JSON-RPC response, or the matching RemoteError."""
    if not isinstance(msg, dict):
        raise RemoteError("the relay sent no JSON-RPC response (HTTP %d)" % status, "protocol", status)
    err = msg.get("error")
    if err is not None:
        data = err.get("data") if isinstance(err.get("data"), dict) else {}
        st = data["status"] if isinstance(data.get("status"), int) else status
        text = "%s (JSON-RPC %s)" % (err.get("message", "error"), err.get("code"))
        if st == 401 or st == 403:
            raise RemoteError(text, "auth", st)
        if st == 429:
            raise RemoteUnavailable(text, "rate", st, data.get("retry_after"))
        if st >= 500 or (st == 0 and data.get("unreachable")):
            raise RemoteUnavailable(text, "server" if st else "refused", st, data.get("retry_after"))
        raise RemoteError(text, "protocol" if err.get("code") in (-32022, -32600, -32020) else "http", st)
    return msg.get("result", {})


def _f32_bytes(x):
    from array import array

    if isinstance(x, array) and getattr(x, "typecode", None) == "f":  # CPython; MicroPython arrays have no typecode
        return bytes(x)
    if hasattr(x, "flatten"):  # ulab / numpy
        x = x.flatten()
    n = len(x)
    a = array("f", bytes(4 * n))
    for i in range(n):
        a[i] = x[i]
    return bytes(a)


def _f32_array(raw):
    from array import array

    try:
        a = array("f")
        a.frombytes(raw)  # CPython
        return a
    except AttributeError:
        return array("f", raw)  # MicroPython copies the bytes


class Client(Http, _Base):
    """MCP over Streamable HTTP(S). One keep-alive connection (transport.Http), reopened when needed."""

    def __init__(self, url, api_key=None, timeout=10, retries=1, backoff=0.25, cadata=None, verify=True,
                 client_id=None, protocol=None):
        _Base.__init__(self, timeout, retries, backoff, client_id)
        Http.__init__(self, url, api_key, cadata, verify)
        self.legacy = protocol == LEGACY  # True once the server asked for the handshake
        self.session = None  # Mcp-Session-Id (legacy, stateful servers)
        self.ready = False  # legacy handshake done

    def _decode(self, status, hd, data, want_id):
        if status == 202:
            return None
        if status >= 500:
            raise RemoteUnavailable("the relay answered HTTP %d" % status, "server", status, _retry_after(hd))
        if status == 429:
            raise RemoteUnavailable("rate limited (HTTP 429)", "rate", 429, _retry_after(hd))
        if status in (401, 403):
            raise RemoteError("the relay refused the API key (HTTP %d): %s" % (status, _message(data)), "auth",
                              status)
        msg = None
        if hd.get("content-type", "").startswith("text/event-stream"):
            for line in data.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        m = json.loads(line[5:])
                    except ValueError:
                        continue
                    if isinstance(m, dict) and m.get("id") == want_id:
                        msg = m
        else:
            try:
                msg = json.loads(data)
            except ValueError:
                msg = None
        if msg is None and status >= 400:
            raise RemoteError("the relay answered HTTP %d: %s" % (status, _message(data)), "http", status)
        return _rpc_result(msg, status)

    def _modern_refused(self, e):
        """Whether an error to a 2026-07-28 request means: use the handshake instead. -32022 lists the
        versions the server speaks; an older server answers some other 4xx (400, 404, 405, 406)."""
        if e.kind == "auth" or isinstance(e, RemoteUnavailable):
            return False
        return e.status in (400, 404, 405, 406) and (e.kind == "protocol" or e.kind == "http")

    def _rpc(self, method, params, name=None):
        if not self.legacy:
            rid, body = self._request(method, params, True)
            h = {"MCP-Protocol-Version": PROTOCOL, "Mcp-Method": method}
            if name is not None:
                h["Mcp-Name"] = name
            try:
                res = self._decode(*self._post(body, h), want_id=rid)
                self.protocol = PROTOCOL
                return res
            except RemoteError as e:
                if self.protocol == PROTOCOL or not self._modern_refused(e):
                    raise
                self.legacy = True
                if params is not None:
                    params.pop("_meta", None)
        return self._legacy(method, params)

    def _legacy_headers(self):
        h = {"MCP-Protocol-Version": self.protocol or LEGACY}
        if self.session:
            h["Mcp-Session-Id"] = self.session
        return h

    def _legacy(self, method, params):
        for attempt in (0, 1):
            if not self.ready:
                self._handshake()
            rid, body = self._request(method, params, False)
            if params is not None:
                params.pop("_meta", None)
            status, hd, data = self._post(body, self._legacy_headers())
            if status == 404 and self.session and attempt == 0:  # the session expired: a new handshake
                self.ready = False
                self.session = None
                continue
            return self._decode(status, hd, data, rid)

    def _handshake(self):
        self.session = None
        rid, body = self._request("initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                 "clientInfo": {"name": "hyperion-board", "version": _version()}},
                                  False)
        status, hd, data = self._post(body, {})
        res = self._decode(status, hd, data, rid)
        self.session = hd.get("mcp-session-id")
        self.protocol = res.get("protocolVersion", LEGACY)
        body = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self._decode(*self._post(body, self._legacy_headers()), want_id=None)
        self.ready = True

    def _call_once(self, name, arguments):
        return self._rpc("tools/call", {"name": name, "arguments": arguments}, name)


def _retry_after(hd):
    v = hd.get("retry-after")
    try:
        return int(v) if v else None
    except ValueError:
        return None


def _message(data):
    try:
        m = json.loads(data)
        if isinstance(m, dict):
            e = m.get("error")
            if isinstance(e, dict):
                return e.get("message", "")
            return m.get("message") or str(e)
    except ValueError:
        pass
    return data[:120].decode("utf-8", "replace") if isinstance(data, bytes) else str(data)[:120]


class SerialClient(_Base):
    """MCP over the REPL's serial line, for a board without network: requests go out on stdout as one line
    (MARK + JSON), the host bridge answers with one JSON line on stdin."""

    def __init__(self, timeout=30, retries=0, backoff=0.25, client_id=None, stdin=None, stdout=None):
        _Base.__init__(self, timeout, retries, backoff, client_id)
        import sys

        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.protocol = PROTOCOL

    def _wait(self):
        try:
            import select

            p = select.poll()
            p.register(self.stdin, select.POLLIN)
            return bool(p.poll(int(self.timeout * 1000)))
        except (ImportError, AttributeError, OSError, TypeError, ValueError):
            return True  # cannot poll this stream: block in readline

    def _rpc(self, method, params, name=None):
        rid, body = self._request(method, params, True)
        self.stdout.write(MARK + body + "\n")
        if not self._wait():
            raise RemoteUnavailable("no answer from the host bridge within %gs" % self.timeout, "timeout")
        line = self.stdin.readline()
        if not line:
            raise RemoteUnavailable("the serial line closed", "network")
        try:
            msg = json.loads(line)
        except ValueError:
            raise RemoteError("the host bridge sent a line that is not JSON: %r" % line[:60], "protocol")
        return _rpc_result(msg, 200)

    def _call_once(self, name, arguments):
        return self._rpc("tools/call", {"name": name, "arguments": arguments}, name)


def connect(url=None, api_key=None, timeout=None, retries=None, **kw):
    """A client from arguments, else from hyperion.config()["remote"] (url, api_key, timeout, retries)."""
    cfg = {}
    if url is None:
        import hyperion

        cfg = hyperion.config().get("remote") or {}
        url = cfg.get("url")
        if not url:
            raise ValueError("no remote url: pass url= or set \"remote\": {\"url\": ...} in /hyperion.json")
    if api_key is None:
        api_key = cfg.get("api_key")
    if timeout is None:
        timeout = cfg.get("timeout", 10)
    if retries is None:
        retries = cfg.get("retries", 1)
    if url == "serial:" or url.startswith("serial:"):
        return SerialClient(timeout=timeout, retries=retries, **kw)
    return Client(url, api_key=api_key, timeout=timeout, retries=retries, **kw)
