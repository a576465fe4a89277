"""Alerts delivered end to end: simulator incidents -> exporter -> Prometheus (the project's rules,
`for:` shortened in a temporary copy) -> a real Alertmanager (the shipped inhibitions) -> a webhook
receiver in this test. Each incident kind must notify, then notify resolved once it ends."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.sim import INCIDENTS_PATH

from tests.e2e.test_rules_and_dashboards import RULES, Prom, stop
from tests.integration.conftest import CREDS, PYTHON, exporter_env, free_port
from tests.integration.containers import wait_for
from tests.needs import require

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_AM = ROOT / "deploy" / "compose" / "alertmanager.yml"
RUNBOOK = "https://github.com/thingspace-exporter/thingspace-exporter/blob/main/README.md#"
SILENT, LICENCES, CAMPAIGN, INACTIVE = (f"0000123456-0000{i}" for i in range(1, 5))
ACCOUNTS = {SILENT: 2500, LICENCES: 800, CAMPAIGN: 2500, INACTIVE: 600}
INTERVAL = 4  # ThingSpaceDataStale at 3 intervals: 12 s
INCIDENT = 40.0  # seconds each incident lasts
NOTIFIED = 120.0  # the bound on any one notification, generous for a loaded machine


def test_amtool_accepts_the_shipped_configuration():
    amtool = require("amtool", "prometheus-alertmanager")
    done = subprocess.run([amtool, "check-config", str(SHIPPED_AM)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 inhibit rules" in done.stdout


def fast_rules(path: Path) -> Path:
    """The shipped rules with every `for:` at 2 s and 5-minute rates over 20 s: the same alerts, sooner."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
            rule["expr"] = rule["expr"].replace("[5m]", "[20s]")
    path.write_text(yaml.safe_dump(doc))
    return path


