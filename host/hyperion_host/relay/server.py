"""The relay server: the MCP tools on Streamable HTTP at /mcp (the SDK's stateless JSON mode, which answers
both protocol 2026-07-28 single POSTs and the 2025-11-25 initialize handshake), operational endpoints and a
WebSocket for streamed generation, behind a guard that checks API keys, roles, rate limits and Host/Origin.

    /mcp             MCP (POST)                                  role: per tool (viewer, operator, admin)
    /api/health      liveness and readiness (200 ready, 503 not)  viewer
    /api/monitoring  counts, latency percentiles, recent logs     viewer
    /metrics         Prometheus                                   viewer
    /api/monitoring/reset  POST: forget counters, samples, logs, alert history   admin
    /ws/generate     WebSocket: {"model", "prompt", ...} in, tokens out      operator
    /ui ...          the web UI and its endpoints (relay/web.py)
"""

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import threading
import time

import anyio
import anyio.to_thread
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from hyperion_host.errors import HyperionError
from hyperion_host.relay import config as C
from hyperion_host.relay import models as M
from hyperion_host.relay import tools
from hyperion_host.relay.alerts import Alerts, check_alerts, post_webhook
from hyperion_host.relay.auth import AuditLog, KeyStore, RateLimiter
from hyperion_host.relay.boards import BoardPool
from hyperion_host.relay.guard import MAX_DEPTH, Guard, json_depth
from hyperion_host.relay.monitoring import Monitor
from hyperion_host.relay.web import Web

RELOAD_POLL = 1.0  # seconds between checks of the config and keys files
MAX_WEBHOOKS = 8  # webhook POSTs under way at once; more alerts meanwhile are logged, not posted


def local_parts(cfg):
    """This process's own keys, audit log, rate limiters and boards (the local engine)."""
    lim = cfg["limits"]
    return {"keys": KeyStore(cfg["auth"]["keys_file"]), "audit": AuditLog(cfg["auth"]["audit_log"]),
            "key_limit": RateLimiter(lim["per_key"], lim["window"]),
            "ip_limit": RateLimiter(lim["per_ip"], lim["window"]),
            "boards": BoardPool(cfg["server"]["boards"], lim["board_timeout"], lim["board_lock_timeout"])}


