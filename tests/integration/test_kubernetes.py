"""deploy/kubernetes/: the example overlay renders with `kubectl kustomize`, every built-in object
is valid against the Kubernetes schemas, and the Prometheus Operator objects fit the rest."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from .containers import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAY = KUBERNETES / "overlays" / "example"
RULES = ROOT / "deploy" / "prometheus" / "thingspace.rules.yml"
SCHEMA_VERSION = "1.30.0"  # the oldest Kubernetes release still maintained when this was written
KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    if KUBECTL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no kubectl", pytrace=False)
        pytest.skip("needs kubectl (for kustomize)")
    out = subprocess.run(
        [KUBECTL, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def test_every_builtin_object_is_valid_against_the_kubernetes_schemas(rendered):
    builtin = [o for o in rendered if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in builtin} >= {
        "StatefulSet",
        "Service",
        "Secret",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
    }
    for obj in builtin:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
    # The validator has teeth: a misspelt field is refused.
    broken = copy.deepcopy(one(rendered, "StatefulSet"))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, SCHEMA_VERSION, strict=True)


def test_pods_run_restricted_with_probes_and_resources(rendered):
    pod = one(rendered, "StatefulSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}


def test_the_overlay_runs_one_replica_per_shard_with_its_own_state(rendered):
    statefulset = one(rendered, "StatefulSet")
    settings = one(rendered, "ConfigMap")["data"]
    assert statefulset["spec"]["replicas"] == int(settings["THINGSPACE_SHARD_COUNT"]) == 3
    assert "THINGSPACE_SHARD_INDEX" not in settings  # each pod takes its StatefulSet ordinal
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == settings["THINGSPACE_STATE_DIR"]
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["state"]


def test_credentials_are_mounted_as_files_in_the_secrets_dir(rendered):
    statefulset = one(rendered, "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (config_ref,) = [e["configMapRef"]["name"] for e in container["envFrom"]]
    config = one(rendered, "ConfigMap", config_ref)["data"]
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    secret_name = secret_volumes[mounts[config["THINGSPACE_SECRETS_DIR"]]]
    secret = one(rendered, "Secret", secret_name)
    assert set(secret["stringData"]) == {"client_id", "client_secret", "username", "password"}
    assert config["THINGSPACE_ACCOUNTS"]
    assert (
        statefulset["spec"]["serviceName"]
        == one(rendered, "Service", statefulset["spec"]["serviceName"])["metadata"]["name"]
    )


def test_servicemonitor_scrapes_the_metrics_port_of_the_headless_service(rendered):
    monitor = one(rendered, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [
        s for s in rendered if s["kind"] == "Service" and selector.items() <= s["metadata"].get("labels", {}).items()
    ]
    assert len(services) == 1 and services[0]["spec"]["clusterIP"] == "None"
    ports = {p["name"]: p for p in services[0]["spec"]["ports"]}
    pod = one(rendered, "StatefulSet")["spec"]["template"]
    assert services[0]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container_ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports and ports[endpoint["port"]]["targetPort"] in container_ports
        assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["namespace"] == services[0]["metadata"]["namespace"]


def test_prometheusrule_is_the_rules_file(rendered):
    """One source of truth: the PrometheusRule carries deploy/prometheus/thingspace.rules.yml as
    it is; `make kubernetes-rules` regenerates it."""
    sys.path.insert(0, str(KUBERNETES))
    try:
        import render_prometheusrule
    finally:
        sys.path.remove(str(KUBERNETES))
    rule = one(rendered, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    committed = (KUBERNETES / "base" / "prometheusrule.yaml").read_text()
    assert committed == render_prometheusrule.render(RULES.read_text()), "run `make kubernetes-rules`"
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and isinstance(r["expr"], str)


def test_networkpolicy_lets_scrapes_in_and_thingspace_out(rendered):
    policy = one(rendered, "NetworkPolicy")["spec"]
    pod_labels = one(rendered, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert [p["port"] for rule in policy["ingress"] for p in rule["ports"]] == ["metrics"]
    assert 443 in [p["port"] for rule in policy["egress"] for p in rule["ports"]]


def test_the_pod_disruption_budget_selects_the_pods(rendered):
    budget = one(rendered, "PodDisruptionBudget")["spec"]
    pod_labels = one(rendered, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["maxUnavailable"] == 1  # never blocks a drain


def _matchers(items: list[dict]) -> list[str]:
    return [f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"' for m in items]


def _as_alertmanager(spec: dict) -> dict:
    """An AlertmanagerConfig's spec in alertmanager.yml's words (the fields the project uses)."""
    words = {"groupBy": "group_by", "groupWait": "group_wait", "groupInterval": "group_interval"}
    words |= {"repeatInterval": "repeat_interval", "receiver": "receiver"}

    def route(r: dict) -> dict:
        out = {words[k]: v for k, v in r.items() if k in words}
        if "matchers" in r:
            out["matchers"] = _matchers(r["matchers"])
        if "routes" in r:
            out["routes"] = [route(child) for child in r["routes"]]
        return out

    receivers = [
        {"name": r["name"]}
        | (
            {"webhook_configs": [{"url": w["url"], "send_resolved": w["sendResolved"]} for w in r["webhookConfigs"]]}
            if "webhookConfigs" in r
            else {}
        )
        for r in spec["receivers"]
    ]
    inhibit = [
        {
            "source_matchers": _matchers(rule["sourceMatch"]),
            "target_matchers": _matchers(rule["targetMatch"]),
            "equal": rule["equal"],
        }
        for rule in spec["inhibitRules"]
    ]
    return {"route": route(spec["route"]), "receivers": receivers, "inhibit_rules": inhibit}


def test_alertmanagerconfig_is_the_compose_configuration(rendered, tmp_path):
    """The overlay's AlertmanagerConfig routes, receives and inhibits as alertmanager.yml does, and
    amtool accepts it in Alertmanager's own words."""
    from tests.needs import require

    config = one(rendered, "AlertmanagerConfig")
    assert config["metadata"]["namespace"] == one(rendered, "StatefulSet")["metadata"]["namespace"]
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "alertmanager.yml").read_text())
    unquoted = _as_alertmanager(config["spec"])
    normal = yaml.safe_load(yaml.safe_dump(compose))

    def unquote(rules: list[str]) -> list[str]:
        return [m.replace('"', "") for m in rules]

    for doc in (unquoted, normal):
        for rule in doc["inhibit_rules"]:
            rule["source_matchers"], rule["target_matchers"] = map(
                unquote, (rule["source_matchers"], rule["target_matchers"])
            )
        for r in doc["route"]["routes"]:
            r["matchers"] = unquote(r["matchers"])
    assert unquoted == normal
    amtool = require("amtool", "prometheus-alertmanager")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(_as_alertmanager(config["spec"])))
    done = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
