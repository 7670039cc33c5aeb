"""`hyperion-host serve`: the MCP relay server (inference and board tools over Streamable HTTP or stdio),
`serve keys ...` (API keys) and `serve mark-text` (mark a .hyq as a byte-level text model)."""

import sys
import threading
from pathlib import Path

import typer

from hyperion_host.cli.app import err
from hyperion_host.errors import HyperionError

serve_app = typer.Typer(help="The MCP relay: models and boards as MCP tools (Streamable HTTP at /mcp, or stdio).",
                        invoke_without_command=True)
keys_app = typer.Typer(help="API keys for the relay (stored hashed; a key is shown once).", no_args_is_help=True)
serve_app.add_typer(keys_app, name="keys")

KeysFileOpt = typer.Option(..., "--keys-file", "-k", help="The keys file (JSON; created if missing).")


def _err(text):
    err.print(text, highlight=False, markup=False)


@serve_app.callback()
def serve(
    ctx: typer.Context,
    listen: str | None = typer.Option(None, "--listen", "-l", help="Address to listen on: HOST:PORT, HOST or "
                                      ":PORT (default 127.0.0.1:8321; port 0 picks a free one)."),
    models: Path | None = typer.Option(None, "--models", help="Directory of .hyq models, and its subfolders "
                                        "one level down (name = file stem)."),
    port: list[str] | None = typer.Option(None, "--port", "-p", help="A board to serve: its serial port, as "
                                          "everywhere else (device path or vboard name; repeatable)."),
    old_board: list[str] | None = typer.Option(None, "--board", hidden=True),
    old_host: str | None = typer.Option(None, "--host", hidden=True),
    config: Path | None = typer.Option(None, "--config", "-c", help="Relay config, TOML or JSON "
                                       "(see docs/mcp.md)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate: serve HTTPS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key for --tls-cert."),
    keys_file: Path | None = typer.Option(None, "--keys-file", "-k", help="API keys file: require a key "
                                          "(create one with `serve keys add`)."),
    audit_log: Path | None = typer.Option(None, "--audit-log", help="Append a JSON line per call to this file."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default 1)."),
    engine: str | None = typer.Option(None, "--engine", help="local (one process, or --workers) or ray (a Ray "
                                      "Serve app with autoscaled replicas; docs/scale.md). Default local."),
    min_replicas: int | None = typer.Option(None, "--min-replicas", help="--engine ray: the fewest replicas."),
    max_replicas: int | None = typer.Option(None, "--max-replicas", help="--engine ray: the most replicas."),
    target_ongoing: float | None = typer.Option(None, "--target-ongoing", help="--engine ray: requests in "
                                                "flight per replica the autoscaler aims at."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="--engine ray: join this Ray cluster "
                                           "instead of starting one here."),
    allow_host: list[str] | None = typer.Option(None, "--allow-host", help="Also accept this Host header, "
                                                "e.g. 192.168.1.10:* (repeatable; for LAN boards)."),
    allow_origin: list[str] | None = typer.Option(None, "--allow-origin", help="Also accept this Origin "
                                                  "(repeatable)."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth", help="Serve a non-loopback address "
                                          "without API keys."),
    stdio: bool = typer.Option(False, "--stdio", help="Serve MCP on stdin/stdout (for desktop MCP clients)."),
    bridge: str | None = typer.Option(None, "--bridge", help="Also bridge MCP for a board without network over "
                                      "its serial line (device path or vboard name)."),
    bridge_run: Path | None = typer.Option(None, "--bridge-run", help="With --bridge: run this file on the "
                                           "board, bridge while it runs, then stop."),
    bridge_reset: bool = typer.Option(False, "--bridge-reset", help="With --bridge: soft-reset the board first "
                                      "so its main.py starts."),
):
    """Serve models and boards as MCP tools: `hyperion-host serve --models models/ --port vb0`."""
    if ctx.invoked_subcommand is not None:
        return
    from hyperion_host.relay import config as C

    if old_board:
        raise HyperionError("serve takes boards as --port %s (a serial port, as in every command); --board "
                            "names a board type" % old_board[0])
    if old_host:
        raise HyperionError("serve listens on --listen HOST:PORT (for example --listen %s:8321)" % old_host)
    host, tcp_port = _parse_listen(listen, port)

    if bridge_run is not None and bridge is None:
        raise HyperionError("--bridge-run needs --bridge PORT")
    if stdio and bridge:
        raise HyperionError("--stdio and --bridge do not go together (the bridge needs the HTTP relay)")
    over = {("server", "host"): host, ("server", "port"): tcp_port,
            ("server", "models"): str(models) if models else None,
            ("server", "boards"): list(port) if port else None,
            ("server", "tls_cert"): str(tls_cert) if tls_cert else None,
            ("server", "tls_key"): str(tls_key) if tls_key else None,
            ("server", "workers"): workers,
            ("server", "engine"): engine,
            ("server", "ray_address"): ray_address,
            ("scale", "min_replicas"): min_replicas,
            ("scale", "max_replicas"): max_replicas,
            ("scale", "target_ongoing"): target_ongoing,
            ("auth", "keys_file"): str(keys_file) if keys_file else None,
            ("auth", "audit_log"): str(audit_log) if audit_log else None,
            ("auth", "insecure_no_auth"): True if insecure_no_auth else None}
    cfg = C.load(str(config) if config else None, overrides=over)
    if allow_host:
        cfg["security"]["allowed_hosts"] += list(allow_host)
    if allow_origin:
        cfg["security"]["allowed_origins"] += list(allow_origin)
    over = {k: v for k, v in over.items() if v is not None}
    if cfg["server"]["engine"] == "ray":
        if stdio or cfg["server"]["workers"] > 1:
            raise HyperionError("--engine ray scales with replicas: drop %s" % ("--stdio" if stdio else "--workers"))
        if bridge:
            raise HyperionError("--bridge needs --engine local (the bridge runs in the relay's own process)")
        from hyperion_host.relay import ray_engine

        ray_engine.run(cfg)
        return
    if stdio:
        import anyio

        from hyperion_host.relay.server import run_stdio

        anyio.run(run_stdio, cfg)
        return
    from hyperion_host.relay import server

    hook, result = None, {}
    if bridge:
        if cfg["server"]["workers"] > 1:
            raise HyperionError("--bridge needs a single worker (drop --workers)")
        hook = _bridge_hook(bridge, bridge_run, bridge_reset, result)
    try:
        server.run(cfg, over, bridge=hook)
    except KeyboardInterrupt:
        pass
    if result.get("traceback"):
        sys.stderr.write(result["traceback"])
        raise HyperionError("the program on the board raised " + result["traceback"].strip().splitlines()[-1])
    if result.get("error"):
        raise HyperionError(result["error"])


