"""deploy/compose/: the file is valid for docker-compose, and its simulator and exporter services,
run by docker-compose from the image, publish exact counts."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import yaml
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.cli import parser as simulator_parser

from .conftest import assert_matches, free_port, value
from .containers import COMPOSE, ROOT, logs, unavailable, wait_for
from .test_image import all_up

COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"


def compose(*args: str, project: str, env: dict, files=(COMPOSE_FILE,), check=True, timeout=180):
    command = [
        COMPOSE,
        "--project-name",
        project,
        "--project-directory",
        str(COMPOSE_DIR),
        *(a for f in files for a in ("--file", str(f))),
        *args,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}, cwd=COMPOSE_DIR
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def require_compose() -> None:
    if COMPOSE is None:
        unavailable("no docker-compose command (Debian package docker-compose)")


def test_docker_compose_accepts_the_file():
    require_compose()
    result = compose("config", project="thingspace", env={"EXPORTER_IMAGE": "thingspace-exporter:x"})
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"simulator", "exporter", "prometheus", "alertmanager", "grafana"}
    assert services["exporter"]["image"] == services["simulator"]["image"] == "thingspace-exporter:x"
    mounts = [
        v.split(":")[0] if isinstance(v, str) else v["source"] for s in services.values() for v in s.get("volumes", [])
    ]
    # Every file or folder the stack mounts from the repository is there (Docker would make an
    # empty directory in place of a missing one).
    for source in mounts:
        if source.startswith("/"):
            assert os.path.exists(source), f"compose mounts {source}, which does not exist"


@pytest.mark.docker
def test_simulator_and_exporter_services_publish_exact_counts(image, tmp_path):
    require_compose()
    stack = yaml.safe_load(COMPOSE_FILE.read_text())
    simulator, exporter = stack["services"]["simulator"], stack["services"]["exporter"]
    sim_port, port = free_port(), free_port()
    # The two services as written, but on the host's network so that the traffic stays on
    # loopback: no published ports (host networking refuses them), loopback addresses.
    sim_command = [*simulator["command"], "--host", "127.0.0.1", "--port", str(sim_port)]
    simulator.update(network_mode="host", command=sim_command)
    exporter.update(network_mode="host")
    exporter.pop("ports")
    exporter["environment"].update(
        THINGSPACE_BASE_URL=f"http://127.0.0.1:{sim_port}", THINGSPACE_LISTEN_ADDRESS=f"127.0.0.1:{port}"
    )
    stack["services"] = {"simulator": simulator, "exporter": exporter}
    host_network = tmp_path / "docker-compose.yml"
    host_network.write_text(yaml.safe_dump(stack))
    args = simulator_parser().parse_args(sim_command)
    truth = Simulator(args.accounts, seed=args.seed)  # the same fleet, for its ground truth
    project = f"thingspace-test-{uuid.uuid4().hex[:8]}"
    env = {"EXPORTER_IMAGE": image}
    files = (host_network,)
    try:
        compose("up", "--detach", "--no-build", "simulator", "exporter", project=project, env=env, files=files)
        exporter = compose("ps", "--quiet", "exporter", project=project, env=env, files=files).stdout.strip()
        text = wait_for("both accounts up", lambda: all_up(port, args.accounts), 60, exporter)
        # The first listing: the simulator's fleet has not churned yet.
        assert value(text, "thingspace_collection_cycles_total") == 1.0
        assert_matches(text, truth, args.accounts)
        assert "demo-secret" not in logs(exporter) + text
    finally:
        compose("down", "--volumes", "--timeout", "5", project=project, env=env, files=files, check=False)
