"""The OpenAPI 3.1 document of the relay's REST endpoints (/api/openapi.json; rendered at /ui/api).

MCP itself is described by its tools/list (the page shows that too); here /mcp is one POST endpoint. The two
WebSockets are listed as GETs with a 101 answer, as OpenAPI has no WebSocket object: their messages are in the
descriptions."""

from hyperion_host.relay.auth import ROLES, TOOL_ROLES

ERROR = {"$ref": "#/components/schemas/Error"}
SECURITY = [{"apiKey": []}, {"bearer": []}, {"apiKeyQuery": []}]


def _op(summary, role, ok, responses=None, **kw):
    resp = {"200": ok} if "101" not in (responses or {}) else {}
    resp.update(responses or {})
    resp.update({"401": _ref("Unauthorized"), "403": _ref("Forbidden"), "429": _ref("TooMany")})
    op = {"summary": summary, "description": kw.pop("description", summary) + "\n\nRole: **%s**." % role,
          "x-role": role, "security": SECURITY, "responses": resp}
    op.update(kw)
    return op


def _ref(name):
    return {"$ref": "#/components/responses/%s" % name}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document(relay):
    from hyperion_host.relay.tools import _version

    obj = {"type": "object", "additionalProperties": True}
    paths = {
        "/api/health": {"get": _op(
            "Liveness and readiness", "viewer", _json(obj, "ready"),
            {"503": _json(obj, "not ready: a model failed to load, a board is missing, or maintenance")},
            parameters=[{"name": "probe", "in": "query", "required": False, "schema": {"type": "string",
                         "enum": ["1", "true"]}, "description": "also identify every board (slower)"}])},
        "/api/monitoring": {"get": _op(
            "Counts, latency percentiles, tools, boards, alerts and recent logs", "viewer",
            _json(obj, "the monitoring snapshot"))},
        "/api/monitoring/reset": {"post": _op(
            "Forget counters, samples, logs and alert history", "admin", _json(obj, "reset"))},
        "/metrics": {"get": _op("Prometheus exposition", "viewer", {
            "description": "text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}})},
        "/mcp": {"post": _op(
            "MCP (Streamable HTTP, stateless JSON)", "per tool",
            _json(obj, "a JSON-RPC response"),
            description="MCP JSON-RPC. tools/list names the tools with their input schemas; tools/call needs "
                        "the tool's role (%s)." % "; ".join(
                            "%s: %s" % (r, ", ".join(t for t, tr in TOOL_ROLES.items() if tr == r)) for r in ROLES),
            requestBody={"required": True, "content": {"application/json": {"schema": obj}}})},
        "/api/whoami": {"get": _op("The caller's key", "viewer", _json({
            "type": "object", "properties": {"key": {"type": "string"}, "name": {"type": "string"},
                                             "role": {"type": "string", "enum": list(ROLES)},
                                             "auth": {"type": "boolean"}}}, "the key"))},
        "/api/openapi.json": {"get": _op("This document", "viewer", _json(obj, "OpenAPI 3.1"))},
        "/api/models/{name}/file": {"get": _op(
            "A model's .hyq file (its weights)", "operator",
            {"description": "the file", "content": {"application/octet-stream": {"schema": {
                "type": "string", "format": "binary"}}}},
            {"404": _json(ERROR, "no such model")},
            parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/ws/generate": {"get": _op(
            "WebSocket: streamed text generation", "operator", None, {"101": {"description": "WebSocket"}},
            description="Send {\"model\", \"prompt\", \"max_tokens\", \"temperature\", \"top_k\", \"top_p\", "
                        "\"repetition_penalty\", \"seed\", \"stop\"}; receive one {\"token\", \"id\", \"index\"} "
                        "per token, then {\"done\": true, \"text\", \"tokens\", \"ms\"}, or {\"error\"}.")},
        "/ws/monitoring": {"get": _op(
            "WebSocket: the monitoring snapshot every second", "viewer", None,
            {"101": {"description": "WebSocket"}},
            description="Receives the /api/monitoring object once a second; nothing needs sending.")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hyperion relay", "version": _version(),
                 "description": "REST endpoints of the Hyperion MCP relay. Browsers' WebSockets cannot set "
                                "headers: they pass the key as ?api_key=."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message", "status"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"}, "status": {"type": "integer"}}}},
            "responses": {
                "Unauthorized": _json(ERROR, "no key, or an unknown one"),
                "Forbidden": _json(ERROR, "the key's role is too low, or the Origin is not allowed"),
                "TooMany": _json(ERROR, "rate limited (Retry-After says when to retry)")}},
    }
