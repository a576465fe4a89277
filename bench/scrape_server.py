"""Child process: an exporter's HTTP server holding N device series, plus the baseline.

Builds one Snapshot whose `devices` dict has N keys, publishes it into a
SnapshotStore(render) (so the exposition is rendered at publish, as in the exporter), and serves
it with thingspace_exporter.web.endpoints.bind/serve/make_app on a free loopback port. Before serving it
times prometheus_client's own `generate_latest` of the same N samples (a collector yielding one
GaugeMetricFamily), median over R renders.

Usage: python bench/scrape_server.py N R [HEADER_TIMEOUT]
HEADER_TIMEOUT (seconds, default the exporter's) is raised when half-sent requests are to be held.
Prints one JSON line {"port": P, "render_median": S, "render_all": [...]} and serves until stdin closes.
"""

from __future__ import annotations

import statistics
import sys
import time
from types import SimpleNamespace

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from thingspace_exporter.collection.rendering import render
from thingspace_exporter.collection.snapshots import Snapshot, SnapshotStore
from thingspace_exporter.collectors.device_aggregation import AccountData
from thingspace_exporter.metrics import ExporterMetrics
from thingspace_exporter.web import endpoints as server

ACCOUNT = "0000123456-00001"
LABELS = ["account", "make", "model", "firmware", "status", "fota_eligible", "license_assigned"]
STATUSES = ("active", "suspended", "pending", "deactive")


def device_keys(n: int) -> dict[tuple[str, ...], int]:
    keys = {}
    for i in range(n):
        keys[
            (
                f"MAKER {i % 7} INC",
                f"MODEL-{i % 53}",
                f"fw_{i // 8}.{i % 97}",
                STATUSES[i % 4],
                "true" if i % 2 else "false",
                "true" if i % 3 else "false",
            )
        ] = 1 + i % 1000
    assert len(keys) == n
    return keys


class Baseline:
    def __init__(self, devices: dict) -> None:
        self.devices = devices

    def collect(self):
        g = GaugeMetricFamily("thingspace_devices", "Devices by make, model, firmware, status.", labels=LABELS)
        for key, n in self.devices.items():
            g.add_metric([ACCOUNT, *key], n)
        yield g


def main(argv: list[str]) -> int:
    n, repeats = int(argv[0]), int(argv[1])
    limits = server.Limits(header_timeout=float(argv[2])) if len(argv) > 2 else server.Limits()
    devices = device_keys(n)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Baseline(devices))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        generate_latest(registry)
        times.append(time.perf_counter() - t0)

    data = AccountData(
        devices=devices,
        protocols={},
        software={},
        ages={},
        unknown={},
        buckets=(3600.0, 21600.0, 86400.0, 604800.0, 2592000.0),
        count=sum(devices.values()),
    )
    store = SnapshotStore(render)
    store.publish(Snapshot(ACCOUNT, data, time.time(), "devices"))
    view = SimpleNamespace(  # web.view.View
        exposition=lambda: store.derived,
        registry=ExporterMetrics().registry,
        healthy=lambda: (True, "ok"),
        ready=lambda: True,
    )
    httpd = server.bind("127.0.0.1", 0, server.make_app(view), limits)
    server.serve(httpd)
    print(
        msgspec.json.encode(
            {"port": httpd.server_port, "render_median": statistics.median(times), "render_all": times}
        ).decode(),
        flush=True,
    )
    sys.stdin.read()  # the parent closes our stdin when it is done
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
