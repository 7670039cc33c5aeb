"""The autoscaler's policy: threshold rules on monitored metrics, with consecutive hits, cooling periods, a floor
and a ceiling, and step sizes. Pure code: the Ray Serve engine calls it on every autoscaling tick (RayPolicy in
ray_engine.py), `hyperion-host scale plan` replays it over recorded snapshots, and the Kubernetes HPA is
generated from the same numbers (k8s.py).

A snapshot is a dict of metrics at one moment:
    replicas        replicas serving now
    in_flight       requests being served or queued, over all replicas
    queued          requests waiting for a replica
    p95_ms          95th percentile request latency
    requests_per_s  request rate
    error_rate      failed / all requests
The per-replica figures in_flight_per_replica and queued_per_replica are derived from them.

A rule: {"metric", "op": gt|lt|eq, "value", "for": consecutive checks, "step": replicas to add (> 0) or remove
(< 0), "cooldown": seconds since the last change before this rule may act}. On each check every rule counts its
consecutive hits; the largest scale-up among rules that have enough hits wins over any scale-down; a rule still
cooling down holds; the result stays within [min_replicas, max_replicas]; after a change all counts restart
(the per-replica figures they saw no longer hold)."""


from hyperion_host.checks import is_int, is_number
from hyperion_host.errors import HyperionError

METRICS = ("in_flight", "queued", "p95_ms", "requests_per_s", "error_rate", "in_flight_per_replica",
           "queued_per_replica", "replicas")
OPS = {"gt": lambda a, b: a > b, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b}
OP_TEXT = {"gt": ">", "lt": "<", "eq": "=="}
RULE_KEYS = ("metric", "op", "value", "for", "step", "cooldown")
MAX_REPLICAS = 1000
MAX_SNAPSHOTS = 100000


class Rule:
    __slots__ = RULE_KEYS[:3] + ("hits_needed", "step", "cooldown")

    def __init__(self, metric, op, value, hits_needed=1, step=1, cooldown=30.0):
        self.metric, self.op, self.value = metric, op, value
        self.hits_needed, self.step, self.cooldown = hits_needed, step, float(cooldown)

    def to_dict(self):
        return {"metric": self.metric, "op": self.op, "value": self.value, "for": self.hits_needed,
                "step": self.step, "cooldown": self.cooldown}

    def text(self):
        return "%s %s %g" % (self.metric, OP_TEXT[self.op], self.value)


def parse_rule(d, where):
    """A Rule from a config table; one-line errors naming `where` and the key."""
    if not isinstance(d, dict):
        raise HyperionError("%s must be a table with %s" % (where, ", ".join(RULE_KEYS)))
    for k in d:
        if k not in RULE_KEYS:
            raise HyperionError("%s: unknown key '%s' (known: %s)" % (where, k, ", ".join(RULE_KEYS)))
    for k in ("metric", "op", "value", "step"):
        if k not in d:
            raise HyperionError("%s: '%s' is missing" % (where, k))
    if d["metric"] not in METRICS:
        raise HyperionError("%s: 'metric' must be one of %s, not %r" % (where, ", ".join(METRICS), d["metric"]))
    if d["op"] not in OPS:
        raise HyperionError("%s: 'op' must be gt, lt or eq, not %r" % (where, d["op"]))
    if not is_number(d["value"]):
        raise HyperionError("%s: 'value' must be a number, not %r" % (where, d["value"]))
    step = d["step"]
    if not is_int(step) or step == 0 or abs(step) > MAX_REPLICAS:
        raise HyperionError("%s: 'step' must be a non-zero whole number of replicas (+ adds, - removes), not %r"
                            % (where, step))
    hits = d.get("for", 1)
    if not is_int(hits) or not 1 <= hits <= 1000:
        raise HyperionError("%s: 'for' must be a number of consecutive checks 1..1000, not %r" % (where, hits))
    cool = d.get("cooldown", 30.0)
    if not is_number(cool) or not 0 <= cool <= 86400:
        raise HyperionError("%s: 'cooldown' must be seconds 0..86400, not %r" % (where, cool))
    return Rule(d["metric"], d["op"], d["value"], hits, step, cool)


def default_rules(target_ongoing):
    """Add a replica when each one has more than `target_ongoing` requests in flight for two checks in a row;
    remove one when they have under half of it for six checks, a minute after the last change."""
    return [Rule("in_flight_per_replica", "gt", float(target_ongoing), 2, 1, 10.0),
            Rule("in_flight_per_replica", "lt", target_ongoing / 2.0, 6, -1, 60.0)]


