"""One source of truth: the deployment files (Dockerfile, compose, Kubernetes) use only ports,
paths, commands and THINGSPACE_* settings the exporter knows, so a renamed setting breaks a test,
not a deployment."""

from __future__ import annotations

import os
import re
import tomllib
from importlib.util import find_spec
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from thingspace_exporter import __version__
from thingspace_exporter.cli import parser as exporter_parser
from thingspace_exporter.config import DEFAULT_PORT, ENV_PREFIX, SECRET_FIELDS, Settings, env_name, load
from thingspace_exporter.simulator.cli import parser as simulator_parser
from thingspace_exporter.web import endpoints as server
from thingspace_exporter.web import healthcheck

from .containers import ROOT

DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
COMPOSE = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
KUBERNETES = DEPLOY / "kubernetes"
# Every variable the exporter reads, and the names a secret file may have in THINGSPACE_SECRETS_DIR.
KNOWN = (
    {env_name(f) for f in Settings.model_fields}
    | {env_name(f) + "_FILE" for f in SECRET_FIELDS}
    | {ENV_PREFIX + "SECRETS_DIR"}
)
SECRET_FILE_NAMES = set(SECRET_FIELDS) | {env_name(f) for f in SECRET_FIELDS}
YAML_FILES = sorted(
    p for top in (DEPLOY, ROOT / "grafana") if top.is_dir() for p in top.rglob("*") if p.suffix in (".yml", ".yaml")
)


def kube_docs() -> list[dict]:
    return [d for p in KUBERNETES.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d and "kind" in d]


def test_every_yaml_file_parses():
    assert len(YAML_FILES) >= 12
    for path in YAML_FILES:
        assert [d for d in yaml.safe_load_all(path.read_text())], f"{path} is empty"


@pytest.mark.parametrize("path", [ROOT / "Dockerfile", *YAML_FILES], ids=lambda p: p.name)
def test_every_thingspace_variable_is_a_setting(path):
    used = set(re.findall(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b", path.read_text()))
    assert used <= KNOWN, f"{path.relative_to(ROOT)} uses unknown settings {sorted(used - KNOWN)}"


def test_the_check_has_teeth():
    assert "THINGSPACE_LISTEN_ADDRESS" in KNOWN and "THINGSPACE_PASSWORD_FILE" in KNOWN
    assert "THINGSPACE_LISTEN_ADDR" not in KNOWN and "THINGSPACE_ACCOUNTS_FILE" not in KNOWN


def test_dockerfile_port_entrypoint_healthcheck_and_labels():
    assert re.findall(r"^EXPOSE\s+(\d+)\s*$", DOCKERFILE, re.M) == [str(DEFAULT_PORT)]
    (entrypoint,) = re.findall(r'^ENTRYPOINT \["([^"]+)"\]\s*$', DOCKERFILE, re.M)
    assert entrypoint.rsplit("/", 1)[-1] == "thingspace-exporter" in PROJECT["scripts"]
    (check,) = re.findall(r'^\s*CMD \[.*"-m", "([\w.]+)"\]\s*$', DOCKERFILE, re.M)
    assert check == healthcheck.__name__ and find_spec(check)
    assert re.search(rf"^ARG VERSION={re.escape(__version__)}$", DOCKERFILE, re.M)
    assert f'org.opencontainers.image.licenses="{PROJECT["license"]}"' in DOCKERFILE


def test_compose_services_use_the_images_commands_and_port():
    services = COMPOSE["services"]
    simulator, exporter = services["simulator"], services["exporter"]
    assert simulator["entrypoint"] == ["thingspace-simulator"] and "thingspace-simulator" in PROJECT["scripts"]
    simulator_parser().parse_args(simulator["command"])  # exits 2 on an unknown flag
    assert "entrypoint" not in exporter and "command" not in exporter  # the image's exporter
    assert exporter["ports"] == [f"{DEFAULT_PORT}:{DEFAULT_PORT}"]
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    assert f"exporter:{DEFAULT_PORT}" in targets
    assert (
        simulator["command"][simulator["command"].index("--port") + 1] in exporter["environment"]["THINGSPACE_BASE_URL"]
    )


def test_compose_exporter_settings_load(monkeypatch, tmp_path):
    """The exporter service's environment and secret files make valid settings."""
    exporter = COMPOSE["services"]["exporter"]
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    secrets = {name: COMPOSE["secrets"][name]["file"] for name in exporter["secrets"]}
    assert set(secrets) <= SECRET_FILE_NAMES
    for name, value in exporter["environment"].items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv(ENV_PREFIX + "SECRETS_DIR", str(DEPLOY / "compose" / "secrets"))
    # the state directory is a volume mounted there; here a folder stands in for it
    state = exporter["environment"][ENV_PREFIX + "STATE_DIR"]
    assert any(v.endswith(":" + state) for v in exporter["volumes"])
    monkeypatch.setenv(ENV_PREFIX + "STATE_DIR", str(tmp_path))
    settings = load()
    assert settings.client_secret.get_secret_value() == "demo-secret"  # the simulator's default
    assert settings.password.get_secret_value() == "demo-password"
    assert settings.listen[1] == DEFAULT_PORT


def test_kubernetes_settings_secret_keys_port_and_image():
    docs = kube_docs()
    (statefulset,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert "command" not in container  # the image's ENTRYPOINT
    exporter_parser().parse_args(container.get("args", []))
    assert [p["containerPort"] for p in container["ports"]] == [DEFAULT_PORT]
    for secret in (d for d in docs if d["kind"] == "Secret"):
        assert set(secret["stringData"]) <= SECRET_FILE_NAMES
    for path in KUBERNETES.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        for image in kustomization.get("images", []):
            assert image["newTag"] == __version__, path
        for generator in kustomization.get("configMapGenerator", []):
            names = {lit.split("=", 1)[0] for lit in generator.get("literals", [])}
            assert names <= KNOWN, f"{path}: {sorted(names - KNOWN)}"


def test_health_paths_are_served(sim_factory, exporter_factory):
    """The probes' and the healthcheck's paths are routes of a real exporter (404 otherwise)."""
    exporter = exporter_factory(sim_factory({"0000123456-00001": 10}))
    httpd = server.bind("127.0.0.1", 0, server.make_app(exporter.view))
    thread = server.serve(httpd)
    docs = kube_docs()
    (statefulset,) = [d for d in docs if d["kind"] == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    paths = {container[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe")}
    paths.add(urlsplit(healthcheck.url(f":{DEFAULT_PORT}")).path)
    try:
        base = f"http://127.0.0.1:{httpd.server_port}"
        assert requests.get(base + "/no-such-path", timeout=5).status_code == 404
        assert paths == {"/-/healthy", "/-/ready"}
        for path in paths:
            assert requests.get(base + path, timeout=5).status_code in (200, 503), path
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
