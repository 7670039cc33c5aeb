"""Locust load for tools/bench/scale.py: MCP tools/call POSTs (2026-07-28) to a relay on loopback.

Environment: HYPERION_BENCH_KEY (an operator key), HYPERION_BENCH_CALL (the JSON params of tools/call) and
HYPERION_BENCH_STAGES (JSON [[until_s, users], ...]: a load shape; without it, -u/-t from the command line);
HYPERION_BENCH_TRACE: a file for one line per call, "unix time, ms, failed", for latency over time."""

import json
import os
import time

from locust import FastHttpUser, LoadTestShape, constant, events, task

CALL = json.loads(os.environ.get("HYPERION_BENCH_CALL", '{"name": "list_models", "arguments": {}}'))
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": dict(CALL, _meta={"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                               "io.modelcontextprotocol/clientCapabilities": {}})})
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": CALL["name"],
           "X-API-Key": os.environ.get("HYPERION_BENCH_KEY", "")}


class RelayUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def call(self):
        with self.client.post("/mcp", data=BODY, headers=HEADERS, name=CALL["name"], catch_response=True) as r:
            if r.status_code != 200:
                r.failure("HTTP %d" % r.status_code)
            elif (json.loads(r.text).get("result") or {}).get("isError", True):
                r.failure("tool error: %s" % r.text[:200])


if os.environ.get("HYPERION_BENCH_STAGES"):
    class Stages(LoadTestShape):
        stages = json.loads(os.environ["HYPERION_BENCH_STAGES"])

        def tick(self):
            t = self.get_run_time()
            for until, users in self.stages:
                if t < until:
                    return users, max(users, 1)
            return None


if os.environ.get("HYPERION_BENCH_TRACE"):
    _trace = open(os.environ["HYPERION_BENCH_TRACE"], "w")

    @events.request.add_listener
    def _record(request_type, name, response_time, response_length, exception=None, **kw):
        _trace.write("%.3f %.1f %d\n" % (time.time(), response_time, exception is not None))
