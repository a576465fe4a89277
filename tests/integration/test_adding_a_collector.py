"""CONTRIBUTING.md's "Adding a collector" is true: a copy of the package with one new collector
module and one registry line, and nothing else changed, collects, names and renders it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import PYTHON, exporter_env, value

ACCOUNTS = {"0000123456-00001": 300}
PACKAGE = Path(__file__).resolve().parents[2] / "exporter" / "thingspace_exporter"

# A collector of licence headroom, from the subscriptions endpoint the simulator already serves.
HEADROOM = """
from __future__ import annotations

import msgspec
from prometheus_client.core import GaugeMetricFamily

from ..metrics import BG
from ..thingspace.client import segment
from .base import Collector


class Totals(msgspec.Struct):
    licenseCount: int = 0
    licenseUsedCount: int = 0


DECODER = msgspec.json.Decoder(Totals)


class HeadroomCollector(Collector):
    name = "headroom"
    endpoints = ("subscriptions_headroom",)

    def collect(self, account, deadline, context):
        path = "/api/fota/v3/subscriptions/" + segment(account)
        doc = self.tools.client.fetch_json("subscriptions_headroom", path, {}, deadline, DECODER)
        return doc.licenseCount - doc.licenseUsedCount

    @staticmethod
    def families(snapshots):
        family = GaugeMetricFamily("thingspace_licence_headroom", f"Licences not in use. {BG}", labels=["account"])
        for snap in snapshots:
            family.add_metric([snap.account], snap.data)
        yield family
"""


def test_a_new_collector_is_one_module_and_one_registry_line(sim_factory, tmp_path):
    copy = tmp_path / "thingspace_exporter"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "collectors" / "headroom.py").write_text(HEADROOM)
    registry = copy / "collectors" / "__init__.py"
    text = registry.read_text()
    assert text.count("from .firmware import FirmwareCollector\n") == text.count("    CampaignsCollector,\n") == 1
    text = text.replace("from .firmware import", "from .headroom import HeadroomCollector\nfrom .firmware import")
    registry.write_text(text.replace("    CampaignsCollector,\n", "    CampaignsCollector,\n    HeadroomCollector,\n"))

    sim = sim_factory(ACCOUNTS)
    env = {**exporter_env(sim, ACCOUNTS), "PYTHONPATH": str(tmp_path), "THINGSPACE_COLLECTORS": "devices,headroom"}
    env.pop("PYTHONSAFEPATH", None)
    proc = subprocess.run([PYTHON, "-m", "thingspace_exporter", "--once"], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    total, used = sim.licenses("0000123456-00001")
    assert value(out, "thingspace_licence_headroom", account="0000123456-00001") == total - used
    assert value(out, "thingspace_collector_up", account="0000123456-00001", collector="headroom") == 1
    assert value(out, "thingspace_api_requests_total", endpoint="subscriptions_headroom") == 1
    assert value(out, "thingspace_api_request_failures_total", endpoint="subscriptions_headroom", reason="timeout") == 0
    assert (
        "headroom"
        in subprocess.run(
            [PYTHON, "-m", "thingspace_exporter", "--help"], env=env, capture_output=True, timeout=60, check=True
        ).stdout.decode()
    )
