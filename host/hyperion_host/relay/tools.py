"""The relay's MCP tools, on an `mcp` SDK MCPServer.

Inference: list_models, model_info, infer, generate, model_profile (a model on a board's emulated core).
Boards: board_list, board_status, board_exec, board_script, board_infer, board_files, board_rollback. Every call
is checked against the caller's role, timed, counted and written to the audit log.
Results carry the data twice, as MCP asks: `structuredContent` and the same JSON as text."""

import codecs
import time
from typing import Any, Literal

import anyio.to_thread
import numpy as np
import pydantic_core
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from hyperion_host.errors import HyperionError
from hyperion_host.relay import boards as B
from hyperion_host.relay import models as M
from hyperion_host.relay.auth import LOCAL, allows, role_for_tool

CLIENT_META = "io.hyperion/client"  # board clients report their counts, free heap, latency under this _meta key

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
COMPUTE = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
BOARD = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)


def identity_of(ctx):
    """The caller's Identity: set by the HTTP guard on the request scope; the trusted local caller otherwise
    (stdio, in-process)."""
    try:
        req = ctx.request_context.request
    except (AttributeError, ValueError, RuntimeError):
        return LOCAL
    scope = getattr(req, "scope", None)
    if scope is None:
        return LOCAL
    return scope.get("hyperion.identity") or LOCAL


def _client_meta(ctx):
    try:
        meta = ctx.request_context.meta
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(meta, dict):
        return meta.get(CLIENT_META)
    extra = getattr(meta, "model_extra", None) or {}
    return extra.get(CLIENT_META)


def ok_result(data, message=None):
    """The data as structuredContent and as JSON text; a failed call with data (a board's traceback, a Tcl
    error) also gets its one-line message as the first text block."""
    content = [TextContent(type="text", text=pydantic_core.to_json(data).decode())]
    if message:
        content.insert(0, TextContent(type="text", text=message))
    return CallToolResult(content=content, structured_content=data, is_error=bool(message))


