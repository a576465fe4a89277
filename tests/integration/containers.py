"""Docker for the image and compose tests: find the engine, build the image once per session, run
containers under names the test chose and remove them by those names.

Every container runs with --network host, so all traffic stays on loopback. Without Docker, its
base image or the wheelhouse these tests are skipped with the reason, except under CI=true, where
that is a failure: `.ci/docker-up` makes all three."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("THINGSPACE_TEST_BASE_IMAGE", "thingspace-base:bookworm")
IMAGE = os.environ.get("THINGSPACE_TEST_IMAGE", "thingspace-exporter:test")
DOCKER = shutil.which("docker")
COMPOSE = shutil.which("docker-compose")


def unavailable(reason: str) -> None:
    """Skip, or fail in CI, where the tests must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: run .ci/docker-up first)", pytrace=False)
    pytest.skip(f"{reason}; .ci/docker-up installs and starts what is needed")


def docker(*args: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([DOCKER or "docker", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])} ... exited {result.returncode}: {result.stderr.strip()[-2000:]}"
        )
    return result


def require_docker() -> None:
    if DOCKER is None:
        unavailable("no docker command")
    if subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode != 0:
        unavailable("the Docker engine does not answer")
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        unavailable(f"no base image {BASE_IMAGE}")
    if not (ROOT / "wheelhouse").is_dir():
        unavailable("no wheelhouse/ for an offline build")


@pytest.fixture(scope="session")
def image() -> str:
    """The project's Dockerfile built as CI builds it: offline, from the wheelhouse."""
    require_docker()
    docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"PYTHON_IMAGE={BASE_IMAGE}",
        "--build-arg",
        "PIP_NO_INDEX=1",
        "--tag",
        IMAGE,
        str(ROOT),
        timeout=900,
    )
    return IMAGE


def inspect(kind: str, name: str) -> dict:
    return json.loads(docker(kind, "inspect", name).stdout)[0]


@pytest.fixture
def run_container(image) -> Iterator[Callable[..., str]]:
    """Start a detached container (hardened as the README shows) and return its name."""
    names: list[str] = []

    def run(*args: str, env: dict[str, str] | None = None, options: tuple[str, ...] = ()) -> str:
        name = f"thingspace-test-{uuid.uuid4().hex[:10]}"
        names.append(name)
        env_args = [a for k, v in (env or {}).items() for a in ("--env", f"{k}={v}")]
        docker(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            *env_args,
            *options,
            image,
            *args,
        )
        return name

    yield run
    for name in names:
        docker("rm", "--force", "--volumes", name, check=False)


def logs(name: str) -> str:
    result = docker("logs", name, check=False)
    return (result.stdout + result.stderr)[-3000:]


def wait_for(what: str, probe: Callable[[], object], timeout: float, container: str | None = None):
    """Poll until probe() returns something true; fail with the container's logs otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
        except requests.RequestException:
            found = None
        if found:
            return found
        if container is not None and not inspect("container", container)["State"]["Running"]:
            raise AssertionError(f"{container} exited while waiting for {what}:\n{logs(container)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s" + (f":\n{logs(container)}" if container else ""))
        time.sleep(0.5)