class Relay:
    """Everything one relay process serves: config, models, boards, keys, limits, monitoring, the MCP server."""

    def __init__(self, cfg, overrides=None, parts=None):
        """parts: the keys, audit log, rate limiters and boards, when they are shared with other replicas
        (ray_engine.ray_parts); this process's own otherwise (local_parts)."""
        self.cfg = cfg
        self.overrides = overrides or {}
        mon = cfg["monitoring"]
        self.monitor = Monitor(mon["log_buffer"], mon["latency_window"])
        parts = parts or local_parts(cfg)
        self.keys, self.audit = parts["keys"], parts["audit"]
        self.key_limit, self.ip_limit = parts["key_limit"], parts["ip_limit"]
        self.boards = parts["boards"]
        self.replica = parts.get("replica")
        self.sync = parts.get("sync")  # the Ray engine's per-second exchange with the hub, or None
        self.models = M.ModelStore(cfg["server"]["models"])
        self.mcp = tools.build(self)
        self.monitor.m_models.set(len(self.models.models))
        self._cfg_mtime = _mtime(cfg.get("_path"))
        self.reload_now = None
        self.monitor.log("info", "started", models=sorted(self.models.models), boards=sorted(self.boards.slots),
                         auth=self.keys.enabled)

    # -- configuration reload ------------------------------------------------------------------------------
    def reload(self, force=False):
        """Re-read the keys file and the reloadable config keys if their files changed (or force)."""
        changed = []
        try:
            if self.keys.reload():
                changed.append("keys")
        except HyperionError as e:
            self.monitor.log("error", "reload_failed", what="keys", error=e.format_message())
        path = self.cfg.get("_path")
        m = _mtime(path)
        if path and (force or m != self._cfg_mtime):
            self._cfg_mtime = m
            try:
                new = C.reload_values(path, self.cfg, overrides=self.overrides)
            except HyperionError as e:
                self.monitor.log("error", "reload_failed", what="config", error=e.format_message())
                new = {}
            for (s, k), v in new.items():
                self.cfg[s][k] = v
                changed.append("%s.%s" % (s, k))
            lim = self.cfg["limits"]
            if self.sync is not None:
                self.sync.configure(self.cfg)
            else:
                self.key_limit.configure(lim["per_key"], lim["window"])
                self.ip_limit.configure(lim["per_ip"], lim["window"])
            self.boards.timeout = lim["board_timeout"]
            self.boards.lock_timeout = lim["board_lock_timeout"]
            if ("monitoring", "alerts") in new:
                self.monitor.alert_active([r.name for r in self.alerts.rules], ())  # rules removed read 0
                self.alerts.update(self.cfg["monitoring"]["alerts"])
        if changed:
            self.monitor.log("info", "reloaded", changed=changed)
        return changed

    async def _watch(self):
        while True:
            with anyio.move_on_after(RELOAD_POLL):
                await self.reload_now.wait()
            force = self.reload_now.is_set()
            self.reload_now = anyio.Event()
            self.reload(force=force)
            self.audit.flush()
            if self.sync is not None:
                try:
                    await self.sync(self)
                except Exception as e:  # noqa: BLE001 - the hub restarting: retried next second
                    self.monitor.log("error", "sync_failed", error=str(e)[:200])

    @functools.cached_property
    def audio_limiter(self):
        """Keyword clips turned into MFCCs at once (each is ~0.2 s of CPU per second of audio)."""
        return anyio.CapacityLimiter(2)

    @functools.cached_property
    def profile_lock(self):
        """One model_profile at a time: each boots a board's emulated core."""
        return anyio.Lock()

    # -- alerts ----------------------------------------------------------------------------------------------
    @functools.cached_property
    def alerts(self):
        return Alerts(self.cfg["monitoring"]["alerts"])

    def check_alerts(self, now=None):
        """Evaluate the alert rules on a fresh snapshot; log and count what fires. Returns the fired events."""
        if not self.alerts.rules:
            return []
        self.monitor.m_boards_up.set(sum(s.present() for s in self.boards.slots.values()))
        return check_alerts(self.alerts, self.monitor, self.monitor.snapshot(), now)

    async def _alert_loop(self):
        """Check the alerts every monitoring.alert_interval seconds (re-read each time: it reloads). Webhook
        POSTs run beside the loop, so a slow receiver holds neither it nor any request. Under the Ray engine
        the hub checks them, once, on every replica's figures."""
        if self.sync is not None:
            return
        pending = [0]

        async def post(url, ev):
            pending[0] += 1
            try:
                await post_webhook(url, ev, self.monitor.log)
            finally:
                pending[0] -= 1

        async with anyio.create_task_group() as tg:
            while True:
                await anyio.sleep(self.cfg["monitoring"]["alert_interval"])
                url = self.cfg["monitoring"]["webhook"]
                for ev in self.check_alerts():
                    if url and pending[0] < MAX_WEBHOOKS:
                        tg.start_soon(post, url, ev)
                    elif url:
                        self.monitor.log("warning", "webhook_skipped", rule=ev["rule"], pending=pending[0])

    # -- the HTTP app --------------------------------------------------------------------------------------
    def security_settings(self):
        sec = self.cfg["security"]
        host = self.cfg["server"]["host"]
        on = sec["dns_rebinding_protection"]
        if on is None:
            on = C.is_loopback(host) or bool(sec["allowed_hosts"])
        if not on:
            return TransportSecuritySettings(enable_dns_rebinding_protection=False)
        schemes = ("http", "https")
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"] + list(sec["allowed_hosts"])
        origins = ["%s://%s" % (s, h) for s in schemes for h in ("127.0.0.1:*", "localhost:*", "[::1]:*")]
        return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=origins + list(sec["allowed_origins"]))

    def app(self):
        """The ASGI app (a new one per call: the SDK's session manager runs once)."""
        sec = self.security_settings()
        self.mcp.streamable_http_app(json_response=True, stateless_http=True, transport_security=sec,
                                     max_request_body_size=self.cfg["limits"]["max_body"],
                                     host=self.cfg["server"]["host"])
        manager = self.mcp.session_manager
        mcp_asgi = StreamableHTTPASGIApp(manager)

        @contextlib.asynccontextmanager
        async def lifespan(app):
            self.reload_now = anyio.Event()
            installed = _install_sighup(self)
            if self.sync is not None:
                await self.sync.first()  # the keys before the first request
            async with manager.run(), anyio.create_task_group() as tg:
                tg.start_soon(self._watch)
                tg.start_soon(self._alert_loop)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
                    self.audit.flush()
                    if installed:
                        with contextlib.suppress(Exception):
                            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

        routes = [
            Route("/mcp", endpoint=mcp_asgi),
            Route("/api/health", self._health, methods=["GET"]),
            Route("/api/monitoring", self._monitoring, methods=["GET"]),
            Route("/api/monitoring/reset", self._monitoring_reset, methods=["POST"]),
            Route("/metrics", self._metrics, methods=["GET"]),
            WebSocketRoute("/ws/generate", self._ws_generate),
        ] + Web(self).routes()
        return Guard(Starlette(routes=routes, lifespan=lifespan), self, mcp_asgi, sec)

    # -- endpoints -----------------------------------------------------------------------------------------
    def health(self):
        boards = [{"name": s.name, "port": s.port, "present": s.present(), "busy": s.busy,
                   "last_error": s.last_error} for s in self.boards.slots.values()]
        models_ok = not self.models.errors and (not self.models.dir or bool(self.models.models))
        boards_ok = all(b["present"] for b in boards)
        maint = self.cfg["server"]["maintenance"]
        ready = models_ok and boards_ok and not maint
        self.monitor.m_boards_up.set(sum(b["present"] for b in boards))
        return {"status": "ok" if ready else ("maintenance" if maint else "degraded"), "live": True, "ready": ready,
                "models": {"loaded": len(self.models.models), "names": sorted(self.models.models),
                           "errors": self.models.errors},
                "boards": boards, "maintenance": maint, "auth": self.keys.enabled, "version": tools._version(),
                "engine": "ray" if self.sync is not None else "local", "replica": self.replica,
                "protocols": list(MODERN_PROTOCOL_VERSIONS) + [HANDSHAKE_PROTOCOL_VERSIONS[-1]]}

    async def _health(self, request):
        h = self.health()
        if request.query_params.get("probe") in ("1", "true"):
            for name in list(self.boards.slots):
                try:
                    await self.boards.identify(name, timeout=3.0)
                    h["boards"] = [dict(b, info=self.boards.slots[b["name"]].info) for b in h["boards"]]
                except HyperionError as e:
                    h["ready"] = False
                    h["status"] = "degraded"
                    for b in h["boards"]:
                        if b["name"] == name:
                            b["last_error"] = e.format_message()
        return JSONResponse(h, status_code=200 if h["ready"] else 503)

    async def _cluster(self):
        """Under the Ray engine: (merged export of every live replica, this one fresh, the hub's own, the scale
        view); else (this process's export, None)."""
        if self.sync is None:
            return self.monitor.export(), None
        from hyperion_host.relay.monitoring import merge

        cl = await self.sync.cluster()
        me = self.monitor.replica
        e = merge([x for x in cl["exports"] if x["replica"] != me] + [self.monitor.export()])
        return e, dict(cl["scale"], replicas_reporting=cl["replicas"], alerts=cl["alerts"])

    async def _monitoring(self, request):
        return JSONResponse(await self.monitoring_view())

    async def monitoring_view(self):
        """What /api/monitoring answers and /ws/monitoring pushes."""
        from hyperion_host.relay.monitoring import snapshot_of

        e, scale = await self._cluster()
        snap = snapshot_of(e)
        if scale is None:
            snap.update(engine="local", alerts=self.alerts.summary())
        else:
            snap.update(engine="ray", alerts=scale.pop("alerts"), scale=scale)
        snap["models"] = len(self.models.models)
        snap["limits"] = dict(self.cfg["limits"])
        return snap

    async def _monitoring_reset(self, request):
        ident = request.scope.get("hyperion.identity")
        key = ident.key_id if ident else None
        self.monitor.reset()
        self.alerts.clear()
        if self.sync is not None:  # every replica forgets at its next sync, and the hub its alerts
            await self.sync.reset()
        self.monitor.log("info", "monitoring_reset", key=key)
        self.audit.write(key=key, ip=ident.ip if ident else None, route="/api/monitoring/reset", outcome="ok",
                         action="monitoring_reset")
        return JSONResponse({"reset": True, "ts": round(time.time(), 3)})

    async def _metrics(self, request):
        self.monitor.m_boards_up.set(sum(s.present() for s in self.boards.slots.values()))
        from prometheus_client import CONTENT_TYPE_LATEST

        if self.sync is not None:  # one replica answers for all: the merged figures
            from hyperion_host.relay.monitoring import prometheus_of, prometheus_scale

            e, scale = await self._cluster()
            return Response(prometheus_of(e) + prometheus_scale(scale), media_type=CONTENT_TYPE_LATEST)
        return Response(self.monitor.prometheus(), media_type=CONTENT_TYPE_LATEST)

    async def _ws_generate(self, ws):
        """Per message {"model", "prompt", "max_tokens", "temperature", "top_k", "top_p", "repetition_penalty",
        "seed", "stop"}: one
        {"token", "id", "index"} message per token, then {"done": true, "text", "tokens", "ms"}."""
        ident = ws.scope.get("hyperion.identity")
        await ws.accept()
        while True:
            try:
                text = await ws.receive_text()
            except WebSocketDisconnect:
                return
            except (ValueError, KeyError):
                await ws.send_json({"error": "send one JSON object per request"})
                continue
            try:
                if json_depth(text.encode()) > MAX_DEPTH:
                    raise ValueError
                req = json.loads(text)
            except ValueError:
                await ws.send_json({"error": "send one JSON object per request (nested at most %d deep)"
                                    % MAX_DEPTH})
                continue
            t0 = time.perf_counter()
            ok, err = True, None
            try:
                if not isinstance(req, dict) or not isinstance(req.get("model"), str) or \
                        not isinstance(req.get("prompt"), str):
                    raise M.ModelError("a request needs \"model\" and \"prompt\" strings")
                e = self.models.get(req["model"])
                g = M.Generator(e, req["prompt"], req.get("max_tokens", 32), req.get("temperature", 0.0),
                                req.get("top_k", 0), req.get("seed"), req.get("stop"), req.get("top_p", 1.0),
                                req.get("repetition_penalty", 1.0), limit=self.cfg["limits"]["max_tokens"])
                import codecs

                dec = codecs.getincrementaldecoder("utf-8")("replace")
                while not g.done:
                    tok = g.step() if e.inline else await anyio.to_thread.run_sync(g.step)
                    await ws.send_json({"token": dec.decode(bytes([tok])), "id": tok, "index": len(g.new) - 1})
                ms = (time.perf_counter() - t0) * 1000
                await ws.send_json({"done": True, "text": g.text(), "tokens": len(g.new), "ms": round(ms, 3)})
            except (HyperionError, TypeError, ValueError) as ex:
                ok, err = False, ex.format_message() if isinstance(ex, HyperionError) else str(ex)
                await ws.send_json({"error": err})
            except WebSocketDisconnect:
                ok, err = False, "client went away"
                return
            finally:
                self.monitor.tool("ws_generate", ok, time.perf_counter() - t0)
                rec = {"key": ident.key_id if ident else None, "ip": ident.ip if ident else None,
                       "tool": "ws_generate", "outcome": "ok" if ok else "error",
                       "ms": round((time.perf_counter() - t0) * 1000, 3)}
                if err:
                    rec["error"] = err[:300]
                self.audit.write(**rec)


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


