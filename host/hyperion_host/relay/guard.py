"""The relay's guard, an ASGI layer in front of every route: API keys, roles, rate limits, Host/Origin checks
(DNS-rebinding protection) and maintenance mode; it counts every request for monitoring."""

import json
import re
import time
from urllib.parse import parse_qs

import anyio
from mcp.shared.inbound import decode_header_value
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from hyperion_host.relay.auth import ROLE_LEVEL, Identity, allows, role_for_tool

ROUTES = {"/mcp": "mcp", "/api/health": "health", "/api/monitoring": "monitoring", "/metrics": "metrics",
          "/ws/generate": "ws", "/api/monitoring/reset": "monitoring_reset", "/ws/monitoring": "ws_monitoring"}
ROUTE_ROLES = {"health": "viewer", "monitoring": "viewer", "metrics": "viewer", "ws": "operator", "other": "viewer",
               "monitoring_reset": "admin", "ws_monitoring": "viewer",
               "model_file": "operator"}  # /api/models/NAME/file: a model's weights, for running it elsewhere
PUBLIC = "/ui"  # the web UI's pages and scripts (relay/web.py): no data, so no key; rate limits still apply


def route_of(path):
    r = ROUTES.get(path)
    if r is None:
        if path == PUBLIC or path.startswith(PUBLIC + "/"):
            r = "ui"
        elif path.startswith("/api/models/"):
            r = "model_file"
        else:
            r = "other"
    return r


async def _reject(scope, receive, send, r, route):
    headers = [(b"content-type", b"application/json")]
    if r.retry_after is not None:
        headers.append((b"retry-after", str(_ceil(r.retry_after)).encode()))
    if r.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="hyperion-relay"'))
    if route == "mcp":
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": r.message,
                                                         "data": {"status": r.status, "reason": r.reason}}}
    else:
        body = {"error": r.reason, "message": r.message, "status": r.status}
    data = json.dumps(body).encode()
    if scope["type"] == "websocket":
        msg = await receive()  # websocket.connect
        if msg.get("type") == "websocket.connect" and "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": r.status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": data})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": r.message[:120]})
        return
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


MAX_DEPTH = 64  # JSON nesting a request may have: deep enough for any tensor, far from the parsers' recursion limit
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_depth(body):
    """The deepest [ / { nesting of a JSON text (bytes), strings skipped; cheap enough for any body the size
    limit lets in, and needs no recursion."""
    depth = top = 0
    for c in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        if c == 91 or c == 123:
            depth += 1
            if depth > top:
                top = depth
        else:
            depth -= 1
    return top


