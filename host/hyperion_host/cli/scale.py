"""`scale`: replay the autoscaler policy over recorded metrics (`scale plan`), and render Kubernetes manifests
from it (`scale k8s`). See docs/scale.md."""

import json
import os
import stat
from pathlib import Path

import typer

from hyperion_host.cli.app import JsonOpt, err, notice, out
from hyperion_host.errors import HyperionError

scale_app = typer.Typer(help="The autoscaler policy: replay it over metrics, render Kubernetes manifests from it.",
                        no_args_is_help=True)

MAX_METRICS = 64 * 1024 * 1024  # a snapshot file is read whole: bound it before reading
MAX_CONFIG = 1024 * 1024  # also the most a ConfigMap holds
SHOWN = ("in_flight_per_replica", "queued", "p95_ms", "error_rate")  # the table's metrics column

ConfigOpt = typer.Option(None, "--config", "-c", help="Relay config (TOML or JSON) whose [scale] section holds the "
                         "policy (default: the built-in policy).")


def _read_capped(path, cap, what):
    """The bytes of a regular file of at most `cap` bytes, or a one-line error (no FIFO or device is opened)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise HyperionError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise HyperionError("%s %s is not a regular file" % (what, path))
    if st.st_size > cap:
        raise HyperionError("%s %s is %d bytes; at most %d are read" % (what, path, st.st_size, cap))
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as e:
        raise HyperionError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    if len(data) > cap:
        raise HyperionError("%s %s is over %d bytes" % (what, path, cap))
    return data


def _load_config(path):
    """(resolved relay config, its text or None): the file is size-checked and decoded before config.load."""
    from hyperion_host.relay import config as C

    if path is None:
        return C.load(None), None
    try:
        text = _read_capped(path, MAX_CONFIG, "the relay config").decode("utf-8")
    except UnicodeDecodeError:
        raise HyperionError("the relay config %s is not UTF-8 text" % path) from None
    return C.load(str(path)), text


def _policy(cfg):
    from hyperion_host.scale.policy import Policy

    return Policy.from_config(cfg["scale"])


def _read_metrics(path):
    from hyperion_host.scale.policy import read_snapshots

    data = _read_capped(path, MAX_METRICS, "the metrics file")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError; deep nesting a RecursionError
        raise HyperionError("the metrics file %s is not valid JSON: %s" % (path, str(e).splitlines()[0][:200])) from None
    return read_snapshots(doc, str(path))


def _summary(decisions):
    ups = sum(d["action"] == "up" for d in decisions)
    downs = sum(d["action"] == "down" for d in decisions)
    return {"checks": len(decisions), "ups": ups, "downs": downs, "first": decisions[0]["from"],
            "final": decisions[-1]["to"]}


@scale_app.command("plan")
def plan(metrics: Path = typer.Option(..., "--metrics", "-m", help="JSON: a snapshot, a list of them, or "
                                      "{\"snapshots\": [...]} (replicas, in_flight, queued, p95_ms, ...)."),
         config: Path | None = ConfigOpt,
         replicas: int | None = typer.Option(None, "--replicas", "-r", help="Replicas at the start (default: the "
                                             "policy's floor); a snapshot's own \"replicas\" wins."),
         as_json: bool = JsonOpt):
    """Replay the policy over recorded metrics: what it would have done at each check, and why."""
    from hyperion_host.scale.policy import MAX_REPLICAS
    from hyperion_host.scale.policy import plan as run_plan

    cfg, _ = _load_config(config)
    policy = _policy(cfg)
    if replicas is not None and not 1 <= replicas <= MAX_REPLICAS:
        raise HyperionError("--replicas must be 1..%d, not %d" % (MAX_REPLICAS, replicas))
    decisions = run_plan(policy, _read_metrics(metrics), replicas)
    s = _summary(decisions)
    if as_json:
        print(json.dumps({"policy": policy.to_dict(), "decisions": decisions, "summary": s}))
        return
    _print_table(decisions)
    out.print("%d checks: %d up, %d down; replicas %d -> %d" % (s["checks"], s["ups"], s["downs"], s["first"],
                                                                  s["final"]), highlight=False)


def _print_table(decisions):
    from rich.table import Table

    t = Table("ts", "replicas", "action", "metrics", "reason")
    colour = {"up": "green", "down": "yellow", "hold": "dim"}
    for d in decisions:
        m = d["metrics"]
        shown = ", ".join("%s=%g" % (k, m[k]) for k in SHOWN if k in m)
        moved = "%d -> %d" % (d["from"], d["to"]) if d["to"] != d["from"] else str(d["from"])
        t.add_row("%g" % d["ts"], moved, "[%s]%s[/]" % (colour[d["action"]], d["action"]), shown, d["reason"])
    out.print(t)


@scale_app.command("k8s")
def k8s(config: Path | None = ConfigOpt,
        out_dir: Path | None = typer.Option(None, "--out", "-o", help="Write one file per object here (created if "
                                            "missing; only files this command wrote are replaced). Default: one "
                                            "multi-document YAML on stdout."),
        image: str | None = typer.Option(None, "--image", help="The relay image (default hyperion-relay:VERSION, "
                                         "built from deploy/Dockerfile)."),
        namespace: str | None = typer.Option(None, "--namespace", "-n", help="Put everything in this namespace, "
                                             "and create it (default: kubectl's current namespace)."),
        name: str | None = typer.Option(None, "--name", help="Name of the Deployment, Service and HPA (default "
                                        "hyperion-relay).")):
    """Render Kubernetes manifests for the relay: ConfigMap, Deployment, Service, HPA, PodDisruptionBudget."""
    from hyperion_host.scale import k8s as K

    cfg, text = _load_config(config)
    _check_for_pods(cfg, config)
    policy = _policy(cfg)
    cpus = cfg["scale"]["replica_cpus"]
    files = K.render(policy, text if text is not None else K.policy_toml(policy, cpus), cpus,
                     image=image or K.DEFAULT_IMAGE, namespace=namespace, name=name or K.DEFAULT_NAME)
    others = sorted({r.metric for r in policy.rules} - {"in_flight_per_replica", "in_flight"})
    if others:
        notice("the HPA scales on requests in flight per pod only; the rules on %s set only its pace"
               % ", ".join(others))
    docs = [(f, K.to_yaml(obj)) for f, obj in files]
    if out_dir is None:
        print("---\n".join(text for _, text in docs), end="")
        return
    _write_dir(out_dir, docs, K.MARKER)
    err.print("wrote %s to %s" % (", ".join(f for f, _ in docs), out_dir), highlight=False, markup=False)


def _check_for_pods(cfg, path):
    """Each pod is one replica: Ray or several workers inside it would scale twice, or hide load from the metric."""
    where = path or "the relay config"
    if cfg["server"]["engine"] == "ray":
        raise HyperionError("%s sets server.engine = \"ray\"; on Kubernetes each pod runs the local engine and the "
                            "HPA adds pods: drop it from the config given to `scale k8s`" % where)
    if cfg["server"]["workers"] != 1:
        raise HyperionError("%s sets server.workers = %d; on Kubernetes each pod runs one worker (the HPA adds pods, "
                            "and reads each pod's in-flight gauge from one process)" % (where, cfg["server"]["workers"]))


def _ours(path, marker):
    """True if path is a regular file (not a link) whose first line is the marker."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.readline(len(marker) + 2).rstrip(b"\r\n") == marker.encode()
    except OSError:
        return False


def _write_dir(out_dir, docs, marker):
    """Write each file atomically; refuse (writing nothing) if any would replace a file this command did not
    write; remove files it wrote before that this render no longer has (say, a namespace dropped)."""
    from hyperion_host.files import write_atomic

    if out_dir.exists() and not out_dir.is_dir():
        raise HyperionError("--out %s is not a folder" % out_dir)
    names = {f for f, _ in docs}
    foreign = sorted(f for f in names if os.path.lexists(out_dir / f) and not _ours(out_dir / f, marker))
    if foreign:
        raise HyperionError("refusing to overwrite %s in %s: not written by `hyperion-host scale k8s` (move it away, "
                            "or pick another --out)" % (", ".join(foreign), out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HyperionError("cannot create %s: %s" % (out_dir, e.strerror or e)) from None
    stale = [p for p in sorted(out_dir.glob("*.yaml")) if p.name not in names and _ours(p, marker)]
    for f, text in docs:
        write_atomic(out_dir / f, text.encode())
    for p in stale:
        p.unlink()


def register(app):
    app.add_typer(scale_app, name="scale")
