"""`hyperion-host fleet plan|apply|rollback|status FLEET`: roll a bundle out to many boards in batches.

FLEET is JSON or YAML, validated against SCHEMA. `plan` reads every board's state and says what changes where,
in which batch (deterministic for the same states). `apply` runs the batches; when a batch has more failed
boards (deploy error or failed health check) than the threshold allows, it switches that batch's updated boards
back and stops. Every action is appended to a JSON-lines audit log."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hyperion_host.errors import HyperionError
from hyperion_host.ship import deploy as dep
from hyperion_host.ship.bundle import load_manifest

SCHEMA = {
    "type": "object",
    "required": ["bundle", "boards"],
    "additionalProperties": False,
    "properties": {
        "bundle": {"type": "string", "minLength": 1},
        "batch_size": {"type": "integer", "minimum": 1},
        "parallel": {"type": "boolean"},
        "audit_log": {"type": "string", "minLength": 1},
        "health": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "min_score": {"type": "number", "minimum": 0, "maximum": 1},
                "max_failed_boards": {"type": "integer", "minimum": 0},
            },
        },
        "boards": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "port"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "minLength": 1}, "port": {"type": "string", "minLength": 1}},
            },
        },
    },
}


class Fleet:
    def __init__(self, path):
        import jsonschema
        import yaml

        self.path = Path(path)
        try:
            text = self.path.read_text()
        except OSError as e:
            raise HyperionError("cannot read %s: %s" % (path, e.strerror)) from None
        try:
            data = json.loads(text) if self.path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as e:
            raise HyperionError("%s does not parse: %s" % (path, str(e).splitlines()[0])) from None
        try:
            jsonschema.validate(data, SCHEMA)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path) or "top level"
            raise HyperionError("%s is not a valid fleet file at %s: %s" % (path, where, e.message)) from None
        names = [b["name"] for b in data["boards"]]
        if len(set(names)) != len(names):
            raise HyperionError("%s names a board twice; board names must be unique" % path)
        base = self.path.parent
        self.bundle = str((base / data["bundle"]).resolve())
        self.batch_size = data.get("batch_size", 1)
        self.parallel = data.get("parallel", True)
        h = data.get("health", {})
        self.min_score = h.get("min_score", 1.0)
        self.max_failed = h.get("max_failed_boards", 0)
        self.boards = data["boards"]
        self.audit_path = base / data.get("audit_log", self.path.stem + "-audit.jsonl")

    def audit(self, action, board=None, **details):
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "fleet": str(self.path), "action": action}
        if board:
            rec.update(board=board["name"], port=board["port"])
        rec.update(details)
        with open(self.audit_path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def _board_state(board):
    try:
        return dep.status(board["port"])
    except HyperionError as e:
        return {"error": e.format_message()}


def plan(fleet_path):
    """[{batch, name, port, action, from, to}] for every board, in batch order."""
    fl = Fleet(fleet_path)
    man = load_manifest(fl.bundle)
    rows = []
    todo = []
    for b in fl.boards:
        st = _board_state(b)
        row = {"name": b["name"], "port": b["port"], "to": man["version"], "bundle": man["id"]}
        if "error" in st:
            row.update(action="unreachable", detail=st["error"], batch=None, **{"from": None})
        elif st.get("bundle") == man["id"]:
            row.update(action="none", detail="already runs this bundle", batch=None, **{"from": st["version"]})
        elif st["arch"] != man["arch"]:
            row.update(action="blocked", detail="bundle is for %s, board runs %s" % (man["arch"], st["arch"]),
                       batch=None, **{"from": st["version"]})
        else:
            row.update(action="deploy", detail="slot %s -> %s" % (st["active"] or "none",
                                                                  "b" if st["active"] == "a" else "a"),
                       **{"from": st["version"]})
            todo.append(row)
        rows.append(row)
    for i, row in enumerate(todo):
        row["batch"] = i // fl.batch_size + 1
    fl.audit("plan", boards=len(rows), deploy=len(todo), bundle=man["id"])
    return rows


def apply(fleet_path, log=print):
    """Run the plan batch by batch. Returns {'ok': bool, 'batches': [...], 'stopped_at': batch or None}."""
    fl = Fleet(fleet_path)
    rows = plan(fleet_path)
    by_name = {b["name"]: b for b in fl.boards}
    batches = sorted({r["batch"] for r in rows if r["batch"]})
    result = {"ok": True, "batches": [], "stopped_at": None}
    fl.audit("apply-start", batches=len(batches))
    for n in batches:
        members = [by_name[r["name"]] for r in rows if r["batch"] == n]
        log("batch %d: %s" % (n, ", ".join(b["name"] for b in members)))

        def one(board):
            try:
                res = dep.deploy(board["port"], fl.bundle)
                score = _score(res.get("health", {}))
                ok = score >= fl.min_score
                fl.audit("deploy", board, ok=ok, slot=res["slot"], previous=res.get("previous"), score=score,
                         copied=res["copied"], changed=res["changed"])
                return board, ok, res, None
            except HyperionError as ex:
                fl.audit("deploy", board, ok=False, error=ex.format_message())
                return board, False, None, ex.format_message()

        if fl.parallel and len(members) > 1:
            with ThreadPoolExecutor(len(members)) as ex:
                outcomes = list(ex.map(one, members))
        else:
            outcomes = [one(b) for b in members]
        failed = [o for o in outcomes if not o[1]]
        batch = {"batch": n, "boards": [{"name": b["name"], "ok": ok, "error": e,
                                         "slot": r and r["slot"]} for b, ok, r, e in outcomes]}
        result["batches"].append(batch)
        for b, ok, r, e in outcomes:
            log("  %s: %s" % (b["name"], "ok (slot %s)" % r["slot"] if ok else "FAILED: %s" % (e or "health check")))
        if len(failed) > fl.max_failed:
            # roll the batch back: boards that switched go back to their previous slot
            for b, ok, r, e in outcomes:
                if r and r.get("changed") and r.get("previous"):
                    try:
                        dep.rollback(b["port"])
                        fl.audit("rollback", b, reason="batch %d failed" % n, ok=True)
                        log("  %s: rolled back to slot %s" % (b["name"], r["previous"]))
                    except HyperionError as e2:
                        fl.audit("rollback", b, reason="batch %d failed" % n, ok=False, error=e2.format_message())
            result.update(ok=False, stopped_at=n)
            fl.audit("apply-stop", batch=n, failed=[b["name"] for b, *_ in failed])
            break
    else:
        fl.audit("apply-done", batches=len(batches))
    return result


def _score(health):
    if not health:
        return 1.0
    return sum(1 for v in health.values() if v == "ok") / len(health)


def _switched_by_last_apply(fl):
    """{board name: slot} for the boards the last `apply` switched to a new slot and nothing has switched back
    since (an apply's own batch rollback, or an earlier `fleet rollback`), read from the audit log."""
    try:
        lines = fl.audit_path.read_text().splitlines()
    except OSError:
        return {}
    recs = []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn last line: the audit log is appended to, never rewritten
        if isinstance(r, dict):
            recs.append(r)
    starts = [i for i, r in enumerate(recs) if r.get("action") == "apply-start"]
    switched = {}
    for r in recs[starts[-1] if starts else len(recs):]:
        name = r.get("board")
        if r.get("action") == "deploy" and r.get("changed") and r.get("slot"):
            switched[name] = r["slot"]
        elif r.get("action") == "rollback" and r.get("ok"):
            switched.pop(name, None)
    return switched


def _left_alone(board, switched):
    """Why a fleet rollback leaves this board alone, or None to roll it back (switched None: every board)."""
    if switched is None:
        return None
    if board["name"] not in switched:
        return "the last apply did not switch it"
    now = dep.status(board["port"])["active"]
    if now != switched[board["name"]]:
        return "its slot changed since the last apply (slot %s, apply left %s)" % (now, switched[board["name"]])
    return None


def rollback(fleet_path, log=print, every=False):
    """Switch back the boards the last `apply` moved to a new slot (every board with every=True). A board the
    apply did not touch, or whose slot has changed since, is left alone and reported as skipped."""
    fl = Fleet(fleet_path)
    switched = None if every else _switched_by_last_apply(fl)
    out = []
    for b in fl.boards:
        row = {"name": b["name"], "port": b["port"]}
        try:
            why = _left_alone(b, switched)
            if why:
                row.update(ok=True, skipped=why)
            else:
                r = dep.rollback(b["port"])
                fl.audit("rollback", b, ok=True, slot=r["slot"])
                row.update(ok=True, slot=r["slot"], version=r["version"])
        except HyperionError as e:
            fl.audit("rollback", b, ok=False, error=e.format_message())
            row.update(ok=False, error=e.format_message())
        out.append(row)
        log("%s: %s" % (b["name"], "left alone: " + row["skipped"] if "skipped" in row else
                        "slot %s" % row["slot"] if row["ok"] else row["error"]))
    return out


def status(fleet_path):
    """Version, slot and health (self-test score of the active slot) per board."""
    from hyperion_host.device.transport import Board, resolve_port

    fl = Fleet(fleet_path)
    out = []
    for b in fl.boards:
        st = _board_state(b)
        row = {"name": b["name"], "port": b["port"]}
        if "error" in st:
            row.update(reachable=False, error=st["error"])
        else:
            row.update(reachable=True, version=st["version"], slot=st["active"], bundle=st["bundle"])
            if st["active"]:
                with Board(resolve_port(b["port"]), soft_reset=False) as bd:
                    manifest = json.loads(bd.read_file("%s/%s/manifest.json" % (dep.ROOT, st["active"])))
                h = dep.run_health(b["port"], st["active"], manifest)
                row.update(health=h["score"] if h["tests"] else (1.0 if h["ok"] else 0.0), tests=h["tests"])
        out.append(row)
    fl.audit("status", boards=len(out))
    return out
