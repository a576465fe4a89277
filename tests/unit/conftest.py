"""Shared fixtures for the unit tests: settings, device/page builders, metrics, logs, a tiny server."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from api_fixtures import client, rsps  # noqa: F401 (fixtures for every unit test module)
from thingspace_exporter import logs
from thingspace_exporter.config import Settings
from thingspace_exporter.metrics import ExporterMetrics
from ts_builders import BASE, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, TinyServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No THINGSPACE_* variable from the outer environment leaks into a test."""
    import os

    for key in list(os.environ):
        if key.startswith("THINGSPACE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def metrics() -> ExporterMetrics:
    return ExporterMetrics(process=False)


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    logs.configure(level="debug", stream=stream)
    yield stream
    logs.configure(level="info")


@pytest.fixture
def log(log_stream):
    return logs.get_logger("test")


@pytest.fixture
def stop() -> threading.Event:
    return threading.Event()


@pytest.fixture
def settings_factory():
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            username=USERNAME,
            password=PASSWORD,
            accounts="0000123456-00001",
            base_url=BASE,
        )
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def tiny_server():
    server = TinyServer()
    yield server
    server.close()
