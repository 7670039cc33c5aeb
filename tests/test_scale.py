"""The autoscaler policy (scale/policy.py), `hyperion-host scale plan` over recorded metrics, and `scale k8s`: the
manifests validate offline against the Kubernetes OpenAPI schemas, follow the policy's numbers, match the
committed deploy/k8s/, never replace a file they did not write, and the readiness probe works on a real relay."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from hyperion_host.errors import HyperionError
from hyperion_host.relay import config as C
from hyperion_host.scale import k8s as K
from hyperion_host.scale.policy import Policy, Rule, metrics_of, parse_rule, plan, read_snapshots

from helpers import assert_user_error, run_cli

REPO = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.33.0"  # one of the Kubernetes versions kubernetes-validate bundles (1.37.0 bundles up to 1.37)


def actions(decisions):
    return [d["action"] for d in decisions]


def one_line(excinfo):
    msg = excinfo.value.format_message()
    assert "\n" not in msg, msg
    return msg


# -- the policy --------------------------------------------------------------------------------------------------

def test_scale_up_after_for_consecutive_hits_and_not_before():
    p = Policy(1, 4, 2.0, 5.0)  # default rules: > 2 per replica for 2 checks adds one
    d = plan(p, [{"in_flight": 8}, {"in_flight": 8}])
    assert actions(d) == ["hold", "up"] and d[1]["to"] == 2
    assert "for 2 checks" in d[1]["reason"] and d[1]["rule"] == 0
    # a miss between two hits starts the count again
    assert actions(plan(p, [{"in_flight": 8}, {"in_flight": 0}, {"in_flight": 8}])) == ["hold"] * 3


def test_cooldown_holds_and_says_so():
    p = Policy(1, 4, 2.0, 5.0, [Rule("in_flight_per_replica", "gt", 2.0, 1, 1, 30.0)])
    d = plan(p, [{"in_flight": 100}] * 4)
    assert [x["to"] for x in d] == [2, 2, 2, 2]  # the first change needs no cooldown; then 30 s pass for the next
    assert d[1]["action"] == "hold"
    assert re.search(r"in_flight_per_replica > 2 \(50\) for 1 check, but cooling down \(25\.0s left\)", d[1]["reason"])
    assert "(15.0s left)" in d[3]["reason"]
    d = plan(p, [{"in_flight": 100, "ts": 0}, {"in_flight": 100, "ts": 30}])
    assert [x["to"] for x in d] == [2, 3]


def test_ceiling_and_floor():
    up = Rule("in_flight", "gt", 0, 1, 3, 0)
    down = Rule("in_flight", "eq", 0, 1, -5, 0)
    p = Policy(2, 4, 1.0, 5.0, [up, down])
    d = plan(p, [{"in_flight": 9}, {"in_flight": 9}], replicas=3)
    assert [x["to"] for x in d] == [4, 4]  # +3 stops at the ceiling
    assert "but at the ceiling (4)" in d[1]["reason"]
    d = plan(p, [{"in_flight": 0}, {"in_flight": 0}], replicas=3)
    assert [x["to"] for x in d] == [2, 2]
    assert "but at the floor (2)" in d[1]["reason"]
    d = plan(p, [{"replicas": 9, "in_flight": 1}, {"replicas": 1, "in_flight": 1}])
    assert [(x["to"], x["reason"]) for x in d] == [(4, "above the ceiling"), (2, "below the floor")]


def test_scale_down():
    p = Policy(1, 4, 2.0, 5.0)  # < 1 per replica for 6 checks removes one, 60 s after the last change
    d = plan(p, [{"in_flight": 0, "ts": 100 + 5 * i} for i in range(6)], replicas=3)
    assert actions(d) == ["hold"] * 5 + ["down"] and d[-1]["to"] == 2


def test_up_wins_over_down():
    p = Policy(1, 8, 2.0, 5.0, [Rule("in_flight_per_replica", "lt", 1.0, 1, -1, 0),
                                Rule("queued", "gt", 0, 1, 2, 0)])
    d = plan(p, [{"in_flight": 0, "queued": 5}], replicas=4)
    assert d[0]["action"] == "up" and d[0]["to"] == 6 and d[0]["rule"] == 1


def test_an_up_still_cooling_down_holds_back_a_down():
    p = Policy(1, 8, 2.0, 5.0, [Rule("queued", "gt", 0, 1, 1, 100), Rule("in_flight", "eq", 0, 1, -1, 0)])
    d = plan(p, [{"queued": 1, "in_flight": 1, "ts": 0}, {"queued": 1, "in_flight": 0, "ts": 5}], replicas=2)
    assert [x["to"] for x in d] == [3, 3] and "cooling down" in d[1]["reason"]


def test_hits_restart_after_a_change():
    p = Policy(1, 8, 2.0, 5.0, [Rule("in_flight", "gt", 0, 2, 1, 0)])
    d = plan(p, [{"in_flight": 9}] * 5)
    assert actions(d) == ["hold", "up", "hold", "up", "hold"]


def test_eq_and_lt():
    eq = Policy(1, 4, 2.0, 5.0, [Rule("queued", "eq", 3, 1, 1, 0)])
    assert actions(plan(eq, [{"queued": 2}, {"queued": 3}, {"queued": 4}])) == ["hold", "up", "hold"]
    lt = Policy(1, 4, 2.0, 5.0, [Rule("p95_ms", "lt", 50, 1, -1, 0)])
    assert actions(plan(lt, [{"p95_ms": 50}, {"p95_ms": 49.9}], replicas=3)) == ["hold", "down"]


def test_per_replica_figures():
    m = metrics_of({"in_flight": 6, "queued": 3, "p95_ms": 120}, 3)
    assert m["in_flight_per_replica"] == 2 and m["queued_per_replica"] == 1 and m["replicas"] == 3
    assert "error_rate" not in metrics_of({}, 2) and "in_flight_per_replica" not in metrics_of({}, 2)
    # a rule on a metric the snapshot lacks never fires
    p = Policy(1, 4, 2.0, 5.0, [Rule("error_rate", "lt", 1, 1, -1, 0)])
    assert actions(plan(p, [{}], replicas=2)) == ["hold"]


@pytest.mark.parametrize("data, fragment", [
    ([], "must hold a snapshot object"),
    ("text", "must hold a snapshot object"),
    ({"snapshots": 3}, "must hold a snapshot object"),
    ([1], "snapshot 0 is not an object"),
    ([{}, {"in_flight": -1}], "snapshot 1: 'in_flight' must be a number >= 0"),
    ([{"p95_ms": True}], "'p95_ms' must be a number"),
    ([{"ts": "soon"}], "'ts' must be a number"),
    ([{"replicas": 1.5}], "'replicas' must be a whole number"),
    ([{"replicas": 0}], "'replicas' must be a whole number"),
    ([{"replicas": 10 ** 6}], "'replicas' must be a whole number"),
])
def test_read_snapshots_rejects_bad_input(data, fragment):
    with pytest.raises(HyperionError) as e:
        read_snapshots(data, "f.json")
    assert fragment in one_line(e)


def test_read_snapshots_shapes():
    s = {"in_flight": 1}
    assert read_snapshots(s, "f") == read_snapshots([s], "f") == read_snapshots({"snapshots": [s]}, "f") == [s]


@pytest.mark.parametrize("rule, fragment", [
    ('metric = "cpu"\nop = "gt"\nvalue = 1\nstep = 1', "'metric' must be one of"),
    ('metric = "queued"\nop = "ge"\nvalue = 1\nstep = 1', "'op' must be gt, lt or eq"),
    ('metric = "queued"\nop = "gt"\nvalue = "1"\nstep = 1', "'value' must be a number"),
    ('metric = "queued"\nop = "gt"\nvalue = 1\nstep = 0', "'step' must be a non-zero whole number"),
    ('metric = "queued"\nop = "gt"\nvalue = 1\nstep = 1\nfor = 0', "'for' must be a number of consecutive checks"),
    ('metric = "queued"\nop = "gt"\nvalue = 1\nstep = 1\ncooldown = -1', "'cooldown' must be seconds"),
    ('metric = "queued"\nop = "gt"\nvalue = 1\nstep = 1\nwhen = 2', "unknown key 'when'"),
    ('metric = "queued"\nop = "gt"\nvalue = 1', "'step' is missing"),
])
def test_config_rejects_bad_rules(tmp_path, rule, fragment):
    f = tmp_path / "relay.toml"
    f.write_text("[scale]\nmax_replicas = 3\n\n[[scale.rules]]\n" + rule + "\n")
    with pytest.raises(HyperionError) as e:
        C.load(str(f), environ={})
    msg = one_line(e)
    assert fragment in msg and "[[scale.rules]] 0" in msg


def test_config_rejects_a_bad_scale_section(tmp_path):
    for text, fragment in (("min_replicas = 5\nmax_replicas = 2", "min_replicas (5) is above"),
                           ("target_ongoing = 0", "'scale.target_ongoing' must be"),
                           ("replica_cpus = 100", "'scale.replica_cpus' must be"),
                           ("rules = 3", "'scale.rules' must be")):
        f = tmp_path / "relay.toml"
        f.write_text("[scale]\n" + text + "\n")
        with pytest.raises(HyperionError) as e:
            C.load(str(f), environ={})
        assert fragment in one_line(e)


def test_config_builds_the_policy(tmp_path):
    f = tmp_path / "relay.toml"
    f.write_text('[scale]\nmin_replicas = 2\nmax_replicas = 6\n\n[[scale.rules]]\nmetric = "queued"\nop = "gt"\n'
                 'value = 4\nfor = 3\nstep = 2\ncooldown = 15\n')
    p = Policy.from_config(C.load(str(f), environ={})["scale"])
    assert (p.min_replicas, p.max_replicas) == (2, 6)
    assert [r.to_dict() for r in p.rules] == [parse_rule({"metric": "queued", "op": "gt", "value": 4, "for": 3,
                                                           "step": 2, "cooldown": 15}, "x").to_dict()]


# -- scale plan, as a user runs it -------------------------------------------------------------------------------

def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_plan_cli(tmp_path):
    f = write_json(tmp_path / "f.json", {"snapshots": [{"in_flight": 8}] * 4 + [{"in_flight": 0}] * 3})
    p = run_cli("scale", "plan", "--metrics", f, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert actions(r["decisions"]) == ["hold", "up", "hold", "up", "hold", "hold", "hold"]
    assert [d["to"] for d in r["decisions"]] == [1, 2, 2, 3, 3, 3, 3]
    assert r["summary"] == {"checks": 7, "ups": 2, "downs": 0, "first": 1, "final": 3}
    assert r["policy"]["rules"][0]["metric"] == "in_flight_per_replica"

    cfg = tmp_path / "relay.toml"
    cfg.write_text('[scale]\nmin_replicas = 2\nmax_replicas = 3\n\n[[scale.rules]]\nmetric = "queued"\nop = "gt"\n'
                   'value = 0\nfor = 1\nstep = 5\ncooldown = 0\n')
    f = write_json(tmp_path / "g.json", [{"queued": 1}, {"queued": 1}])
    r = json.loads(run_cli("scale", "plan", "--metrics", f, "--config", str(cfg), "--json").stdout)
    assert [(d["from"], d["to"]) for d in r["decisions"]] == [(2, 3), (3, 3)]
    assert "but at the ceiling (3)" in r["decisions"][1]["reason"]


def test_plan_cli_table(tmp_path):
    f = write_json(tmp_path / "f.json", [{"in_flight": 8}, {"in_flight": 8}])
    p = run_cli("scale", "plan", "--metrics", f, "--replicas", "2", env={"COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    assert "2 -> 3" in p.stdout and "in_flight_per_replica > 2 (4) for 2 checks" in p.stdout
    assert p.stdout.strip().splitlines()[-1] == "2 checks: 1 up, 0 down; replicas 2 -> 3"


def test_plan_cli_rejects_bad_files(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)  # sparse: the size is refused before anything is read
    cases = [
        (str(tmp_path / "missing.json"), "No such file"),
        (write_json(tmp_path / "a.json", []), "must hold a snapshot object"),
        (write_json(tmp_path / "b.json", [{"in_flight": "many"}]), "'in_flight' must be a number"),
        (write_json(tmp_path / "c.json", {"replicas": 2.5}), "'replicas' must be a whole number"),
        (str(big), "at most 67108864 are read"),
        (str(tmp_path), "not a regular file"),
    ]
    (tmp_path / "d.json").write_text("{not json")
    (tmp_path / "e.json").write_text("[" * 200000 + "]" * 200000)
    (tmp_path / "f.json").write_bytes(b"\xff\xfe\xfa\x00")
    cases += [(str(tmp_path / n), "is not valid JSON") for n in ("d.json", "e.json", "f.json")]
    for path, fragment in cases:
        assert_user_error(run_cli("scale", "plan", "--metrics", path), fragment)
    ok = write_json(tmp_path / "ok.json", [{"in_flight": 1}])
    assert_user_error(run_cli("scale", "plan", "--metrics", ok, "--replicas", "0"), "--replicas must be 1..1000")
    bad = tmp_path / "bad.toml"
    bad.write_text('[scale]\n[[scale.rules]]\nmetric = "queued"\nop = "gt"\nvalue = 1\nstep = 0\n')
    assert_user_error(run_cli("scale", "plan", "--metrics", ok, "--config", str(bad)), "'step' must be")


# -- scale k8s ---------------------------------------------------------------------------------------------------

def render(tmp_path, *args):
    out = tmp_path / "k8s"
    p = run_cli("scale", "k8s", "--out", str(out), *args)
    assert p.returncode == 0, p.stderr
    return {f.name: yaml.safe_load(f.read_text()) for f in sorted(out.glob("*.yaml"))}


def validate_all(docs):
    for name, doc in docs.items():
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail("%s: %s at %s" % (name, e.message, "/".join(map(str, e.path))))


def by_kind(docs):
    return {d["kind"]: d for d in docs.values()}


def test_k8s_renders_valid_manifests(tmp_path):
    docs = render(tmp_path)
    assert sorted(docs) == ["10-configmap.yaml", "20-deployment.yaml", "30-service.yaml", "40-hpa.yaml",
                            "50-pdb.yaml"]
    validate_all(docs)
    k = by_kind(docs)
    c = k["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["serve", "--listen", "0.0.0.0:8321", "--models", "/models", "--keys-file",
                         "/keys/keys.json", "--config", "/config/relay.toml"]
    assert c["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert "replicas" not in k["Deployment"]["spec"]  # the HPA owns the count
    # the ConfigMap's relay.toml is a config the relay loads, holding the policy the HPA came from
    f = tmp_path / "relay.toml"
    f.write_text(k["ConfigMap"]["data"]["relay.toml"])
    assert Policy.from_config(C.load(str(f), environ={})["scale"]).to_dict() == Policy().to_dict()


def test_k8s_follows_the_policy(tmp_path):
    cfg = tmp_path / "relay.toml"
    cfg.write_text("[scale]\nmin_replicas = 2\nmax_replicas = 7\ntarget_ongoing = 1.5\ninterval = 5\nreplica_cpus = 0.5\n"
                   '[[scale.rules]]\nmetric = "in_flight_per_replica"\nop = "gt"\nvalue = 1.5\nfor = 3\nstep = 3\n'
                   'cooldown = 20\n'
                   '[[scale.rules]]\nmetric = "in_flight_per_replica"\nop = "gt"\nvalue = 4\nfor = 1\nstep = 1\n'
                   'cooldown = 5\n'
                   '[[scale.rules]]\nmetric = "in_flight_per_replica"\nop = "lt"\nvalue = 0.5\nfor = 6\nstep = -2\n'
                   'cooldown = 120\n')
    docs = render(tmp_path, "--config", str(cfg), "--namespace", "ai-serving", "--name", "relay-a",
                  "--image", "registry.example/hyperion-relay:1.2")
    assert "00-namespace.yaml" in docs
    validate_all(docs)
    k = by_kind(docs)
    assert {d["metadata"].get("namespace") for d in docs.values() if d["kind"] != "Namespace"} == {"ai-serving"}
    spec = k["HorizontalPodAutoscaler"]["spec"]
    policy = Policy.from_config(C.load(str(cfg), environ={})["scale"])
    assert (spec["minReplicas"], spec["maxReplicas"]) == (policy.min_replicas, policy.max_replicas) == (2, 7)
    metric = spec["metrics"][0]["pods"]
    assert metric["metric"]["name"] == "hyperion_relay_in_flight"
    assert metric["target"] == {"type": "AverageValue", "averageValue": "1500m"}  # target_ongoing 1.5
    # up: the largest step (+3), at the pace of its rule, max(cooldown 20, 3 checks x 5 s) = 20 s
    assert spec["behavior"]["scaleUp"] == {"stabilizationWindowSeconds": 20, "selectPolicy": "Max",
                                           "policies": [{"type": "Pods", "value": 3, "periodSeconds": 20}]}
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 120, "selectPolicy": "Max",
                                             "policies": [{"type": "Pods", "value": 2, "periodSeconds": 120}]}
    pod = k["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["requests"]["cpu"] == "500m"
    assert pod["containers"][0]["image"] == "registry.example/hyperion-relay:1.2"
    assert k["ConfigMap"]["data"]["relay.toml"] == cfg.read_text()  # the user's file, as it is
    assert k["Service"]["spec"]["selector"] == k["Deployment"]["spec"]["selector"]["matchLabels"]


def test_k8s_without_down_rules_never_scales_down(tmp_path):
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[scale]\n[[scale.rules]]\nmetric = "queued"\nop = "gt"\nvalue = 0\nstep = 1\n')
    p = run_cli("scale", "k8s", "--config", str(cfg))
    assert p.returncode == 0, p.stderr
    assert "rules on queued set only its pace" in p.stderr
    docs = {i: d for i, d in enumerate(yaml.safe_load_all(p.stdout))}
    validate_all(docs)
    assert by_kind(docs)["HorizontalPodAutoscaler"]["spec"]["behavior"]["scaleDown"] == {"selectPolicy": "Disabled"}


def test_k8s_rejects_bad_settings(tmp_path):
    for args, fragment in ((["--name", "Relay_1"], "--name must be lowercase"),
                           (["--name", "a" * 51], "at most 50 characters"),
                           (["--namespace", "-x"], "--namespace must be"),
                           (["--image", "bad image"], "--image must be")):
        assert_user_error(run_cli("scale", "k8s", *args), fragment)
    for text, fragment in (('[server]\nengine = "ray"\n', 'server.engine = "ray"'),
                           ("[server]\nworkers = 2\n", "server.workers = 2")):
        cfg = tmp_path / "relay.toml"
        cfg.write_text(text)
        assert_user_error(run_cli("scale", "k8s", "--config", str(cfg)), fragment)
    assert not (tmp_path / "k8s").exists()


def test_committed_manifests_are_a_fresh_render(tmp_path):
    out = tmp_path / "k8s"
    assert run_cli("scale", "k8s", "--out", str(out)).returncode == 0
    committed = REPO / "deploy" / "k8s"
    fresh = {f.name: f.read_text() for f in out.iterdir()}
    assert fresh == {f.name: f.read_text() for f in committed.glob("*.yaml")}, \
        "deploy/k8s/ is stale: run `hyperion-host scale k8s --out deploy/k8s`"
    # the sample config holds the same policy
    cfg = C.load(str(REPO / "deploy" / "relay.toml"), environ={})
    assert Policy.from_config(cfg["scale"]).to_dict() == Policy().to_dict()
    assert cfg["scale"]["replica_cpus"] == C.defaults()["scale"]["replica_cpus"]


def test_k8s_never_replaces_a_file_it_did_not_write(tmp_path):
    out = tmp_path / "k8s"
    out.mkdir()
    mine = out / "40-hpa.yaml"
    mine.write_text("# my own HPA\n")
    notes = out / "notes.yaml"
    notes.write_text("# notes\n")
    assert_user_error(run_cli("scale", "k8s", "--out", str(out)), "refusing to overwrite 40-hpa.yaml")
    assert mine.read_text() == "# my own HPA\n" and sorted(os.listdir(out)) == ["40-hpa.yaml", "notes.yaml"]
    mine.unlink()
    target = tmp_path / "elsewhere.yaml"
    target.write_text(K.MARKER + "\n")
    (out / "30-service.yaml").symlink_to(target)  # a link is not ours, even to a file that looks it
    assert_user_error(run_cli("scale", "k8s", "--out", str(out)), "30-service.yaml")
    (out / "30-service.yaml").unlink()
    # its own files it replaces, and removes the ones a new render no longer has; the user's stay
    assert run_cli("scale", "k8s", "--out", str(out), "--namespace", "ns1").returncode == 0
    assert (out / "00-namespace.yaml").exists()
    assert run_cli("scale", "k8s", "--out", str(out)).returncode == 0
    assert not (out / "00-namespace.yaml").exists() and notes.read_text() == "# notes\n"
    assert_user_error(run_cli("scale", "k8s", "--out", str(notes)), "is not a folder")


# -- the image and the probes ------------------------------------------------------------------------------------

DOCKER_KEYWORDS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                   "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def dockerfile_instructions(text):
    """[(KEYWORD, arguments)]: comments and blank lines dropped, backslash continuations joined."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        word, _, args = cur.strip().partition(" ")
        out.append((word, args.strip()))
        cur = ""
    assert not cur, "a continuation at the end of the file"
    return out


