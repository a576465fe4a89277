"""service: the wiring publishes what alerts need before the first cycle."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from thingspace_exporter.app import Exporter
from thingspace_exporter.metrics import ExporterMetrics


def test_the_interval_and_zeroed_series_are_published_before_any_cycle(settings_factory):
    exporter = Exporter(
        settings_factory(interval_seconds=42, accounts="0000123456-00001,0000123456-00002"),
        ExporterMetrics(process=False),
    )
    try:
        text = generate_latest(exporter.metrics.registry).decode()
    finally:
        exporter.close()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert values[("thingspace_collection_interval_seconds", ())] == 42
    for kind in ("oauth", "login"):
        assert values[("thingspace_auth_rejections_total", (("kind", kind),))] == 0
        assert values[("thingspace_auth_backoff_seconds", (("kind", kind),))] == 0
    for account in ("0000123456-00001", "0000123456-00002"):
        assert values[("thingspace_up", (("account", account),))] == 0
        assert values[("thingspace_collection_errors_total", (("account", account), ("reason", "timeout")))] == 0
