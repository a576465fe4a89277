"""The container image, built from the Dockerfile and run as a user would run it."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import requests
from thingspace_exporter import __version__
from thingspace_exporter.config import DEFAULT_PORT
from thingspace_exporter.demo import DEMO_ACCOUNTS
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.cli import parser as simulator_parser

from .conftest import assert_matches, free_port, samples, value
from .containers import ROOT, docker, inspect, logs, wait_for

pytestmark = pytest.mark.docker
ACCOUNTS = {"0000123456-00001": 2600, "0000123456-00002": 700}
# Compiler drivers in a bin directory, or a compiler proper (cc1) anywhere.
COMPILERS = re.compile(r"/s?bin/([\w.-]*-)?(gcc|cc|c\+\+|g\+\+|clang|tcc|ld|as)(-[\d.]+)?$|/cc1(plus)?$")


def metrics(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=3).text


def all_up(port: int, accounts) -> str | None:
    text = metrics(port)
    return text if all(value(text, "thingspace_up", account=a) == 1.0 for a in accounts) else None


def test_demo_serves_metrics(run_container):
    port = free_port()
    name = run_container("--demo", env={"THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}"})
    text = wait_for("demo accounts up", lambda: all_up(port, DEMO_ACCOUNTS), 60, name)
    assert value(text, "thingspace_exporter_build_info", version=__version__) == 1.0
    assert sum(samples(text, ("thingspace_devices",)).values()) > 0


def test_exact_counts_from_the_images_simulator_with_secret_files(run_container, tmp_path):
    """The simulator and the exporter both from the image; credentials as mounted files."""
    sim_port, port = free_port(), free_port()
    accounts = ",".join(f"{a}={n}" for a, n in ACCOUNTS.items())
    sim_args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(sim_port),
        "--accounts",
        accounts,
        "--seed",
        "5",
        "--client-secret",
        "it-secret-5fa1c0de",
        "--password",
        "it-password-9b7e",
    ]
    # The same fleet in this process, for its ground truth (a pure function of seed and account).
    args = simulator_parser().parse_args(sim_args)
    truth = Simulator(args.accounts, seed=args.seed)
    simulator = run_container(*sim_args, options=("--entrypoint", "thingspace-simulator"))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "client_secret").write_text("it-secret-5fa1c0de\n")
    (secrets / "THINGSPACE_PASSWORD").write_text("it-password-9b7e\n")
    for path in (tmp_path, secrets, *secrets.iterdir()):  # readable by the image's user
        path.chmod(0o755 if path.is_dir() else 0o644)
    name = run_container(
        env={
            "THINGSPACE_BASE_URL": f"http://127.0.0.1:{sim_port}",
            "THINGSPACE_ACCOUNTS": ",".join(ACCOUNTS),
            "THINGSPACE_CLIENT_ID": "demo-client",
            "THINGSPACE_USERNAME": "demo-user",
            "THINGSPACE_SECRETS_DIR": "/run/secrets",
            "THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        },
        options=("--volume", f"{secrets}:/run/secrets:ro"),
    )
    text = wait_for("both accounts up", lambda: all_up(port, ACCOUNTS), 60, name)
    assert_matches(text, truth, ACCOUNTS)
    assert "it-secret-5fa1c0de" not in logs(name) + text
    assert inspect("container", simulator)["State"]["Running"]


def test_healthcheck_turns_healthy_and_runs_as_non_root_on_a_read_only_root(run_container, image):
    port = free_port()
    # The image's own check, run every second instead of every 30 s.
    name = run_container(
        "--demo", env={"THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}"}, options=("--health-interval", "1s")
    )
    health = lambda: inspect("container", name)["State"]["Health"]  # noqa: E731
    wait_for("healthy status", lambda: health()["Status"] == "healthy", 60, name)
    assert health()["Log"][-1]["ExitCode"] == 0
    state = inspect("container", name)
    assert state["HostConfig"]["ReadonlyRootfs"] is True
    status = docker("exec", name, "cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids and all(int(u) != 0 for u in uids), status
    assert re.fullmatch(r"\d+(:\d+)?", inspect("image", image)["Config"]["User"])
    # Nothing can be written: the exporter lives without it.
    denied = docker("exec", name, "python", "-c", "open('/opt/thingspace/x', 'w')", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr


def test_docker_stop_ends_it_gracefully_within_2_seconds(run_container):
    port = free_port()
    name = run_container("--demo", env={"THINGSPACE_LISTEN_ADDRESS": f"127.0.0.1:{port}"})
    wait_for("demo accounts up", lambda: all_up(port, DEMO_ACCOUNTS), 60, name)
    # docker stop sends the image's STOPSIGNAL, then SIGKILL (exit 137) after --time seconds.
    docker("stop", "--time", "2", name)
    state = inspect("container", name)["State"]
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']}:\n{logs(name)}"
    assert '"stopped"' in logs(name)


def test_flags_follow_the_image_name_and_bad_config_exits_2(image):
    result = docker(
        "run", "--rm", "--network", "host", image, "--check-config", "--accounts", "0000123456-00001", check=False
    )
    assert result.returncode == 2
    assert "THINGSPACE_CLIENT_ID" in result.stderr or "THINGSPACE_CLIENT_SECRET" in result.stderr
    assert __version__ in docker("run", "--rm", "--network", "host", image, "--version").stdout


def test_image_holds_no_compiler_and_no_test_files(image):
    lister = (
        "import json, os\n"
        "print(json.dumps([os.path.join(d, f) for top in ('/usr', '/opt', '/bin', '/sbin', '/src')\n"
        "  for d, dirs, files in os.walk(top) for f in files + [d + '/' for d in dirs]]))"
    )
    paths = json.loads(docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", lister).stdout)
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in paths}
    assert len(paths) > 1000 and "thingspace-exporter" in names  # the listing saw the image
    assert not [p for p in paths if COMPILERS.search(p)]
    ours = {p.name for p in (ROOT / "tests").rglob("*.py")} - {"__init__.py"}
    assert not [p for p in paths if p.rsplit("/", 1)[-1] in ours]
    venv = [p for p in paths if p.startswith("/opt/thingspace/")]
    assert not [p for p in venv if re.search(r"/(tests?/|conftest\.py)$", p)]  # dependencies' suites
    assert not [p for p in paths if p.startswith("/src")]  # the build context stayed in the builder
    assert not [p for p in venv if re.search(r"/bin/pip3?$", p)]  # runtime dependencies only


def test_image_metadata_matches_the_project(image):
    config = inspect("image", image)["Config"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert config["ExposedPorts"] == {f"{DEFAULT_PORT}/tcp": {}}
    assert config["Entrypoint"][-1].rsplit("/", 1)[-1] in project["scripts"]
    assert config["Entrypoint"][-1].endswith("/thingspace-exporter")
    assert config["StopSignal"] == "SIGTERM"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert "thingspace_exporter.web.healthcheck" in " ".join(config["Healthcheck"]["Test"])
