"""sizing: the time a listing needs, from pages, request time, workers and the rate cap."""

from __future__ import annotations

import pytest
from thingspace_exporter.collectors.device_boundaries import Listing
from thingspace_exporter.collectors.device_sizing import listing_seconds, warnings


@pytest.mark.parametrize(
    "pages,seconds,workers,rate,want",
    [
        (1000, 2.0, 1, 0, 2000),  # a million devices at 2 s a page, one at a time: 33 minutes
        (1000, 2.0, 8, 0, 250),  # eight in flight
        (1000, 2.0, 8, 2.0, 500),  # ... but the cap allows two a second
        (1000, 0.1, 4, 10.0, 100),
    ],
)
def test_listing_seconds(pages, seconds, workers, rate, want):
    assert listing_seconds(pages, seconds, workers, rate) == pytest.approx(want)


def test_accounts_that_cannot_keep_up_are_named(settings_factory):
    settings = settings_factory(
        accounts="a,b,c",
        interval_seconds=300,
        cycle_timeout_seconds=1800,
        max_concurrency=8,
        max_requests_per_second=10,
    )
    known = {
        "a": Listing(("1",), 1000, 2.0, True),  # parallel: 1000 × 2 / 8 = 250 s, cap 10/3 a second: 300 s
        "b": Listing((), 1000, 2.0, False),  # no bounds yet: sequential, 2000 s > the deadline
        "c": Listing(("1",), 10, 0.5, True),  # fine
    }
    got = {w["account"]: w for w in warnings(settings, known)}
    assert set(got) == {"b"}
    assert got["b"]["exceeds"] == "THINGSPACE_CYCLE_TIMEOUT_SECONDS" and got["b"]["at_least"] is True
    slower = settings_factory(
        accounts="a,b,c",
        interval_seconds=200,
        cycle_timeout_seconds=1800,
        max_concurrency=8,
        max_requests_per_second=10,
    )
    assert {w["account"]: w["exceeds"] for w in warnings(slower, known)} == {
        "a": "THINGSPACE_INTERVAL_SECONDS",
        "b": "THINGSPACE_CYCLE_TIMEOUT_SECONDS",
    }
    assert warnings(settings, {}) == []  # nothing known yet: nothing to say


def test_the_exporter_warns_at_start_from_what_the_state_dir_knows(settings_factory, tmp_path, log_stream):
    from thingspace_exporter.app import Exporter
    from thingspace_exporter.collectors.device_boundaries import Boundaries
    from thingspace_exporter.metrics import ExporterMetrics

    settings = settings_factory(state_dir=str(tmp_path), cycle_timeout_seconds=60, collectors="devices")
    Boundaries(str(tmp_path), settings.accounts[0], settings.protocol).save(Listing(("5",), 500, 1.5, True))
    Exporter(settings, ExporterMetrics(process=False)).close()
    assert '"listing_cannot_keep_up"' in log_stream.getvalue()
    assert "THINGSPACE_CYCLE_TIMEOUT_SECONDS" in log_stream.getvalue()
