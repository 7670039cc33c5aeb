"""`hyperion-host serve --engine ray`: the same relay (tools, auth, audit, endpoints) as a Ray Serve application.

    relay replicas (deployment "relay", autoscaled)   the Starlette app of server.Relay, one per replica; models
                                                     are loaded and run in each
    board host (deployment "boards", 1 replica)      the BoardPool, pinned by the custom resource
                                                     "hyperion_boards" to the machine whose serial ports it serves
    hub (actor "hyperion_hub")                       what replicas share: the keys file, rate-limit windows, the
                                                     audit log, monitoring exports, the autoscaler's decisions

Replicas reach the hub (ray_hub.py) and the board host through Ray, so a key revoked, a rate limit reached or an
audit line written on one replica holds for all. The autoscaler is scale/policy.py, run by Serve's controller on
every autoscaling tick (RayPolicy). See docs/scale.md."""

import json
import os
import signal
import sys
import threading
import time

from hyperion_host.errors import HyperionError
from hyperion_host.relay.boards import BoardError, BoardPool, unknown_board
from hyperion_host.relay.ray_hub import HUB, NAMESPACE, Hub, HubAudit, HubKeys, HubLimiter, Sync

APP = "hyperion"
BOARD_RESOURCE = "hyperion_boards"  # declared by the machine with the boards; the board host needs it


class SlotView:
    """A board as the board host last reported it (what Slot offers health() and board_list)."""

    def __init__(self, d):
        self.d = d
        for k in ("name", "port", "busy", "last_error", "info"):
            setattr(self, k, d.get(k))

    def present(self):
        return bool(self.d.get("present"))

    def status(self):
        return dict(self.d)


class RemoteBoardPool:
    """BoardPool's interface (slots, call, identify, refresh) over the board host deployment."""

    def __init__(self, handle, names, timeout, lock_timeout):
        self.handle = handle
        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self.slots = {n: SlotView({"name": n, "present": False}) for n in names}

    def get(self, name):
        if name not in self.slots:
            raise unknown_board(name, self.slots)
        return self.slots[name]

    async def call(self, name, fn, timeout=None):
        self.get(name)
        return _value(await self.handle.call.remote(name, fn, timeout or self.timeout))

    async def identify(self, name, timeout=5.0):
        self.get(name)
        self.slots[name].info = _value(await self.handle.identify.remote(name, timeout))
        return self.slots[name].info

    async def refresh(self):
        for d in await self.handle.status.remote():
            self.slots[d["name"]] = SlotView(d)


def _value(answer):
    """The value of a board host's (ok, value or error message) answer, or its BoardError."""
    ok, value = answer
    if not ok:
        raise BoardError(value)
    return value


class BoardHost:
    """The board pool where the serial ports are; relay replicas call it through a deployment handle. Its
    answers are (True, value) or (False, message): a HyperionError does not cross Ray whole."""

    def __init__(self, cfg_json):
        cfg = json.loads(cfg_json)
        lim = cfg["limits"]
        self.pool = BoardPool(cfg["server"]["boards"], lim["board_timeout"], lim["board_lock_timeout"])

    async def call(self, name, fn, timeout):
        try:
            return True, await self.pool.call(name, fn, timeout)
        except HyperionError as e:
            return False, e.format_message()

    async def identify(self, name, timeout):
        try:
            return True, await self.pool.identify(name, timeout)
        except HyperionError as e:
            return False, e.format_message()

    async def status(self):
        return [s.status() for s in self.pool.slots.values()]


def ray_parts(cfg, boards_handle, replica):
    """The shared pieces a replica's Relay uses instead of its own (see server.local_parts)."""
    import ray

    hub = ray.get_actor(HUB, namespace=NAMESPACE)
    keys = HubKeys(cfg["auth"]["keys_file"] is not None)
    audit = HubAudit(hub, replica)
    lim = cfg["limits"]
    if boards_handle is not None:
        boards = RemoteBoardPool(boards_handle, cfg["server"]["boards"], lim["board_timeout"],
                                 lim["board_lock_timeout"])
    else:
        boards = BoardPool((), lim["board_timeout"], lim["board_lock_timeout"])
    return {"keys": keys, "audit": audit, "key_limit": HubLimiter(hub, "key"), "ip_limit": HubLimiter(hub, "ip"),
            "boards": boards, "replica": replica, "sync": Sync(hub, keys, audit, boards, replica)}


