"""The relay's web UI and what only it needs.

    /ui, /ui/{models,boards,monitoring,api,browser}   the pages (one HTML shell; app.js draws the page)   public
    /ui/config.json                                   whether the relay asks for a key                      public
    /ui/static/FILE                                   the UI's own scripts and styles (package data)        public
    /ui/wasm/micropython.{mjs,wasm}                   MicroPython's WebAssembly port (`make web`)           public
    /ui/firmware/files.json, /ui/firmware/PATH        firmware/hyperion's sources, for the browser board    public
    /api/whoami                                       the caller's key id, name and role                    viewer
    /api/openapi.json                                 OpenAPI 3.1 of the REST endpoints                     viewer
    /api/models/NAME/file                             a model's .hyq (its weights), for the browser board   operator
    /ws/monitoring                                    the /api/monitoring view, pushed every second         viewer

The pages and scripts carry no data, so they load without a key (the key prompt is one of them); everything
they show comes from the keyed endpoints and /mcp. Files are served from indexes built at start-up, never by
joining a request's path onto a folder."""

import os
import sys
from pathlib import Path

import anyio
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from hyperion_host.paths import firmware_dir
from hyperion_host.relay.guard import key_from

ASSETS = Path(__file__).resolve().parent / "web"
PAGES = ("models", "boards", "monitoring", "api", "browser")
RUNTIME_FILES = ("micropython.mjs", "micropython.wasm")
PUSH_INTERVAL = 1.0  # seconds between /ws/monitoring messages
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".wasm": "application/wasm",
         ".py": "text/x-python; charset=utf-8", ".svg": "image/svg+xml"}
# The pages run only their own scripts; the worker compiles the WebAssembly runtime ('wasm-unsafe-eval'), and
# fetches and WebSockets go back to the relay only.
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
       "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
           "cache-control": "no-cache"}


def runtime_dir():
    """Where MicroPython's WebAssembly port is: $HYPERION_WASM_DIR, else <python env>/share/hyperion/wasm
    (tools/build_web.py puts it there)."""
    return Path(os.environ.get("HYPERION_WASM_DIR") or Path(sys.prefix) / "share" / "hyperion" / "wasm")


def _index(root, suffixes, recursive=False):
    """{relative posix path: absolute path} of the files under root with those suffixes (no links, no dot
    files): the only files a route may answer with."""
    out = {}
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*") if recursive else root.iterdir()):
        rel = p.relative_to(root).as_posix()
        if p.suffix in suffixes and p.is_file() and not p.is_symlink() and not any(
                part.startswith((".", "_")) and part != "__init__.py" for part in rel.split("/")):
            out[rel] = p
    return out


class Web:
    def __init__(self, relay):
        self.relay = relay
        self.assets = _index(ASSETS, (".html", ".js", ".mjs", ".css", ".svg"))
        fw = firmware_dir() / "hyperion"
        self.firmware = {"hyperion/" + k: v for k, v in _index(fw, (".py",), recursive=True).items()}
        self.firmware_list = {"files": [{"path": k, "bytes": v.stat().st_size} for k, v in self.firmware.items()]}

    def routes(self):
        return [
            Route("/ui", self.page, methods=["GET"]),
            Route("/ui/config.json", self.config, methods=["GET"]),
            Route("/ui/{page}", self.page, methods=["GET"]),
            Route("/ui/static/{name}", self.static, methods=["GET"]),
            Route("/ui/wasm/{name}", self.wasm, methods=["GET"]),
            Route("/ui/firmware/files.json", self.firmware_files, methods=["GET"]),
            Route("/ui/firmware/{path:path}", self.firmware_file, methods=["GET"]),
            Route("/ui/{rest:path}", self.nothing, methods=["GET"]),
            Route("/api/whoami", self.whoami, methods=["GET"]),
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/models/{name}/file", self.model_file, methods=["GET"]),
            WebSocketRoute("/ws/monitoring", self.ws_monitoring),
        ]

    # -- public files ------------------------------------------------------------------------------------------
    async def page(self, request):
        name = request.path_params.get("page", "models")
        if name not in PAGES:
            return _missing("no page /ui/%s (pages: %s)" % (name, ", ".join(PAGES)))
        return _file(ASSETS / "index.html")

    async def config(self, request):
        """What the pages need before a key: whether the relay asks for one."""
        return JSONResponse({"auth": self.relay.keys.enabled}, headers=HEADERS)

    async def static(self, request):
        p = self.assets.get(request.path_params["name"])
        return _file(p) if p else _missing("no such file")

    async def wasm(self, request):
        name = request.path_params["name"]
        if name not in RUNTIME_FILES:
            return _missing("no such file")
        p = runtime_dir() / name
        if not p.is_file():
            return _missing("MicroPython's WebAssembly port is not installed on this relay: run `make web` "
                            "(or set HYPERION_WASM_DIR)")
        return _file(p)

    async def nothing(self, request):
        return _missing("no such file")

    async def firmware_files(self, request):
        return JSONResponse(self.firmware_list, headers=HEADERS)

    async def firmware_file(self, request):
        p = self.firmware.get(request.path_params["path"])
        return _file(p) if p else _missing("no such firmware file")

    # -- keyed endpoints ---------------------------------------------------------------------------------------
    async def whoami(self, request):
        ident = request.scope.get("hyperion.identity")
        return JSONResponse({"key": ident.key_id, "name": ident.name, "role": ident.role,
                             "auth": self.relay.keys.enabled}, headers=HEADERS)

    async def openapi(self, request):
        from hyperion_host.relay.openapi import document

        return JSONResponse(document(self.relay), headers=HEADERS)

    async def model_file(self, request):
        from hyperion_host.errors import HyperionError

        try:
            e = self.relay.models.get(request.path_params["name"])
        except HyperionError as ex:
            return _missing(ex.format_message())
        if not os.path.isfile(e.path):
            return _missing("model '%s': its file %s is gone" % (e.name, os.path.basename(e.path)))
        return FileResponse(e.path, media_type="application/octet-stream", headers=HEADERS)

    async def ws_monitoring(self, ws):
        """The /api/monitoring view every PUSH_INTERVAL seconds until the client goes away."""
        await ws.accept()

        async def drain():  # notices the client closing; what it sends is ignored
            while True:
                if (await ws.receive())["type"] == "websocket.disconnect":
                    return

        key = key_from({k.encode(): v for k, v in ws.headers.items()}, ws.scope)
        keys = self.relay.keys

        async def push():
            while True:
                if keys.enabled and keys.verify(key or "") is None:  # revoked since the socket opened
                    await ws.send_json({"error": "the API key was revoked"})
                    return
                try:
                    view = await self.relay.monitoring_view()
                except Exception as e:  # noqa: BLE001 - the Ray hub restarting: said, then closed
                    await ws.send_json({"error": "monitoring is unavailable: %s" % str(e)[:200]})
                    return
                await ws.send_json(view)
                await anyio.sleep(PUSH_INTERVAL)

        async with anyio.create_task_group() as tg:
            async def pusher():
                try:
                    await push()
                    await ws.close()
                except (WebSocketDisconnect, RuntimeError, OSError):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(pusher)
            try:
                await drain()
            except WebSocketDisconnect:
                pass
            tg.cancel_scope.cancel()


def _file(path):
    return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"), headers=HEADERS)


def _missing(message):
    return JSONResponse({"error": "not_found", "message": message, "status": 404}, status_code=404,
                        headers=HEADERS)
