"""A client for a running relay's monitoring endpoints (/api/monitoring, /api/monitoring/reset), for
`hyperion-host monitor`. What goes wrong (relay down, key missing or refused, an answer that is not JSON) is a
one-line HyperionError that says what to do."""

import json

import httpx

from hyperion_host.errors import HyperionError

DEFAULT_URL = "http://127.0.0.1:8321"


def base_url(url):
    """The relay's base URL from what a user may paste: with or without a trailing / or /mcp."""
    u = url.strip().rstrip("/")
    if u.endswith("/mcp"):
        u = u[:-4]
    if not u.startswith(("http://", "https://")):
        raise HyperionError("--url must start with http:// or https:// (e.g. %s), not %r" % (DEFAULT_URL, url))
    return u


class MonitorClient:
    def __init__(self, url=DEFAULT_URL, key=None, cacert=None, timeout=10.0):
        self.base = base_url(url)
        verify = True
        if cacert:
            import ssl

            try:
                verify = ssl.create_default_context(cafile=str(cacert))
            except (OSError, ssl.SSLError) as e:
                raise HyperionError("cannot use --cacert %s: %s" % (cacert, getattr(e, "strerror", None) or e)) from None
        headers = {"X-API-Key": key} if key else {}
        self.http = httpx.Client(timeout=timeout, headers=headers, verify=verify, follow_redirects=False)

    def monitoring(self):
        return self._call("GET", "/api/monitoring")

    def reset(self):
        return self._call("POST", "/api/monitoring/reset")

    def close(self):
        self.http.close()

    def _call(self, method, path):
        where = self.base
        try:
            r = self.http.request(method, self.base + path)
        except httpx.TimeoutException:
            raise HyperionError("the relay at %s did not answer within %gs" % (where, self.http.timeout.read)) from None
        except httpx.ConnectError as e:
            raise HyperionError("cannot reach the relay at %s (%s): start it with `hyperion-host serve`, or point "
                                "--url (or HYPERION_RELAY_URL) at it" % (where, _reason(e))) from None
        except httpx.HTTPError as e:
            raise HyperionError("cannot talk to the relay at %s: %s" % (where, _reason(e))) from None
        if r.status_code == 401:
            raise HyperionError("the relay at %s wants a valid API key (%s): pass --key or set HYPERION_API_KEY"
                                % (where, _message(r)))
        if r.status_code == 403:
            raise HyperionError("the relay at %s refused: %s" % (where, _message(r)))
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code >= 400:
            raise HyperionError("the relay at %s answered HTTP %d: %s" % (where, r.status_code, _message(r)))
        if not isinstance(data, dict):
            raise HyperionError("%s%s answered HTTP %d with something that is not the relay's JSON (%r); is --url "
                                "the relay's address?" % (where, path, r.status_code, r.text[:60]))
        return data


def _reason(e):
    text = str(e) or type(e).__name__
    return text.split("] ", 1)[-1][:200]  # "[Errno 111] Connection refused" -> "Connection refused"


def _message(r):
    try:
        d = r.json()
        if isinstance(d, dict) and isinstance(d.get("message"), str):
            return d["message"][:300]
    except ValueError:
        pass
    return r.text.strip()[:120] or r.reason_phrase


class Cursor:
    """Picks the records not seen yet (log records, fired alerts) out of successive answers that each hold the
    latest ones. Records have no ids: one is new when it is later than the last seen, or as late and unseen."""

    def __init__(self):
        self.ts = None
        self.seen = set()  # the records at time self.ts

    def new(self, records):
        out = []
        for r in records:
            ts = r.get("ts", 0)
            key = json.dumps(r, sort_keys=True, default=str)
            if self.ts is None or ts > self.ts or (ts == self.ts and key not in self.seen):
                out.append(r)
                if self.ts is None or ts > self.ts:
                    self.ts, self.seen = ts, set()
                self.seen.add(key)
        return out