def _install_sighup(relay):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return False
    try:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: relay.reload_now.set())
        return True
    except (RuntimeError, NotImplementedError, ValueError):
        return False


# -- running -------------------------------------------------------------------------------------------------

def describe(cfg, relay, port):
    s = cfg["server"]
    scheme = "https" if s["tls_cert"] else "http"
    auth = ("keys from %s" % cfg["auth"]["keys_file"]) if cfg["auth"]["keys_file"] else "off"
    n_models = len(relay.models.models) if relay else "?"
    return ("hyperion relay: MCP on %s://%s:%d/mcp (%s models, %d boards, auth %s)"
            % (scheme, s["host"], port, n_models, len(s["boards"]), auth))


def check_auth_policy(cfg):
    a = cfg["auth"]
    if not a["keys_file"] and not C.is_loopback(cfg["server"]["host"]) and not a["insecure_no_auth"]:
        raise HyperionError("refusing to serve on %s without API keys: create a keys file with `hyperion-host "
                            "serve keys add NAME --role operator --keys-file keys.json` and pass --keys-file, "
                            "or pass --insecure-no-auth" % cfg["server"]["host"])


def uvicorn_config(app, cfg, **kw):
    import uvicorn

    s, lim = cfg["server"], cfg["limits"]
    return uvicorn.Config(app, host=s["host"], port=s["port"], log_level="warning", access_log=False,
                          ssl_certfile=s["tls_cert"], ssl_keyfile=s["tls_key"], lifespan="on",
                          timeout_graceful_shutdown=3, timeout_keep_alive=lim["idle_timeout"],
                          limit_concurrency=lim["max_connections"], **kw)