class Reject(Exception):
    def __init__(self, status, reason, message, retry_after=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class Guard:
    """Pure ASGI middleware in front of everything (BaseHTTPMiddleware would cost throughput)."""

    def __init__(self, app, relay, mcp_asgi, security):
        self.app = app
        self.relay = relay
        self.mcp_asgi = mcp_asgi
        self.sec = security
        self.modern_off = "2026-07-28" not in relay.cfg["server"]["protocols"]

    async def __call__(self, scope, receive, send):
        typ = scope["type"]
        if typ == "lifespan":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        route = route_of(path)
        relay = self.relay
        t0 = time.perf_counter()
        status = 0

        async def send_w(msg):
            nonlocal status
            t = msg["type"]
            if t == "http.response.start" or t == "websocket.http.response.start":
                status = msg["status"]
            elif t == "websocket.accept":
                status = 101
            await send(msg)

        ident = None
        tool = None
        client = scope.get("client")
        ip = client[0] if client else "-"
        try:
            h = {}
            for k, v in scope["headers"]:
                if k in _WANTED:
                    h[k] = v.decode("latin-1")
            if route != "mcp" and self.sec.enable_dns_rebinding_protection:
                self._check_host_origin(h)
            wait = relay.ip_limit.check(ip)
            if wait.__class__ is not float:  # the Ray engine's limits live in its hub
                wait = await wait
            if wait:
                raise Reject(429, "rate_ip", "too many requests from %s; retry in %ds" % (ip, _ceil(wait)), wait)
            if route == "ui":
                ident = Identity("public", "public", "viewer", ip)  # reaches only the UI's files
            elif relay.keys.enabled:
                key = key_from(h, scope)
                if not key:
                    raise Reject(401, "no_key", "missing API key: send X-API-Key, Authorization: Bearer, or "
                                 "?api_key=")
                ident = relay.keys.verify(key)
                if ident is None:
                    raise Reject(401, "bad_key", "invalid API key")
                ident.ip = ip
                wait = relay.key_limit.check(ident.key_id)
                if wait.__class__ is not float:
                    wait = await wait
                if wait:
                    raise Reject(429, "rate_key", "rate limit for key %s reached; retry in %ds"
                                 % (ident.key_id, _ceil(wait)), wait)
            else:
                ident = Identity("anonymous", "anonymous", "admin", ip)
            if route == "mcp" and typ == "http":
                method, tool, needed, receive = await self._mcp_target(scope, receive, h)
            else:
                method, needed = None, ROUTE_ROLES.get(route, "viewer")
            if not allows(ident.role, needed):
                what = ("tool '%s'" % tool) if tool else path
                raise Reject(403, "role", "forbidden: %s needs role %s; key %s has role %s"
                             % (what, needed, ident.key_id, ident.role))
            if method == "tools/call" and relay.cfg["server"]["maintenance"]:
                raise Reject(503, "maintenance", "the relay is in maintenance; retry later", 30)
        except Reject as r:
            relay.monitor.rejected(r.reason)
            relay.monitor.log("warning", "rejected", status=r.status, reason=r.reason, route=route, tool=tool,
                              key=ident.key_id if ident else None)
            relay.audit.write(key=ident.key_id if ident else None, ip=ip, route=path,
                              tool=tool, outcome="denied", status=r.status, reason=r.reason)
            await _reject(scope, receive, send_w, r, route)
            if typ == "http":
                relay.monitor.request(route, status, time.perf_counter() - t0)
            return
        scope["hyperion.identity"] = ident
        mon = relay.monitor
        work = route == "mcp" or route == "ws"  # what the in-flight gauge counts: not its own scrape
        if work:
            mon.in_flight += 1  # an int on the event loop: no lock, no Prometheus call (read at scrape time)
        try:
            if route == "mcp":
                pv = h.get(b"mcp-protocol-version")
                if self.modern_off and pv is not None and pv not in HANDSHAKE_PROTOCOL_VERSIONS:
                    await self._unsupported(scope, receive, send_w, pv)
                    return
                await self.mcp_asgi(scope, receive, send_w)
            else:
                await self.app(scope, receive, send_w)
        finally:
            if work:
                mon.in_flight -= 1
            if route != "ui":  # the UI's own files: not the relay's traffic (a page is ~30 of them)
                mon.request(route, status or 500, time.perf_counter() - t0 if typ == "http" else None)

    def _check_host_origin(self, h):
        if not _match(h.get(b"host"), self.sec.allowed_hosts):
            raise Reject(421, "host", "Host header %r is not allowed (security.allowed_hosts)" % h.get(b"host"))
        origin = h.get(b"origin")
        if origin and not _match(origin, self.sec.allowed_origins):
            raise Reject(403, "origin", "Origin %r is not allowed (security.allowed_origins)" % origin)

    async def _unsupported(self, scope, receive, send, pv):
        """A 2026-07-28 request to a relay configured for the handshake only: what a handshake-era server
        answers under the 2026 spec (HTTP 400, -32022, the versions it does speak)."""
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
            "code": -32022, "message": "Unsupported protocol version",
            "data": {"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": pv}}}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _mcp_target(self, scope, receive, h):
        """(method, tool name, role needed, receive) of an MCP POST. The body is read (within limits.max_body and
        MAX_DEPTH) and replayed to the app. A 2026-07-28 request names the method and tool in its Mcp-Method and
        Mcp-Name headers, which the SDK checks against the body before dispatch; others are read from it."""
        if scope["method"] != "POST":
            return None, None, "viewer", receive
        chunks, size, limit = [], 0, self.relay.cfg["limits"]["max_body"]
        deadline = anyio.current_time() + self.relay.cfg["limits"]["read_timeout"]
        while True:
            try:  # a client that sends its body slowly, or not at all, is cut off (a slowloris)
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    m = await receive()
            except TimeoutError:
                raise Reject(408, "read_timeout", "the request body did not arrive within %ss"
                             % self.relay.cfg["limits"]["read_timeout"]) from None
            if m["type"] != "http.request":
                break
            chunks.append(m.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                raise Reject(413, "too_large", "request body too large")
            if not m.get("more_body"):
                break
        body = b"".join(chunks)
        if json_depth(body) > MAX_DEPTH:  # the parsers behind would recurse past their limit: a 500
            raise Reject(400, "too_deep", "request JSON is nested more than %d deep" % MAX_DEPTH)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        pv = h.get(b"mcp-protocol-version")
        if pv is not None and pv not in HANDSHAKE_PROTOCOL_VERSIONS:  # 2026-07-28: the headers name them
            method, name = h.get(b"mcp-method"), decode_header_value(h.get(b"mcp-name"))
            return method, name, role_for_tool(name) if method == "tools/call" else "viewer", replay
        method, tool, needed = None, None, "viewer"
        try:
            d = json.loads(body)
        except ValueError:
            return None, None, needed, replay
        for it in d if isinstance(d, list) else [d]:
            if not isinstance(it, dict):
                continue
            m = it.get("method")
            method = method or m
            if m == "tools/call":
                p = it.get("params")
                name = p.get("name") if isinstance(p, dict) else None
                if isinstance(name, str) and ROLE_LEVEL[role_for_tool(name)] >= ROLE_LEVEL[needed]:
                    method, tool, needed = m, name, role_for_tool(name)
        return method, tool, needed, replay


_WANTED = {b"x-api-key", b"authorization", b"mcp-protocol-version", b"mcp-method", b"mcp-name", b"host",
           b"origin"}


def _ceil(x):
    return int(x) + (1 if x > int(x) else 0)


def _match(value, patterns):
    if not value:
        return False
    for p in patterns:
        if value == p or (p.endswith(":*") and value.startswith(p[:-1])):
            return True
    return False


def key_from(h, scope):
    k = h.get(b"x-api-key")
    if k:
        return k.strip()
    a = h.get(b"authorization")
    if a and a[:7].lower() == "bearer ":
        return a[7:].strip()
    qs = scope.get("query_string")
    if qs and b"api_key=" in qs:
        v = parse_qs(qs.decode("latin-1")).get("api_key")
        if v:
            return v[0]
    return None
