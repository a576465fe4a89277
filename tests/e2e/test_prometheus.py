"""A real Prometheus scrapes the exporter (gzip, content negotiation, histogram parsing)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from tests.integration.conftest import PYTHON, assert_matches, exporter_env, free_port, make_sim
from tests.needs import require

pytestmark = pytest.mark.e2e
ACCOUNTS = {"0000123456-00001": 2600, "0000123456-00002": 90}


def query(base: str, promql: str) -> list:
    resp = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def test_prometheus_scrapes_and_queries(tmp_path):
    prometheus = require("prometheus", "prometheus")
    sim = make_sim(ACCOUNTS)
    sim.start("127.0.0.1", 0)
    exporter_port, prom_port = free_port(), free_port()
    exporter = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=exporter_env(sim, ACCOUNTS, listen_address=f"127.0.0.1:{exporter_port}", interval_seconds=2),
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: thingspace
    static_configs: [{{targets: ["127.0.0.1:{exporter_port}"]}}]
""")
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        deadline = time.monotonic() + 120  # generous: a busy machine is slow, not broken
        while True:
            assert time.monotonic() < deadline, "Prometheus never saw both accounts up"
            try:
                up = query(base, "thingspace_up == 1")
                target = query(base, 'up{job="thingspace"} == 1')
                if len(up) == len(ACCOUNTS) and target:
                    break
            except requests.RequestException:  # not listening yet, or not ready (503)
                pass
            time.sleep(0.5)
        text = requests.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=5).text
        assert_matches(text, sim, ACCOUNTS)
        total = query(base, "sum(thingspace_devices)")
        assert float(total[0]["value"][1]) == sum(sim.truth(a).count for a in ACCOUNTS)
        # the gauge histogram is usable as buckets
        buckets = query(base, "sum by (le) (thingspace_device_last_connection_age_seconds_bucket)")
        assert {b["metric"]["le"] for b in buckets} >= {"3600.0", "+Inf"}
        scrape = query(base, 'scrape_samples_scraped{job="thingspace"}')
        assert float(scrape[0]["value"][1]) > 100
    finally:
        for proc in (prom, exporter):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sim.stop()
