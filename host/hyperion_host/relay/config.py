"""Relay configuration: a TOML or JSON file, checked against a small schema, with HYPERION_RELAY_* environment
overrides and command-line flags on top (defaults < file < environment < flags).

Every error is one line naming the file, the key and what is expected. `load()` returns a plain dict of
sections; `RELOADABLE` lists the keys a running relay picks up again when the file changes (or on SIGHUP)."""

import json
import os
from pathlib import Path

from hyperion_host.errors import HyperionError
from hyperion_host.relay.alerts import check_rules, is_webhook_url

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ENV_PREFIX = "HYPERION_RELAY_"
ROLES = ("viewer", "operator", "admin")


def _str(v):
    return isinstance(v, str)


def _opt_str(v):
    return v is None or isinstance(v, str)


def _bool(v):
    return isinstance(v, bool)


def _port(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535


def _pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _nonneg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pos_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# section -> key -> (check, what the check wants, default)
SCHEMA = {
    "server": {
        "host": (_str, "a host name or address", "127.0.0.1"),
        "port": (_port, "a port number 0..65535", 8321),
        "models": (_opt_str, "a directory of .hyq files", None),
        "boards": (_str_list, "a list of device paths or vboard names", []),
        "tls_cert": (_opt_str, "a PEM certificate file", None),
        "tls_key": (_opt_str, "a PEM private key file", None),
        "workers": (_pos_int, "a positive integer", 1),
        "engine": (lambda v: v in ("local", "ray"), "local or ray", "local"),
        "ray_address": (_opt_str, "a Ray cluster address (ray://HOST:10001 or HOST:6379), or none to start one",
                        None),
        "maintenance": (_bool, "true or false", False),
        "protocols": (lambda v: _str_list(v) and bool(v) and set(v) <= {"2026-07-28", "2025-11-25"},
                      "a non-empty list of \"2026-07-28\" and \"2025-11-25\"", ["2026-07-28", "2025-11-25"]),
    },
    "auth": {
        "keys_file": (_opt_str, "a keys file (create one with `hyperion-host serve keys add`)", None),
        "audit_log": (_opt_str, "a file for the JSON-lines audit log", None),
        "insecure_no_auth": (_bool, "true or false", False),
    },
    "limits": {
        "per_key": (_nonneg_int, "a number of requests per window (0: no limit)", 600),
        "per_ip": (_nonneg_int, "a number of requests per window (0: no limit)", 1200),
        "window": (_pos_num, "a positive number of seconds", 60),
        "board_timeout": (_pos_num, "a positive number of seconds", 30),
        "board_lock_timeout": (_pos_num, "a positive number of seconds", 10),
        "infer_timeout": (_pos_num, "a positive number of seconds", 30),
        "max_body": (_pos_int, "a positive number of bytes", 4 * 1024 * 1024),
        "max_tokens": (_pos_int, "a positive number of tokens a generate call may ask for", 1024),
        "read_timeout": (_pos_num, "a positive number of seconds a request body may take to arrive", 30),
        "idle_timeout": (_pos_num, "a positive number of seconds a kept-alive connection may stay idle", 15),
        "max_connections": (_pos_int, "a positive number of connections served at once (503 beyond)", 256),
    },
    "security": {
        "dns_rebinding_protection": (lambda v: v is None or isinstance(v, bool), "true or false", None),
        "allowed_hosts": (_str_list, "a list like [\"192.168.1.10:*\"]", []),
        "allowed_origins": (_str_list, "a list like [\"http://192.168.1.10:*\"]", []),
    },
    "monitoring": {
        "log_buffer": (_pos_int, "a positive integer", 200),
        "latency_window": (_pos_int, "a positive integer", 4096),
        "alerts": (lambda v: isinstance(v, list), "a list of [[monitoring.alerts]] tables", []),  # see DEEP_CHECKS
        "webhook": (is_webhook_url, "an http:// or https:// URL that alerts are POSTed to", None),
        "alert_interval": (lambda v: _pos_num(v) and 0.05 <= v <= 3600, "seconds between alert checks, 0.05..3600",
                           5),
    },
}


def _rules(v):
    from hyperion_host.scale.policy import parse_rule

    if not isinstance(v, list) or len(v) > 64:
        return False
    for i, r in enumerate(v):
        parse_rule(r, "[[scale.rules]] %d" % i)  # a bad rule says which key is wrong
    return True


SCHEMA["scale"] = {  # the Ray engine's replicas and the autoscaler policy (hyperion_host/scale/policy.py)
    "min_replicas": (_pos_int, "a positive number of replicas", 1),
    "max_replicas": (_pos_int, "a positive number of replicas", 4),
    "target_ongoing": (_pos_num, "a positive number of requests in flight per replica", 2),
    "interval": (lambda v: _pos_num(v) and 0.05 <= v <= 3600, "seconds between checks, 0.05..3600", 5),
    "replica_cpus": (lambda v: _pos_num(v) and v <= 64, "CPUs each replica reserves, 0 < n <= 64", 1),
    "rules": (_rules, "a list of [[scale.rules]] tables (metric, op, value, for, step, cooldown)", []),
}

# Picked up by a running relay when the config file changes or on SIGHUP (the keys file is always re-read).
RELOADABLE = {("limits", k) for k in ("per_key", "per_ip", "window", "board_timeout", "board_lock_timeout",
                                      "infer_timeout", "max_tokens", "read_timeout")} | {("server", "maintenance")}
RELOADABLE |= {("monitoring", k) for k in ("alerts", "webhook", "alert_interval")}

# keys checked in depth by check(value, where), whose one-line errors name the item and its key
DEEP_CHECKS = {("monitoring", "alerts"): check_rules}


def defaults():
    return {s: {k: (list(v[2]) if isinstance(v[2], list) else v[2]) for k, v in keys.items()}
            for s, keys in SCHEMA.items()}


def _read_file(path):
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise HyperionError("cannot read the relay config %s: %s" % (path, e.strerror or e)) from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise HyperionError("%s is not valid JSON: %s" % (path, e)) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise HyperionError("%s is not valid TOML: %s" % (path, e)) from None
    if not isinstance(data, dict):
        raise HyperionError("%s must hold an object of sections (server, auth, limits, security, monitoring)" % path)
    return data


def _merge(cfg, data, where):
    for section, values in data.items():
        if section not in SCHEMA:
            raise HyperionError("%s: unknown section '%s' (known: %s)" % (where, section, ", ".join(SCHEMA)))
        if not isinstance(values, dict):
            raise HyperionError("%s: '%s' must be a table of keys" % (where, section))
        for key, value in values.items():
            check(section, key, value, where)
            cfg[section][key] = value


def check(section, key, value, where):
    keys = SCHEMA[section]
    if key not in keys:
        raise HyperionError("%s: unknown key '%s.%s' (known: %s)" % (where, section, key, ", ".join(keys)))
    ok, want, _ = keys[key]
    if (section, key) in DEEP_CHECKS:
        DEEP_CHECKS[(section, key)](value, where)
    elif not ok(value):
        raise HyperionError("%s: '%s.%s' must be %s, not %r" % (where, section, key, want, value))


def _parse_env(section, key, text):
    """An environment string as the type the schema wants."""
    ok, want, default = SCHEMA[section][key]
    if isinstance(default, list):
        if text.lstrip().startswith("["):  # JSON, e.g. HYPERION_RELAY_MONITORING_ALERTS='[{"name": ...}]'
            try:
                return json.loads(text)
            except ValueError:
                return text
        return [x.strip() for x in text.split(",") if x.strip()]
    if isinstance(default, bool) or key in ("dns_rebinding_protection",):
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        return text
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text or None


def env_overrides(environ=None):
    """{(section, key): value} from HYPERION_RELAY_<SECTION>_<KEY> variables (e.g. HYPERION_RELAY_LIMITS_PER_KEY)."""
    environ = os.environ if environ is None else environ
    out = {}
    for section, keys in SCHEMA.items():
        for key in keys:
            name = ENV_PREFIX + section.upper() + "_" + key.upper()
            if name in environ:
                out[(section, key)] = (_parse_env(section, key, environ[name]), name)
    known = {ENV_PREFIX + s.upper() + "_" + k.upper() for s, ks in SCHEMA.items() for k in ks}
    known.add(ENV_PREFIX + "URL")  # where `hyperion-host monitor` finds the relay, not a setting of it
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in known:
            raise HyperionError("unknown environment variable %s (known: HYPERION_RELAY_<SECTION>_<KEY>, e.g. "
                                "HYPERION_RELAY_LIMITS_PER_KEY)" % name)
    return out


def load(path=None, overrides=None, environ=None):
    """defaults < file < HYPERION_RELAY_* environment < overrides ({(section, key): value}, e.g. CLI flags)."""
    cfg = defaults()
    if path:
        _merge(cfg, _read_file(path), str(path))
    for (section, key), (value, name) in env_overrides(environ).items():
        check(section, key, value, name)
        cfg[section][key] = value
    for (section, key), value in (overrides or {}).items():
        if value is None:
            continue
        check(section, key, value, "--" + key.replace("_", "-"))
        cfg[section][key] = value
    validate(cfg)
    cfg["_path"] = str(path) if path else None
    return cfg


def validate(cfg):
    s = cfg["server"]
    sc = cfg["scale"]
    if sc["min_replicas"] > sc["max_replicas"]:
        raise HyperionError("scale.min_replicas (%d) is above scale.max_replicas (%d)"
                            % (sc["min_replicas"], sc["max_replicas"]))
    if bool(s["tls_cert"]) != bool(s["tls_key"]):
        raise HyperionError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    for k in ("tls_cert", "tls_key"):
        if s[k] and not os.path.isfile(s[k]):
            raise HyperionError("no such file for %s: %s" % (k.replace("_", "-"), s[k]))
    if s["models"] and not os.path.isdir(s["models"]):
        raise HyperionError("the models directory %s does not exist" % s["models"])


def reload_values(cfg_path, current, environ=None, overrides=None):
    """Re-read the file and return the reloadable values that changed: {(section, key): new value}."""
    fresh = load(cfg_path, overrides=overrides, environ=environ)
    return {(s, k): fresh[s][k] for s, k in RELOADABLE if fresh[s][k] != current[s][k]}


def to_env_json(cfg):
    """The resolved config as JSON, for `--workers N` processes (each rebuilds its relay from it)."""
    return json.dumps(cfg)


def is_loopback(host):
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