class RelayReplica:
    """One relay replica: server.Relay with the shared parts; its ASGI app is what Serve fronts."""

    def __init__(self, cfg_json, boards_handle=None):
        from ray import serve

        from hyperion_host.relay.server import Relay

        cfg = json.loads(cfg_json)
        try:
            replica = serve.get_replica_context().replica_id.unique_id
        except Exception:  # noqa: BLE001 - outside a replica (tests of the class itself)
            replica = "replica-%d" % os.getpid()
        self.parts = ray_parts(cfg, boards_handle, replica)
        self.relay = Relay(cfg, parts=self.parts)
        self.relay.monitor.replica = replica

    def __serve_build_asgi_app__(self):
        return self.relay.app()

    def record_autoscaling_stats(self):
        """Custom metrics for the autoscaler (RayPolicy): this replica's p95 latency."""
        from hyperion_host.relay.monitoring import percentiles

        p95 = percentiles(self.relay.monitor.latency_samples(), (95,))["p95"]
        return {} if p95 is None else {"p95_ms": float(p95)}


class RayPolicy:
    """scale/policy.py as a Ray Serve custom autoscaling policy: Serve's controller calls it with an
    AutoscalingContext on every tick; it evaluates the policy every `interval` seconds, and reports each change
    to the hub (audit log, counters, /api/monitoring)."""

    def __init__(self, policy):
        from hyperion_host.scale.policy import Policy

        self.policy = Policy.from_config(policy)  # Policy.to_dict() made it
        self.state = self.policy.new_state()
        self.last_eval = None
        self.want = None

    def __call__(self, ctx):
        now = time.time()
        if self.want is not None and self.last_eval is not None and now - self.last_eval < self.policy.interval:
            return self.want, {}
        self.last_eval = now
        snap = {"replicas": max(1, ctx.target_num_replicas), "in_flight": float(ctx.total_num_requests or 0)}
        queued = ctx.total_queued_requests
        if queued is not None:
            snap["queued"] = float(queued)
        try:
            agg = ctx.aggregated_metrics or {}
        except Exception:  # noqa: BLE001 - custom metrics not reported yet
            agg = {}
        if agg.get("p95_ms"):
            snap["p95_ms"] = max(agg["p95_ms"].values())
        self.want, d = self.policy.decide(snap, self.state, now)
        _tell_hub(ctx.current_num_replicas, self.want, d)
        return self.want, {}


def _tell_hub(running, target, decision):
    try:
        import ray

        ray.get_actor(HUB, namespace=NAMESPACE).scale_tick.remote(running, target, decision)
    except Exception:  # noqa: BLE001 - the hub gone (shutting down): the decision still stands
        pass


# -- running ------------------------------------------------------------------------------------------------

def autoscaling_config(cfg):
    from hyperion_host.scale.policy import Policy

    sc = cfg["scale"]
    policy = Policy.from_config(sc)
    return {"min_replicas": sc["min_replicas"], "max_replicas": sc["max_replicas"],
            "initial_replicas": sc["min_replicas"], "target_ongoing_requests": sc["target_ongoing"],
            "look_back_period_s": max(policy.interval, 0.5),
            "upscale_delay_s": 0, "downscale_delay_s": 0,  # the policy's own hits and cooldowns pace it
            "policy": {"policy_function": "hyperion_host.relay.ray_engine:RayPolicy",
                       "policy_kwargs": {"policy": policy.to_dict()}}}


def metric_intervals(cfg):
    """Serve pushes load figures to its controller every 10 s by default; the policy checks every `interval`
    seconds, so figures should arrive at least that often (an environment setting wins)."""
    every = str(max(0.1, min(1.0, cfg["scale"]["interval"] / 2)))
    return {k: os.environ.get(k, every) for k in ("RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S",
                                                  "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S")}


def build_app(cfg):
    """The Serve application (bound deployments) for a resolved relay config."""
    from ray import serve

    cfg_json = json.dumps(cfg)
    sc = cfg["scale"]
    boards = None
    if cfg["server"]["boards"]:
        boards = serve.deployment(BoardHost, name="boards", num_replicas=1, ray_actor_options={
            "num_cpus": 0, "resources": {BOARD_RESOURCE: 0.01}}).bind(cfg_json)
    relay = serve.deployment(serve.ingress()(RelayReplica), name="relay",
                             autoscaling_config=autoscaling_config(cfg),
                             max_ongoing_requests=max(8, int(sc["target_ongoing"] * 4)),
                             ray_actor_options={"num_cpus": sc["replica_cpus"]})
    return relay.bind(cfg_json, boards)