def test_dockerfile_is_sane():
    ins = dockerfile_instructions((REPO / "deploy" / "Dockerfile").read_text())
    assert all(w in DOCKER_KEYWORDS for w, _ in ins), [w for w, _ in ins if w not in DOCKER_KEYWORDS]
    assert ins[0] == ("FROM", "python:3.12-slim")
    words = dict(ins)
    assert json.loads(words["ENTRYPOINT"]) == ["hyperion-host"]
    assert words["EXPOSE"] == "8321" and words["USER"].split(":")[0] == str(K.UID)
    assert [a for w, a in ins if w == "RUN" and "pip install ." in a]
    for w, a in ins:  # what it copies is in the repository
        if w == "COPY":
            for src in a.split()[:-1]:
                assert (REPO / src).exists(), src


@pytest.fixture
def probe_relay(tmp_path):
    """A real relay with API keys on loopback, serving one model; yields (relay, {role: key})."""
    from test_relay_common import RelayProcess, keys

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(REPO / "models" / "digits" / "digits.hyq", models)
    path, k = keys(tmp_path, "viewer")
    with RelayProcess("--models", str(models), "--keys-file", path) as relay:
        yield relay, k


def run_probe(relay, key_file):
    script = K.READY_PROBE.replace(K.PROBE_KEY, str(key_file)).replace(":%d/" % K.PORT, ":%d/" % relay.port)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)


def test_readiness_probe_on_a_relay_with_keys(probe_relay, tmp_path):
    relay, k = probe_relay
    key_file = tmp_path / "probe-key"
    key_file.write_text(k["viewer"] + "\n")
    p = run_probe(relay, key_file)
    assert p.returncode == 0, p.stderr
    key_file.write_text("not-a-key\n")
    p = run_probe(relay, key_file)
    assert p.returncode != 0 and "401" in p.stderr


def test_readiness_probe_fails_without_models(tmp_path):
    """An empty models volume keeps the pod out of the Service (health says not ready), rather than serving
    nothing."""
    from test_relay_common import RelayProcess, keys

    (tmp_path / "models").mkdir()
    path, k = keys(tmp_path, "viewer")
    (tmp_path / "probe-key").write_text(k["viewer"])
    with RelayProcess("--models", str(tmp_path / "models"), "--keys-file", path) as relay:
        p = run_probe(relay, tmp_path / "probe-key")
    assert p.returncode != 0 and "503" in p.stderr