def check_tls(cfg):
    s = cfg["server"]
    if not s["tls_cert"]:
        return
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(s["tls_cert"], s["tls_key"])
    except (ssl.SSLError, OSError) as e:
        raise HyperionError("cannot use --tls-cert %s with --tls-key %s: %s"
                            % (s["tls_cert"], s["tls_key"], getattr(e, "reason", None) or e)) from None


def run(cfg, overrides=None, on_ready=None, bridge=None):
    """Serve over HTTP(S) until interrupted. on_ready(port) is called once the socket is bound."""
    import uvicorn

    check_auth_policy(cfg)
    check_tls(cfg)
    workers = cfg["server"]["workers"]
    if workers > 1:
        _run_workers(cfg, workers, on_ready)
        return
    relay = Relay(cfg, overrides)
    config = uvicorn_config(relay.app(), cfg)
    sock = _bind(config)
    port = sock.getsockname()[1]
    print(describe(cfg, relay, port), file=sys.stderr, flush=True)
    server = uvicorn.Server(config)
    if bridge is not None:
        bridge(relay, port, server)
    if on_ready:
        on_ready(port)
    server.run(sockets=[sock])


def bind(host, port, reuse_port=False):
    """A listening-ready TCP socket. Made with proto IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted
    connections (uvicorn's own bind_socket() leaves proto 0, and then every keep-alive response waits ~40 ms
    for a delayed ACK: Nagle)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise HyperionError("cannot listen on %s:%d: %s; pick another --port or --host"
                            % (host, port, e.strerror or e)) from None
    sock.set_inheritable(True)
    return sock


def _bind(config):
    return bind(config.host, config.port)


def _run_workers(cfg, workers, on_ready):
    """N worker processes, each with its own SO_REUSEPORT socket on the same port: the kernel spreads
    connections over them (one shared socket, as uvicorn --workers has, leaves most connections to whichever
    worker accepts first)."""
    import multiprocessing

    s = cfg["server"]
    probe = bind(s["host"], s["port"], reuse_port=True)  # picks the port when it is 0; never listens
    port = probe.getsockname()[1]
    print(describe(cfg, None, port) + " with %d workers" % workers, file=sys.stderr, flush=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(C.to_env_json(cfg), port), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    if on_ready:
        on_ready(port)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # stop the workers too, not only this process
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
        probe.close()


def _worker(cfg_json, port):
    import uvicorn

    cfg = json.loads(cfg_json)
    relay = Relay(cfg)
    sock = bind(cfg["server"]["host"], port, reuse_port=True)
    uvicorn.Server(uvicorn_config(relay.app(), cfg)).run(sockets=[sock])


async def run_stdio(cfg):
    relay = Relay(cfg)
    await relay.mcp.run_stdio_async()
