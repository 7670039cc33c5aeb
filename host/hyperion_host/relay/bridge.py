"""The serial bridge: MCP for a board without network, over its USB serial line.

The board's client (hyperion.remote.SerialClient, url "serial:") prints each JSON-RPC request as one line,
RS + "HYMCP " + JSON, and reads the answer as one JSON line on its stdin. The bridge, on the host side of the
line, picks those lines out of the board's output (everything else passes through to `out`), POSTs each one
to the relay's /mcp with the 2026-07-28 headers, and writes the JSON-RPC answer back to the board. When the
relay cannot answer (unreachable, HTTP error without a JSON-RPC body), the board gets a JSON-RPC error whose
data holds the HTTP status (0: unreachable), so its client can tell a transient failure from a refusal.

Two ways in: `run_file` runs a program on the board through the raw REPL and bridges while it runs;
`attach` opens the port with pyserial and bridges whatever the board's own main.py asks (optionally
soft-resetting it first so main.py starts)."""

import json
import sys
import threading

import httpx

MARK = b"\x1eHYMCP "


class Bridge:
    def __init__(self, url, api_key=None, write=None, out=None, timeout=30.0, verify=True, monitor=None):
        self.url = url
        self.api_key = api_key
        self.write = write  # callable(bytes): to the board
        self.out = out or (lambda b: (sys.stdout.buffer.write(b), sys.stdout.buffer.flush()))
        self.http = httpx.Client(timeout=timeout, verify=verify)
        self.buf = b""
        self.requests = 0
        self.errors = 0
        self.monitor = monitor

    def close(self):
        self.http.close()

    def feed(self, data):
        """Board output, in chunks cut anywhere."""
        self.buf += data.replace(b"\x04", b"")
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line, self.buf = self.buf[: i + 1], self.buf[i + 1:]
            j = line.find(MARK)
            if j < 0:
                self.out(line)
                continue
            if j:
                self.out(line[:j])
            self.handle(line[j + len(MARK):].strip())
        # pass through a tail that cannot be the start of a request line
        if self.buf and MARK[:1] not in self.buf:
            self.out(self.buf)
            self.buf = b""

    def handle(self, body):
        self.requests += 1
        answer = self.forward(body)
        if self.write is not None:
            self.write(answer + b"\n")
        return answer

    def forward(self, body):
        """One request line -> one response line (bytes, no newline)."""
        try:
            msg = json.loads(body)
        except ValueError:
            return self._error(None, -32700, "the bridge got a line that is not JSON", 400)
        rid = msg.get("id") if isinstance(msg, dict) else None
        if not isinstance(msg, dict) or "method" not in msg:
            return self._error(rid, -32600, "not a JSON-RPC request", 400)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": str(meta.get("io.modelcontextprotocol/protocolVersion", "2026-07-28")),
             "Mcp-Method": str(msg["method"])}
        if msg["method"] == "tools/call" and isinstance(params.get("name"), str):
            from mcp.shared.inbound import encode_header_value

            h["Mcp-Name"] = encode_header_value(params["name"])
        if self.api_key:
            h["X-API-Key"] = self.api_key
        try:
            r = self.http.post(self.url, content=body, headers=h)
        except httpx.TimeoutException:
            return self._error(rid, -32000, "the relay did not answer in time", 504, unreachable=True)
        except httpx.HTTPError as e:
            return self._error(rid, -32000, "the relay is unreachable: %s" % e, 0, unreachable=True)
        retry = r.headers.get("retry-after")
        try:
            reply = r.json()
        except ValueError:
            reply = None
        if r.status_code >= 400 or not isinstance(reply, dict):
            text = (reply or {}).get("error", {}).get("message") if isinstance(reply, dict) else None
            return self._error(rid, (reply or {}).get("error", {}).get("code", -32000) if isinstance(reply, dict)
                               else -32000, text or "the relay answered HTTP %d" % r.status_code, r.status_code,
                               retry_after=int(retry) if retry and retry.isdigit() else None)
        return json.dumps(reply, separators=(",", ":")).encode()

    def _error(self, rid, code, message, status, unreachable=False, retry_after=None):
        self.errors += 1
        data = {"status": status}
        if unreachable:
            data["unreachable"] = True
        if retry_after is not None:
            data["retry_after"] = retry_after
        return json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message, "data": data}},
                          separators=(",", ":")).encode()


def run_file(port, code, bridge, timeout=None, reset=True):
    """Run `code` on the board (raw REPL) and bridge its requests until it ends. Returns the board's
    traceback text, or None if it ended cleanly."""
    from hyperion_host.device.transport import Board, BoardExecError

    with Board(port, soft_reset=reset) as b:
        serial = b.transport.serial
        bridge.write = lambda data: (serial.write(data), serial.flush())
        try:
            b.exec(code, stream=bridge.feed, timeout=timeout)
        except BoardExecError as e:
            return e.traceback
        finally:
            if bridge.buf:
                bridge.out(bridge.buf)
                bridge.buf = b""
    return None


def attach(port, bridge, reset=False, stop=None):
    """Bridge a board's own program (its main.py) over the serial port until `stop` (a threading.Event) is set.
    reset=True interrupts whatever runs and soft-resets the board, so main.py starts afresh."""
    import serial as pyserial

    s = pyserial.Serial(port, 115200, timeout=0.1)
    bridge.write = lambda data: (s.write(data), s.flush())
    stop = stop or threading.Event()
    try:
        if reset:
            s.write(b"\r\x03\x03\x04")
        while not stop.is_set():
            data = s.read(4096)
            if data:
                bridge.feed(data)
    finally:
        s.close()