class Policy:
    def __init__(self, min_replicas=1, max_replicas=4, target_ongoing=2.0, interval=5.0, rules=None):
        if not (is_int(min_replicas) and is_int(max_replicas) and 1 <= min_replicas <= max_replicas <= MAX_REPLICAS):
            raise HyperionError("replicas need 1 <= min_replicas <= max_replicas <= %d, not %r..%r"
                                % (MAX_REPLICAS, min_replicas, max_replicas))
        if not is_number(target_ongoing) or target_ongoing <= 0:
            raise HyperionError("target_ongoing must be a positive number, not %r" % (target_ongoing,))
        if not is_number(interval) or not 0.05 <= interval <= 3600:
            raise HyperionError("interval must be seconds 0.05..3600, not %r" % (interval,))
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
        self.target_ongoing, self.interval = float(target_ongoing), float(interval)
        self.rules = list(rules) if rules else default_rules(target_ongoing)

    @classmethod
    def from_config(cls, scale, where="[scale]"):
        """From the relay config's [scale] section (already type-checked by config.py)."""
        rules = [parse_rule(r, "%s rules[%d]" % (where, i)) for i, r in enumerate(scale.get("rules") or [])]
        return cls(scale["min_replicas"], scale["max_replicas"], scale["target_ongoing"], scale["interval"], rules)

    def to_dict(self):
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "target_ongoing": self.target_ongoing, "interval": self.interval,
                "rules": [r.to_dict() for r in self.rules]}

    def new_state(self):
        return {"hits": [0] * len(self.rules), "last_change": None}

    def decide(self, snap, state, now):
        """(replicas wanted, decision) for one snapshot. `state` (from new_state()) is updated in place."""
        cur = int(snap.get("replicas") or self.min_replicas)
        m = metrics_of(snap, cur)
        hits = state["hits"]
        if len(hits) != len(self.rules):
            hits[:] = [0] * len(self.rules)
        for i, r in enumerate(self.rules):
            v = m.get(r.metric)
            hits[i] = hits[i] + 1 if v is not None and OPS[r.op](v, r.value) else 0
        want, rule, reason = cur, None, "no rule fired"
        if cur < self.min_replicas or cur > self.max_replicas:
            want = min(max(cur, self.min_replicas), self.max_replicas)
            reason = "below the floor" if cur < self.min_replicas else "above the ceiling"
        else:
            ready = [(i, r) for i, r in enumerate(self.rules) if hits[i] >= r.hits_needed]
            ups = sorted((x for x in ready if x[1].step > 0), key=lambda x: -x[1].step)
            downs = sorted((x for x in ready if x[1].step < 0), key=lambda x: x[1].step)
            last = state.get("last_change")
            for i, r in ups[:1] or downs:  # a scale-up, even one held, wins over any scale-down
                m_val = m[r.metric]
                why = "%s (%g) for %d check%s" % (r.text(), m_val, hits[i], "" if hits[i] == 1 else "s")
                left = 0.0 if last is None else r.cooldown - (now - last)
                target = min(max(cur + r.step, self.min_replicas), self.max_replicas)
                if left > 0:
                    want, rule, reason = cur, i, "%s, but cooling down (%.1fs left)" % (why, left)
                elif target == cur:
                    want, rule, reason = cur, i, "%s, but at the %s (%d)" % (
                        why, "ceiling" if r.step > 0 else "floor", cur)
                else:
                    want, rule, reason = target, i, why
                    break
        if want != cur:
            state["last_change"] = now
            hits[:] = [0] * len(self.rules)
        action = "up" if want > cur else "down" if want < cur else "hold"
        return want, {"ts": round(now, 3), "from": cur, "to": want, "action": action, "rule": rule,
                      "reason": reason, "metrics": {k: round(v, 3) for k, v in m.items()}}


def metrics_of(snap, replicas):
    """The snapshot's metrics plus the per-replica figures (missing metrics stay missing: no rule fires on them)."""
    m = {k: float(snap[k]) for k in METRICS if is_number(snap.get(k))}
    m["replicas"] = float(replicas)
    if "in_flight" in m:
        m["in_flight_per_replica"] = m["in_flight"] / max(replicas, 1)
    if "queued" in m:
        m["queued_per_replica"] = m["queued"] / max(replicas, 1)
    return m


def read_snapshots(data, where):
    """Snapshots for the planner: one dict, a list of dicts, or {"snapshots": [...]}; checked (it is a file)."""
    if isinstance(data, dict) and "snapshots" in data:
        data = data["snapshots"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise HyperionError("%s must hold a snapshot object, a list of them, or {\"snapshots\": [...]}" % where)
    if len(data) > MAX_SNAPSHOTS:
        raise HyperionError("%s holds %d snapshots; at most %d are planned at once" % (where, len(data), MAX_SNAPSHOTS))
    out = []
    for i, s in enumerate(data):
        if not isinstance(s, dict):
            raise HyperionError("%s: snapshot %d is not an object" % (where, i))
        for k, v in s.items():
            if k in METRICS or k == "ts":
                if not is_number(v) or v < 0:
                    raise HyperionError("%s: snapshot %d: '%s' must be a number >= 0, not %r" % (where, i, k, v))
        r = s.get("replicas")
        if r is not None and (not is_int(r) or not 1 <= r <= MAX_REPLICAS):
            raise HyperionError("%s: snapshot %d: 'replicas' must be a whole number 1..%d" % (where, i, MAX_REPLICAS))
        out.append(s)
    return out


def plan(policy, snapshots, replicas=None):
    """Replay the policy over snapshots in order; a snapshot without "replicas" takes the count the previous
    decision left (starting at `replicas`, or the floor); without "ts" it comes `interval` after the last."""
    state = policy.new_state()
    cur = replicas or policy.min_replicas
    t = 0.0
    out = []
    for i, s in enumerate(snapshots):
        t = float(s["ts"]) if "ts" in s else (t + policy.interval if i else 0.0)
        snap = dict(s)
        snap.setdefault("replicas", cur)
        cur, d = policy.decide(snap, state, t)
        out.append(d)
    return out