def error_result(message):
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def build(relay):
    """An MCPServer with the relay's tools. `relay` is a server.Relay (models, boards, monitor, audit)."""
    mcp = MCPServer(
        "hyperion-relay",
        instructions="Hyperion relay: run 4-bit .hyq models on the host (infer, generate) and use the "
                     "MicroPython boards attached to it (board_*).",
        version=_version(),
        log_level="WARNING",
    )

    async def call(ctx, tool, fn, board=None):
        ident = identity_of(ctx)
        report = _client_meta(ctx)
        if isinstance(report, dict) and report.get("id"):
            relay.monitor.client_report(report["id"], report)
        t0 = time.perf_counter()
        needed = role_for_tool(tool)
        if not allows(ident.role, needed):  # the HTTP guard answers 403 first; this is the second line
            res, ok, msg = error_result("forbidden: tool '%s' needs role %s" % (tool, needed)), False, "forbidden"
        else:
            try:
                data = await fn()
                is_err = isinstance(data, tuple)
                if is_err:
                    data, msg = data
                else:
                    msg = None
                res, ok = ok_result(data, msg), not is_err
            except HyperionError as e:
                msg = e.format_message()
                res, ok = error_result(msg), False
            except Exception as e:  # noqa: BLE001 - a fault the tool did not foresee: answered, audited, counted
                msg = "internal error in %s (%s: %s)" % (tool, type(e).__name__, str(e).splitlines()[0][:200]
                                                          if str(e) else "")
                res, ok = error_result(msg), False
        dt = time.perf_counter() - t0
        relay.monitor.tool(tool, ok, dt, board)
        rec = {"key": ident.key_id, "ip": ident.ip, "tool": tool, "outcome": "ok" if ok else "error",
               "ms": round(dt * 1000, 3)}
        if board is not None:
            rec["board"] = board
        if msg:
            rec["error"] = msg[:300]
            relay.monitor.log("warning", "tool_error", tool=tool, key=ident.key_id, board=board, error=msg[:300])
        relay.audit.write(**rec)
        return res

    async def compute(entry, fn, *args):
        if entry.inline:
            return fn(*args)
        with anyio.fail_after(relay.cfg["limits"]["infer_timeout"]):
            return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    # -- inference -----------------------------------------------------------------------------------------
    @mcp.tool(annotations=READ_ONLY)
    async def list_models(ctx: Context) -> CallToolResult:
        """List the models the relay serves: name, input and output shapes, whether it is a text model."""
        async def fn():
            return {"models": relay.models.list(), "errors": relay.models.errors}
        return await call(ctx, "list_models", fn)

    @mcp.tool(annotations=READ_ONLY)
    async def model_info(model: str, ctx: Context) -> CallToolResult:
        """Details of one model: inputs and outputs (name, shape, dtype), ops, arena and weight sizes,
        quantization, host latency."""
        async def fn():
            return relay.models.get(model).info()
        return await call(ctx, "model_info", fn)

    @mcp.tool(annotations=COMPUTE)
    async def infer(model: str, ctx: Context, input: Any = None, data: str = "", dtype: str = "float32",
                    shape: list[int] = [], output_format: str = "list") -> CallToolResult:  # noqa: B006
        """Run a model on the host. Give the input as `input` (a nested list, or {name: nested list} for
        several inputs), or as `data`: base64 of little-endian values with `dtype` and `shape`. For a keyword
        model, dtype "pcm16" takes `data` as a 16-bit mono clip at the model's rate (MFCCs made on the relay).
        Outputs come back as nested lists, or base64 float32 with output_format="base64"."""
        # (flat parameter types: the SDK walks this schema on every 2026-07-28 call, for Mcp-Param headers)
        async def fn():
            e = relay.models.get(model)
            if output_format not in ("list", "base64"):
                raise M.ModelError("output_format must be list or base64")
            if dtype == "pcm16":
                with anyio.fail_after(relay.cfg["limits"]["infer_timeout"]):
                    feeds = await anyio.to_thread.run_sync(M.audio_input, e, data, abandon_on_cancel=True,
                                                           limiter=relay.audio_limiter)
            else:
                feeds = M.decode_input(e, input, data or None, dtype, shape or None)
            t0 = time.perf_counter()
            outs = await compute(e, M.run, e, feeds)
            return {"model": model, "outputs": M.encode_outputs(outs, output_format),
                    "ms": round((time.perf_counter() - t0) * 1000, 3)}
        return await call(ctx, "infer", fn)

    @mcp.tool(annotations=COMPUTE)
    async def generate(model: str, prompt: str, ctx: Context, max_tokens: int = 32, temperature: float = 0.0,
                       top_k: int = 0, seed: int | None = None, stop: str | None = None, top_p: float = 1.0,
                       repetition_penalty: float = 1.0) -> CallToolResult:
        """Generate text with a text model (byte tokens): greedy at temperature 0, else sampled (seeded) from
        the top_k / top_p candidates; repetition_penalty > 1 discourages repeats; the text ends before `stop`.
        Each token is also sent as a progress notification where the transport carries them."""
        async def fn():
            e = relay.models.get(model)
            g = M.Generator(e, prompt, max_tokens, temperature, top_k, seed, stop, top_p, repetition_penalty,
                            limit=relay.cfg["limits"]["max_tokens"])
            dec = codecs.getincrementaldecoder("utf-8")("replace")
            t0 = time.perf_counter()
            while not g.done:
                tok = await compute(e, g.step)
                await ctx.report_progress(len(g.new), g.max_tokens, dec.decode(bytes([tok])))
            ms = (time.perf_counter() - t0) * 1000
            return {"model": model, "text": g.text(), "tokens": len(g.new), "ms": round(ms, 3),
                    "tokens_per_s": round(len(g.new) / (ms / 1000), 1) if ms else None}
        return await call(ctx, "generate", fn)

    @mcp.tool(annotations=COMPUTE)
    async def model_profile(model: str, ctx: Context, board: str = "rp2040",
                            kernels: Literal["auto", "c", "viper", "python"] = "auto") -> CallToolResult:
        """Run a model on a board's emulated core (QEMU, as `hyperion-host profile`): instructions per inference
        (or token) and per MAC, per op with its kernel path, heap, parity with the host. Deterministic; cached
        per model, board and kernels (model_info lists the cached ones). One profile runs at a time."""
        async def fn():
            e = relay.models.get(model)
            key = "%s/%s" % (board, kernels)
            if key not in e.profiles:
                from hyperion_host.ship.profile import profile

                if relay.profile_lock.locked():
                    raise M.ModelError("another model_profile is running (one at a time); retry when it ends")
                async with relay.profile_lock:  # held until the emulator has stopped (profile() bounds its run)
                    r = await anyio.to_thread.run_sync(profile, e.path, board, kernels)
                    e.profiles[key] = M.profile_summary(r)
            return dict(e.profiles[key], model=model)
        return await call(ctx, "model_profile", fn)

    # -- boards --------------------------------------------------------------------------------------------
    @mcp.tool(annotations=READ_ONLY)
    async def board_list(ctx: Context) -> CallToolResult:
        """The boards attached to the relay: name, device, present, busy, call counts, last identification."""
        async def fn():
            await relay.boards.refresh()  # under the Ray engine the boards live in the board host
            return {"boards": [s.status() for s in relay.boards.slots.values()]}
        return await call(ctx, "board_list", fn)

    @mcp.tool(annotations=BOARD)
    async def board_exec(board: str, code: str, ctx: Context, timeout: float | None = None,
                         reset: bool = False) -> CallToolResult:
        """Run MicroPython code on a board's REPL and return its output (and the traceback if it raised).
        reset=True soft-resets the board first."""
        async def fn():
            t = timeout or relay.boards.timeout
            r = await relay.boards.call(board, lambda port: B.exec_code(port, code, t + 5, reset), timeout=t)
            if r["traceback"]:
                last = r["traceback"].strip().splitlines()[-1] if r["traceback"].strip() else "error"
                return r, "board raised " + last
            return r
        return await call(ctx, "board_exec", fn, board)

    @mcp.tool(annotations=BOARD)
    async def board_script(board: str, script: str, ctx: Context, timeout: float | None = None) -> CallToolResult:
        """Run a Tcl script on a board with Picol (the firmware's Tcl); returns stdout, stderr and the exit
        status (1 after a Tcl error)."""
        async def fn():
            r = await relay.boards.call(board, lambda port: B.run_script(port, script), timeout=timeout)
            if r["status"]:
                return r, "Tcl error: " + (r["stderr"].strip().splitlines() or ["error"])[-1]
            return r
        return await call(ctx, "board_script", fn, board)

    @mcp.tool(annotations=BOARD)
    async def board_infer(board: str, model: str, ctx: Context, input: Any = None, data: str = "",
                          dtype: str = "float32", shape: list[int] = [],  # noqa: B006
                          kernels: Literal["auto", "c", "viper", "python", "ulab"] = "auto", repeat: int = 1,
                          timeout: float | None = None) -> CallToolResult:
        """Run one of the relay's models on a board with the firmware runtime (the firmware and the model are
        copied to the board when missing or changed). Returns outputs, latency, peak heap and kernel paths."""
        async def fn():
            e = relay.models.get(model)
            feeds = M.decode_input(e, input, data or None, dtype, shape or None)
            p = e.prog
            ins = [np.asarray(feeds[n], np.float32) for n in p.inputs]
            shapes = [tuple(p.shapes[n]) for n in p.outputs]
            path = e.path  # what the call takes to the board (under the Ray engine, to the board host)
            arrays, stats = await relay.boards.call(
                board, lambda port: B.infer_on_board(port, path, ins, shapes, kernels, max(1, repeat)),
                timeout=timeout)
            relay.monitor.board_stats(board, model, stats)  # the board's own latency, peak heap, kernel paths
            return {"model": model, "board": board, "outputs": M.encode_outputs(dict(zip(p.outputs, arrays))),
                    "stats": stats}
        return await call(ctx, "board_infer", fn, board)

    @mcp.tool(annotations=BOARD)
    async def board_files(board: str, ctx: Context, action: Literal["list", "read", "write", "delete"] = "list",
                          path: str = "", content: str | None = None,
                          encoding: Literal["utf-8", "base64"] = "utf-8") -> CallToolResult:
        """Files on a board: list a directory, read or write a file (text, or base64 for binary), delete one."""
        async def fn():
            return await relay.boards.call(board, lambda port: B.files(port, action, path.lstrip(":"), content,
                                                                        encoding))
        return await call(ctx, "board_files", fn, board)

    @mcp.tool(annotations=READ_ONLY)
    async def board_status(board: str, ctx: Context) -> CallToolResult:
        """A board's state, read without resetting it: firmware (implementation, version, machine, platform,
        mpy, arch, ulab), free and allocated heap in bytes after a garbage collection (mem_free, mem_alloc), and
        its A/B deploy: active_slot ("a", "b", or null when no Hyperion bundle is deployed), bundle_version (the
        active slot's) and slots (each slot's bundle: id, version, board, arch, model key ids; null when empty)."""
        async def fn():
            return {"board": board, **await relay.boards.call(board, B.board_status)}
        return await call(ctx, "board_status", fn, board)

    @mcp.tool(annotations=BOARD)
    async def board_rollback(board: str, ctx: Context) -> CallToolResult:
        """Roll a board back to its previous deploy: switch it to its other A/B slot (only if that slot holds a
        complete bundle, checked file by file on the board), soft-reset it and check that it boots that slot.
        Returns the slot now active, the previous one and the active bundle's version. A board with nothing to
        roll back to is an error and is left as it was."""
        async def fn():
            return {"board": board, **await relay.boards.call(board, B.board_rollback)}
        return await call(ctx, "board_rollback", fn, board)

    return mcp


def _version():
    from hyperion_host import __version__

    return __version__


def tool_names():
    return ["list_models", "model_info", "infer", "generate", "model_profile", "board_list", "board_exec",
            "board_script", "board_infer", "board_files", "board_status", "board_rollback"]

