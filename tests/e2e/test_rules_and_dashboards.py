"""The rules and dashboards against a real Prometheus scraping the real exporter on the demo fleet:
every recording rule and every dashboard query returns data, the rules evaluate without errors,
no alert stirs on the healthy fleet, and an account that fails sets off its alert."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from thingspace_exporter.demo import DEMO_ACCOUNTS, DEMO_CREDENTIALS, start_simulator

from tests.integration.conftest import PYTHON, free_port
from tests.integration.containers import wait_for
from tests.needs import require

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "thingspace.rules.yml"
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
# what Grafana would substitute: every account, make and model; the default stale threshold
VARIABLES = {
    "account": ".*",
    "make": ".*",
    "model": ".*",
    "stale_after": "86400.0",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}
DATA_DEADLINE = 90.0
INTERVAL = 10


class Prom:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params) -> dict:
        resp = requests.get(f"{self.base}/api/v1/{path}", params=params, timeout=10)
        body = resp.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, promql: str) -> list:
        return self.get("query", query=promql)["result"]

    def alerts(self) -> list[dict]:
        return self.get("alerts")["alerts"]


def without_data(prom: Prom, queries: list, expr=lambda q: q) -> list:
    """The queries that still return no data at the deadline (polled, since rates need samples)."""
    end = time.monotonic() + DATA_DEADLINE
    while (missing := [q for q in queries if not prom.query(expr(q))]) and time.monotonic() < end:
        time.sleep(1)
    return missing


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The demo's simulator (its fleet, churn and light throttling), the exporter and Prometheus."""
    prometheus = require("prometheus", "prometheus")
    tmp = tmp_path_factory.mktemp("e2e")
    sim = start_simulator()
    sim.faults.schedule("rate_limit", count=1, after=3)  # one 429 for sure, so throttling panels have data
    exporter_port, prom_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THINGSPACE_")}
    env.update({f"THINGSPACE_{k.upper()}": v for k, v in DEMO_CREDENTIALS.items()})
    env.update(
        THINGSPACE_ACCOUNTS=",".join(DEMO_ACCOUNTS),
        THINGSPACE_BASE_URL=sim.base_url,
        THINGSPACE_LISTEN_ADDRESS=f"127.0.0.1:{exporter_port}",
        # ThingSpaceDataStale pends at 3 intervals: 10 s leaves a loaded machine's slow cycle room
        THINGSPACE_INTERVAL_SECONDS=str(INTERVAL),
        THINGSPACE_MAX_RETRIES="2",
    )
    procs = []
    try:
        with open(tmp / "exporter.log", "wb") as log:
            procs.append(
                subprocess.Popen([PYTHON, "-m", "thingspace_exporter"], env=env, stdout=subprocess.DEVNULL, stderr=log)
            )
        config = tmp / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "thingspace", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
                    ],
                }
            )
        )
        with open(tmp / "prometheus.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        prometheus,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp / 'data'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        prom = Prom(f"http://127.0.0.1:{prom_port}")
        wait_for(
            "both accounts up in Prometheus",
            lambda: len(prom.query("thingspace_up == 1")) == len(DEMO_ACCOUNTS),
            DATA_DEADLINE,
        )
        yield sim, prom, f"http://127.0.0.1:{exporter_port}"
    finally:
        for proc in reversed(procs):
            stop(proc)
        sim.stop()


def rules_file() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_recording_rule_returns_data(stack):
    _, prom, _ = stack
    records = [r["record"] for r in rules_file() if "record" in r]
    assert not (missing := without_data(prom, records)), f"recording rules without data: {missing}"


def test_every_dashboard_query_returns_data(stack):
    from tests.grafana_queries import panel_queries

    _, prom, _ = stack
    assert {p.name for p in DASHBOARDS} >= {"thingspace-fleet.json", "thingspace-exporter.json"}
    queries = [
        (board.name, title, expr)
        for board in DASHBOARDS
        for title, expr in panel_queries(json.loads(board.read_text()), VARIABLES)
    ]
    assert len(queries) >= 20
    missing = without_data(prom, queries, lambda q: q[2])
    assert not missing, f"dashboard queries without data: {missing}"


def test_rules_load_and_evaluate_without_errors(stack):
    _, prom, _ = stack
    groups = prom.get("rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules_file())
    assert {g["name"] for g in groups} == {"thingspace.recording", "thingspace.alerts"}
    bad = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
    assert not bad, bad


def test_no_alert_stirs_on_the_healthy_demo(stack):
    _, prom, _ = stack
    # give the alerts a few evaluations over complete data
    wait_for("a few rule evaluations", lambda: prom.query("account:thingspace_devices_stale:ratio"), DATA_DEADLINE)
    time.sleep(5)
    assert [a for a in prom.alerts() if a["state"] == "firing"] == []
    # a slow cycle on a loaded machine may set one pending for a moment: it must clear by itself
    wait_for("every pending alert to clear", lambda: prom.alerts() == [], 3 * INTERVAL + 60)


def test_promtool_check_metrics_reports_nothing(stack):
    promtool = require("promtool", "prometheus")
    _, _, exporter = stack
    text = requests.get(f"{exporter}/metrics", timeout=10).content
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert done.returncode == 0 and done.stdout == b"" and done.stderr == b"", done.stdout + done.stderr


def test_a_failing_account_sets_off_its_alert(stack):
    """Runs last: it breaks the fleet for the tests after it."""
    sim, prom, _ = stack
    broken = next(iter(DEMO_ACCOUNTS))
    sim.deactivate(broken)

    def pending():
        return [a for a in prom.alerts() if a["labels"]["alertname"] == "ThingSpaceAccountFailing"]

    alerts = wait_for("ThingSpaceAccountFailing to go pending", pending, 120)
    assert [(a["labels"]["account"], a["state"], a["labels"]["severity"]) for a in alerts] == [
        (broken, "pending", "warning")
    ]
    assert prom.query(f'thingspace_collection_errors_total{{account="{broken}", reason="invalid_parameter"}} > 0')
