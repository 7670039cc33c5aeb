# hyperion.transport: the HTTP(S) side of the board's MCP client (remote.Client): the socket, TLS, one
# keep-alive HTTP/1.1 POST at a time (Content-Length, chunked or read-to-close bodies), and the errors a failed
# exchange is reported with. Sockets only; runs on MicroPython and CPython. remote.py speaks MCP over it.

_ETIMEDOUT = (110, 116, 60, 11)  # Linux, lwIP, BSD; EAGAIN: what a MicroPython socket with a timeout raises
_EREFUSED = (111, 61, 104, 113, 103, 32, 54)  # refused, reset, host unreachable, aborted, broken pipe


class RemoteError(Exception):
    """The relay refused or failed a call. kind: 'tool' (the tool reported an error), 'auth' (401/403),
    'http' (another 4xx), 'protocol', or a RemoteUnavailable kind. status: the HTTP status (0 if none)."""

    def __init__(self, reason, kind="error", status=0, retry_after=None):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class RemoteUnavailable(RemoteError):
    """The relay could not be reached or could not serve now: kind 'refused', 'timeout', 'network', 'server'
    (5xx), 'rate' (429). Worth a retry later, or a local run."""


def _errno(e):
    n = getattr(e, "errno", None)
    if n is None and e.args and isinstance(e.args[0], int):
        n = e.args[0]
    return n


def _os_error(e, what):
    n = _errno(e)
    if n in _ETIMEDOUT or type(e).__name__ in ("timeout", "TimeoutError"):
        return RemoteUnavailable("timed out %s" % what, "timeout")
    if n in _EREFUSED or type(e).__name__ in ("ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError"):
        return RemoteUnavailable("connection refused or reset %s" % what, "refused")
    return RemoteUnavailable("network error %s: %s" % (what, e), "network")


def parse_url(url):
    """(scheme, host, port, path) of an http(s) URL."""
    if url.startswith("https://"):
        scheme, rest, port = "https", url[8:], 443
    elif url.startswith("http://"):
        scheme, rest, port = "http", url[7:], 80
    else:
        raise ValueError("remote url must start with http://, https:// or be 'serial:', not %r" % url)
    i = rest.find("/")
    hostport, path = (rest, "/mcp") if i < 0 else (rest[:i], rest[i:] or "/mcp")
    if hostport.startswith("["):
        j = hostport.find("]")
        host = hostport[1:j]
        if hostport[j + 1:j + 2] == ":":
            port = int(hostport[j + 2:])
    elif ":" in hostport:
        j = hostport.rfind(":")
        host, port = hostport[:j], int(hostport[j + 1:])
    else:
        host = hostport
    return scheme, host, port, path


class Http:
    """The connection of a Client (a base class beside remote._Base, whose timeout it uses): one keep-alive
    connection, reopened when needed."""

    def __init__(self, url, api_key, cadata, verify):
        self.url = url
        self.scheme, self.host, self.port, self.path = parse_url(url)
        self.api_key = api_key
        self.cadata = cadata  # the server's certificate (or its CA), PEM or DER, for HTTPS
        self.verify = verify
        self._sock = None
        self._buf = b""

    def _connect(self):
        import socket

        try:
            addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        except OSError as e:
            raise RemoteUnavailable("cannot resolve %s: %s" % (self.host, e), "network")
        s = socket.socket()
        try:
            s.settimeout(self.timeout)
            s.connect(addr)
        except OSError as e:
            s.close()
            raise _os_error(e, "connecting to %s:%d" % (self.host, self.port))
        if self.scheme == "https":
            try:
                s = self._wrap(s)
            except (OSError, ValueError) as e:
                s.close()
                if isinstance(e, OSError) and "SSL" not in type(e).__name__:
                    raise _os_error(e, "in the TLS handshake with %s:%d" % (self.host, self.port))
                raise RemoteError("TLS with %s:%d failed: %s" % (self.host, self.port, str(e).strip() or
                                                                  type(e).__name__), "tls")
        self._sock = s
        self._buf = b""

    def _wrap(self, s):
        import ssl

        if hasattr(ssl, "create_default_context"):  # CPython
            if self.verify:
                ctx = ssl.create_default_context(cadata=self.cadata if self.cadata else None)
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return ctx.wrap_socket(s, server_hostname=self.host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.verify and self.cadata:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=_der(self.cadata))
        else:
            ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(s, server_hostname=self.host)

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._buf = b""

    def _send(self, data):
        s = self._sock
        w = getattr(s, "sendall", None) or s.write
        w(data)

    def _recv(self):
        s = self._sock
        r = getattr(s, "recv", None) or s.read
        d = r(1024)
        if not d:
            raise OSError(104, "connection closed")
        return d

    def _readline(self):
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 2:]
                return line
            self._buf += self._recv()

    def _read(self, n):
        while len(self._buf) < n:
            self._buf += self._recv()
        d, self._buf = self._buf[:n], self._buf[n:]
        return d

    def _post(self, body, headers):
        """(status, headers dict with lowercase names, body bytes). Reuses the connection once it is open."""
        fresh = self._sock is None
        for attempt in (0, 1):
            if self._sock is None:
                self._connect()
            try:
                return self._exchange(body, headers)
            except OSError as e:
                self.close()
                err = _os_error(e, "waiting for %s:%d" % (self.host, self.port))
                # a reused connection may have been closed by the server meanwhile: one more try on a new one
                if fresh or attempt or err.kind == "timeout":
                    raise err
                fresh = True

    def _exchange(self, body, headers):
        b = body.encode()
        h = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
             "Accept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: keep-alive\r\n"
             % (self.path, self.host, self.port, len(b)))
        if self.api_key:
            h += "X-API-Key: %s\r\n" % self.api_key
        for k in headers:
            h += "%s: %s\r\n" % (k, headers[k])
        self._send(h.encode() + b"\r\n" + b)
        line = self._readline()
        parts = line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise OSError(104, "not an HTTP response")
        status = int(parts[1])
        hd = {}
        while True:
            line = self._readline()
            if not line:
                break
            i = line.find(b":")
            if i > 0:
                hd[line[:i].strip().lower().decode()] = line[i + 1:].strip().decode()
        if hd.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                n = int(self._readline().split(b";")[0], 16)
                if n == 0:
                    while self._readline():
                        pass
                    break
                data += self._read(n)
                self._read(2)
        elif "content-length" in hd:
            data = self._read(int(hd["content-length"]))
        else:
            data = self._buf
            try:
                while True:
                    data += self._recv()
            except OSError:
                pass
            self._buf = b""
            hd["connection"] = "close"
        if hd.get("connection", "").lower() == "close":
            self.close()
        return status, hd, data


def _der(cert):
    """A certificate as DER (MicroPython's ssl takes DER; PEM text is converted)."""
    if isinstance(cert, str):
        cert = cert.encode()
    if cert[:10] != b"-----BEGIN":
        return cert
    import binascii

    i = cert.find(b"-----END")
    lines = [ln.strip() for ln in cert[:i].split(b"\n") if ln.strip() and not ln.startswith(b"-----")]
    return binascii.a2b_base64(b"".join(lines))
