"""A scrape during a swap never mixes two snapshots of one account (threads, real HTTP)."""

from __future__ import annotations

import threading
import time
import types
from collections import defaultdict

import requests
from prometheus_client.parser import text_string_to_metric_families
from thingspace_exporter.collection.rendering import render
from thingspace_exporter.collection.snapshots import Snapshot, SnapshotStore
from thingspace_exporter.collectors.device_aggregation import AccountData
from thingspace_exporter.metrics import ExporterMetrics
from thingspace_exporter.web import endpoints as server

ACCOUNTS = ("0000123456-00001", "0000123456-00002")


def data(generation: int) -> AccountData:
    """Every series of one generation carries the generation number as its value."""
    devices = {
        (f"make{m}", f"model{m}", f"fw{f}", "active", "true", "false"): generation for m in range(20) for f in range(25)
    }
    return AccountData(
        devices=devices,
        protocols={"LWM2M": generation, "HTTP": generation},
        software={("app", "1.0"): generation},
        ages={},
        unknown={("make0", "model0"): generation},
        buckets=(3600.0,),
        count=generation * 500,
    )


def test_scrapes_see_whole_snapshots_while_swapping():
    store: SnapshotStore = SnapshotStore(render)
    view = types.SimpleNamespace(  # web.view.View
        exposition=lambda: store.derived,
        registry=ExporterMetrics(process=False).registry,
        healthy=lambda: (True, "ok"),
        ready=lambda: False,
    )
    httpd = server.bind("127.0.0.1", 0, server.make_app(view))
    server.serve(httpd)
    stop = threading.Event()
    swaps = defaultdict(int)

    def publisher(account: str) -> None:
        generation = 1
        while not stop.is_set():
            store.publish(Snapshot(account, data(generation), time.time(), "devices"))
            swaps[account] += 1
            generation = generation % 7 + 1

    threads = [threading.Thread(target=publisher, args=(a,), daemon=True) for a in ACCOUNTS]
    for t in threads:
        t.start()
    try:
        seen = defaultdict(set)
        for _ in range(25):
            for gz in (False, True):
                headers = {"Accept-Encoding": "gzip" if gz else "identity"}
                text = requests.get(f"http://127.0.0.1:{httpd.server_port}/metrics", headers=headers, timeout=5).text
                values = defaultdict(set)
                for fam in text_string_to_metric_families(text):
                    if fam.name.startswith("thingspace_device"):
                        for s in fam.samples:
                            values[s.labels["account"]].add(s.value)
                for account, vals in values.items():
                    assert len(vals) == 1, f"{account} mixed generations {vals}"
                    seen[account] |= vals
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        httpd.shutdown()
    assert all(swaps[a] > 10 for a in ACCOUNTS)
    assert all(len(seen[a]) > 1 for a in ACCOUNTS)  # the scrapes really overlapped swaps