def _parse_listen(listen, ports):
    """--listen HOST:PORT, HOST or :PORT -> (host or None, port or None); a number given as --port is a
    TCP port from before --listen existed, so say so rather than look for a board named 8321."""
    for p in ports or ():
        if p.isdigit():
            raise HyperionError("--port names a board's serial port; to listen on TCP port %s use --listen :%s"
                                % (p, p))
    if listen is None:
        return None, None
    host, sep, num = listen.rpartition(":")
    if not sep:
        host, num = listen, ""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::1]:8321
    if num and not (num.isdigit() and int(num) <= 65535):
        raise HyperionError("--listen %s: the port must be a number from 0 to 65535" % listen)
    return host or None, int(num) if num else None


def _bridge_hook(spec, run_file, reset, result):
    from hyperion_host.device.script import read_script
    from hyperion_host.device.transport import resolve_port

    dev = resolve_port(spec)
    code = read_script(run_file) if run_file else None

    def hook(relay, port, uvicorn_server):
        from hyperion_host.relay import bridge as br

        s = relay.cfg["server"]
        scheme = "https" if s["tls_cert"] else "http"
        url = "%s://127.0.0.1:%d/mcp" % (scheme, port)
        key = relay.keys.add_memory_key("bridge", "operator") if relay.keys.enabled else None
        b = br.Bridge(url, api_key=key, verify=False)

        def work():
            while not uvicorn_server.started:
                if uvicorn_server.should_exit:
                    return
                threading.Event().wait(0.02)
            try:
                if code is not None:
                    result["traceback"] = br.run_file(dev, code, b, reset=True)
                else:
                    br.attach(dev, b, reset=reset, stop=result.setdefault("stop", threading.Event()))
            except HyperionError as e:
                result["error"] = "bridge on %s: %s" % (spec, e.format_message())
            except Exception as e:  # the bridge thread must not die silently
                result["error"] = "bridge on %s failed: %s" % (spec, e)
            finally:
                b.close()
                if code is not None or "error" in result:
                    uvicorn_server.should_exit = True

        threading.Thread(target=work, name="hyperion-bridge", daemon=True).start()

    return hook


@keys_app.command("add")
def keys_add(name: str = typer.Argument(..., help="A name for the key (a board, a person, a service)."),
             role: str = typer.Option("operator", "--role", "-r", help="viewer, operator or admin."),
             keys_file: Path = KeysFileOpt):
    """Create an API key. It is printed once (stdout); only its salted hash is stored."""
    from hyperion_host.relay.auth import add_key

    key, entry = add_key(str(keys_file), name, role)
    _err("added key '%s' (id %s, role %s) to %s; it is shown only now:" % (name, entry["id"], role, keys_file))
    print(key)


@keys_app.command("list")
def keys_list(keys_file: Path = KeysFileOpt,
              as_json: bool = typer.Option(False, "--json", help="Print JSON (the stored hashes left out).")):
    """List the keys (id, name, role, created); never the keys themselves."""
    import json

    from hyperion_host.relay.auth import read_keys

    if as_json:
        print(json.dumps([{k: e.get(k) for k in ("id", "name", "role", "created")} for e in read_keys(str(keys_file))]))
        return
    for e in read_keys(str(keys_file)):
        print("%s  %-10s %-20s %s" % (e["id"], e["role"], e.get("name", ""), e.get("created", "")))


@keys_app.command("remove")
def keys_remove(name: str = typer.Argument(..., help="The key's name or id."), keys_file: Path = KeysFileOpt):
    """Remove a key (a running relay stops accepting it within a second)."""
    from hyperion_host.relay.auth import remove_key

    remove_key(str(keys_file), name)
    _err("removed key '%s' from %s" % (name, keys_file))


@serve_app.command("mark-text")
def mark_text(model: Path = typer.Argument(..., help="A .hyq with one int token input [1, T] and logits "
                                           "[1, T, V>=256]."),
              output: Path | None = typer.Option(None, "-o", "--output", help="Write here (default: in place)."),
              tokenizer: str = typer.Option("bytes", "--tokenizer", help="Only 'bytes' for now.")):
    """Mark a .hyq as a text model (byte tokens), so the relay's `generate` tool and /ws/generate run it."""
    from hyperion_host.relay.models import mark_text_model

    if tokenizer != "bytes":
        raise HyperionError("--tokenizer must be 'bytes' (the relay knows only byte tokens)")
    if not model.is_file():
        raise HyperionError("no such model file: %s" % model)
    mark_text_model(str(model), tokenizer, str(output) if output else None)
    _err("marked %s as a text model (byte tokens)" % (output or model))


def register(app):
    """Add the relay commands to the main typer app."""
    app.add_typer(serve_app, name="serve")