def start(cfg, port):
    """Connect to (or start) Ray, start the hub and Serve's proxy on host:port, and deploy the relay."""
    import ray
    from ray import serve

    s = cfg["server"]
    os.environ.update(metric_intervals(cfg))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports sent from a user's relay
    if s["ray_address"]:
        ray.init(address=s["ray_address"], namespace=NAMESPACE, logging_level="WARNING", log_to_driver=False)
    else:  # a local Ray on this machine, which has the boards
        ray.init(namespace=NAMESPACE, resources={BOARD_RESOURCE: 1}, include_dashboard=False,
                 logging_level="WARNING", log_to_driver=False)
    hub = ray.remote(num_cpus=0)(Hub).options(name=HUB, namespace=NAMESPACE).remote(json.dumps(cfg))
    ray.get(hub.key_entries.remote(None))  # the keys file read, or its error, before any replica starts
    http = {"host": s["host"], "port": port}
    if s["tls_cert"]:
        http.update(ssl_certfile=s["tls_cert"], ssl_keyfile=s["tls_key"])
    serve.start(http_options=http)
    serve.run(build_app(cfg), name=APP, route_prefix="/", blocking=False)
    return hub


def stop(hub=None):
    import ray
    from ray import serve

    try:
        if hub is not None:
            ray.get(hub.close.remote(), timeout=5)
        serve.shutdown()
    finally:
        ray.shutdown()


def _precheck(cfg):
    """What the hub and the board host would fail on, checked here first: their errors are one line, not a Ray
    traceback, and no cluster is started for nothing."""
    from hyperion_host.relay.auth import KeyStore

    KeyStore(cfg["auth"]["keys_file"])
    BoardPool(cfg["server"]["boards"])
    audit = cfg["auth"]["audit_log"]
    if audit:
        from hyperion_host.relay.auth import AuditLog

        AuditLog(audit).close()


def run(cfg):
    """Serve on Ray until interrupted (Ctrl-C or SIGTERM). The driver runs in a child process in a session of its
    own, with Ray's processes under it: a Ctrl-C, which a terminal sends to its whole foreground process group,
    reaches only this process, which asks the driver to stop (Serve drains its replicas, then Ray shuts down)
    instead of Ray's processes being killed half-way, with the port still held."""
    import subprocess

    from hyperion_host.relay.server import bind, check_auth_policy, check_tls

    check_auth_policy(cfg)
    check_tls(cfg)
    _precheck(cfg)
    try:
        import ray.serve  # noqa: F401
    except ImportError:
        raise HyperionError("--engine ray needs Ray Serve: pip install 'hyperion-host[scale]' (or 'ray[serve]')") \
            from None
    s = cfg["server"]
    probe = bind(s["host"], s["port"])  # a port in use is a one-line error here; 0 becomes a free port
    cfg = dict(cfg, server=dict(s, port=probe.getsockname()[1]))
    probe.close()
    child = subprocess.Popen([sys.executable, "-m", "hyperion_host.relay.ray_engine"], stdin=subprocess.PIPE,
                             start_new_session=True)
    child.stdin.write(json.dumps(cfg).encode())
    child.stdin.close()
    asked = []

    def stop_child(*_):
        asked.append(time.monotonic())
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    old = {sig: signal.signal(sig, stop_child) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while child.poll() is None:
            time.sleep(0.2)
            if asked and time.monotonic() - asked[0] > GRACE:  # the driver is stuck: end it and Ray
                os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    if child.returncode not in (0, -signal.SIGTERM) and not asked:
        raise SystemExit(child.returncode if child.returncode > 0 else 1)


GRACE = 60.0  # seconds a stopping driver has to drain the replicas and shut Ray down


def _drive(cfg):
    """The child process of run(): start everything, serve until SIGTERM, stop everything."""
    from hyperion_host.relay.server import describe

    stop_now = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop_now.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards a Ctrl-C as SIGTERM
    hub = None
    try:
        hub = start(cfg, cfg["server"]["port"])
        signal.signal(signal.SIGTERM, lambda *a: stop_now.set())  # again: ray.init installs its own
        sc = cfg["scale"]
        print(describe(cfg, None, cfg["server"]["port"]) + " on Ray Serve (%d..%d replicas)"
              % (sc["min_replicas"], sc["max_replicas"]), file=sys.stderr, flush=True)
        while not stop_now.wait(0.5):
            pass
    finally:
        stop(hub)


if __name__ == "__main__":
    try:
        _drive(json.loads(sys.stdin.read()))
    except HyperionError as e:
        sys.stderr.write("error: %s\n" % e.format_message())
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - Ray's own failures come as long tracebacks: say the gist
        lines = [x for x in str(e).splitlines() if x.strip()]
        sys.stderr.write("error: the Ray engine did not start: %s: %s\n"
                         % (type(e).__name__, lines[-1].strip()[:300] if lines else ""))
        sys.exit(1)