class Webhook:
    """Alertmanager's webhook receiver: every alert of every notification, in arrival order."""

    def __init__(self) -> None:
        self.alerts: list[dict] = []
        lock = threading.Lock()
        received = self.alerts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    received.extend(body["alerts"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def find(self, status: str, **labels: str) -> list[dict]:
        return [
            a
            for a in list(self.alerts)
            if a["status"] == status and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def wait(self, status: str, **labels: str) -> dict:
        return wait_for(f"a {status} notification of {labels}", lambda: self.find(status, **labels), NOTIFIED)[0]


def alertmanager_config(path: Path, webhook: str) -> Path:
    """The shipped inhibitions and grouping, every notification to the webhook, at once."""
    doc = yaml.safe_load(SHIPPED_AM.read_text())
    doc["route"] = {
        "receiver": "test",
        "group_by": ["..."],  # one notification per alert
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    doc["receivers"] = [{"name": "test", "webhook_configs": [{"url": webhook, "send_resolved": True}]}]
    path.write_text(yaml.safe_dump(doc))
    return path


def start(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def assert_announced(alert: dict, name: str, *names_in_summary: str) -> None:
    assert alert["labels"]["alertname"] == name
    for text in names_in_summary:
        assert text in alert["annotations"]["summary"], (text, alert["annotations"])
    assert alert["annotations"]["runbook_url"] == RUNBOOK + name.lower()


def test_incidents_notify_and_resolve_through_alertmanager(tmp_path):
    prometheus = require("prometheus", "prometheus")
    alertmanager = require("prometheus-alertmanager", "prometheus-alertmanager")
    webhook = Webhook()
    sim = Simulator(ACCOUNTS, seed=1, campaign_devices=100, **CREDS)
    sim.start("127.0.0.1", 0)
    exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
    instance = f"127.0.0.1:{exporter_port}"
    env = exporter_env(sim, ACCOUNTS, listen_address=instance, interval_seconds=INTERVAL, max_retries=1)
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(fast_rules(tmp_path / "rules.yml"))],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [{"job_name": "thingspace", "static_configs": [{"targets": [instance]}]}],
            }
        )
    )
    exporter_cmd = [PYTHON, "-m", "thingspace_exporter"]
    procs = [
        start(
            [
                alertmanager,
                f"--config.file={alertmanager_config(tmp_path / 'alertmanager.yml', webhook.url)}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        ),
        start(exporter_cmd, tmp_path / "exporter.log", env),
        start(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--rules.alert.resend-delay=1s",
            ],
            tmp_path / "prometheus.log",
        ),
    ]
    prom, am = Prom(f"http://127.0.0.1:{prom_port}"), f"http://127.0.0.1:{am_port}/api/v2"

    def incident(kind: str, target: str | None = None) -> None:
        reply = requests.post(
            sim.base_url + INCIDENTS_PATH, json={"kind": kind, "target": target, "duration": INCIDENT}, timeout=5
        )
        assert reply.status_code == 201, reply.text

    try:
        wait_for("every account up", lambda: len(prom.query("thingspace_up == 1")) == len(ACCOUNTS), NOTIFIED)
        wait_for("campaign series", lambda: prom.query("account_campaign:thingspace_campaign_devices:sum"), NOTIFIED)
        running = set(sim.running_campaigns(CAMPAIGN))

        # 1. four incidents at once, on four accounts
        incident("silent", f"{SILENT}/BG96")
        incident("licences", LICENCES)
        incident("campaign_failing", CAMPAIGN)
        incident("inactive", INACTIVE)
        expected = {
            "ThingSpaceModelDevicesStale": ({"account": SILENT, "make": "QUECTEL", "model": "BG96"}, (SILENT, "BG96")),
            "ThingSpaceLicencesNearlyUsed": ({"account": LICENCES}, (LICENCES,)),
            "ThingSpaceCampaignFailing": ({"account": CAMPAIGN}, (CAMPAIGN,)),
            "ThingSpaceAccountFailing": ({"account": INACTIVE, "instance": instance}, (INACTIVE, instance)),
        }
        for name, (labels, in_summary) in expected.items():
            alert = webhook.wait("firing", alertname=name, **labels)
            assert_announced(alert, name, *in_summary)
        campaigns = {a["labels"]["campaign_id"] for a in webhook.find("firing", alertname="ThingSpaceCampaignFailing")}
        assert campaigns <= running and campaigns, (campaigns, running)
        for a in webhook.find("firing", alertname="ThingSpaceCampaignFailing"):
            assert a["labels"]["campaign_name"] in a["annotations"]["summary"]

        # the inactive account's data goes stale in Prometheus, and Alertmanager holds that back
        def stale_inhibited():
            found = requests.get(f"{am}/alerts", params={"filter": f'account="{INACTIVE}"'}, timeout=5).json()
            return [
                a for a in found if a["labels"]["alertname"] == "ThingSpaceDataStale" and a["status"]["inhibitedBy"]
            ]

        wait_for("ThingSpaceDataStale of the inactive account inhibited", stale_inhibited, NOTIFIED)
        for name, (labels, _) in expected.items():
            webhook.wait("resolved", alertname=name, **labels)
        assert not webhook.find("firing", alertname="ThingSpaceDataStale", account=INACTIVE)
        assert not webhook.find("firing", alertname="ThingSpaceSnapshotDropped", account=INACTIVE)

        # 2. the API throttles hard
        incident("throttled")
        throttled = webhook.wait("firing", alertname="ThingSpaceApiThrottled")
        assert_announced(throttled, "ThingSpaceApiThrottled", throttled["labels"]["endpoint"])
        webhook.wait("resolved", alertname="ThingSpaceApiThrottled", endpoint=throttled["labels"]["endpoint"])

        # 3. the exporter goes down: that alone is told, not its accounts' alerts
        stop(procs[1])
        down = webhook.wait("firing", alertname="ThingSpaceExporterDown", instance=instance)
        assert_announced(down, "ThingSpaceExporterDown", instance)
        account_alert = {
            "alertname": "ThingSpaceAccountFailing",
            "account": SILENT,
            "instance": instance,
            "job": "thingspace",
            "severity": "warning",
            "probe": "inhibition",  # told apart from a real one the throttling may have set off
        }
        reply = requests.post(f"{am}/alerts", json=[{"labels": account_alert}], timeout=5)
        assert reply.status_code == 200, reply.text

        def inhibited_by_down():
            found = requests.get(f"{am}/alerts", params={"filter": f'account="{SILENT}"'}, timeout=5).json()
            return [a for a in found if a["status"]["inhibitedBy"] and a["labels"] == account_alert]

        wait_for("the account's alert inhibited by ThingSpaceExporterDown", inhibited_by_down, NOTIFIED)
        time.sleep(3)  # several group intervals: an uninhibited alert would have been sent by now
        assert not webhook.find("firing", **account_alert)
        procs[1] = start(exporter_cmd, tmp_path / "exporter.log", env)
        webhook.wait("resolved", alertname="ThingSpaceExporterDown", instance=instance)
    finally:
        for proc in reversed(procs):
            stop(proc)
        sim.stop()
        webhook.server.shutdown()
        webhook.server.server_close()
