"""`thingspace-exporter --demo`: every core metric family populated within 30 seconds."""

from __future__ import annotations

import signal
import subprocess
import time

import requests
from prometheus_client.parser import text_string_to_metric_families
from thingspace_exporter.demo import DEMO_ACCOUNTS

from .conftest import PYTHON, free_port

FAMILIES = (
    "thingspace_devices",
    "thingspace_devices_by_protocol",
    "thingspace_device_software",
    "thingspace_device_last_connection_age_seconds",
    "thingspace_devices_last_connection_unknown",
    "thingspace_up",
    "thingspace_last_success_timestamp_seconds",
    "thingspace_collection_duration_seconds",
    "thingspace_api_requests",
    "thingspace_api_request_failures",
    "thingspace_api_request_duration_seconds",
    "thingspace_pages_fetched",
    "thingspace_collection_errors",
    "thingspace_exporter_build_info",
)


def test_demo_serves_every_family_with_up_1_within_30_seconds():
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter", "--demo", "--listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    try:
        while True:
            assert time.monotonic() - started < 30, "demo not fully populated within 30 s"
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                time.sleep(0.2)
                continue
            families = {f.name: f for f in text_string_to_metric_families(text)}
            populated = {name for name in FAMILIES if name in families and families[name].samples}
            up = {s.labels["account"]: s.value for s in families["thingspace_up"].samples}
            if populated == set(FAMILIES) and all(up.get(a) == 1.0 for a in DEMO_ACCOUNTS):
                break
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    _, err = proc.communicate()
    assert b"/metrics" in err  # told the user where to look
