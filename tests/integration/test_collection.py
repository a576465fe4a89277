"""Exact counts against the simulator's ground truth, in-process over loopback HTTP."""

from __future__ import annotations

from .conftest import assert_matches, exposition, value
from .containers import wait_for

ACCOUNTS = {"0000123456-00001": 2500, "0000123456-00002": 130, "0000123456-00003": 2000, "0000123456-00004": 0}


def test_every_series_matches_ground_truth(sim_factory, exporter_factory):
    sim = sim_factory(ACCOUNTS)
    exp = exporter_factory(sim)
    assert exp.collection.run_cycle() is True
    text = exposition(exp)
    assert_matches(text, sim, ACCOUNTS)
    for account in ACCOUNTS:
        assert value(text, "thingspace_up", account=account) == 1.0
        assert value(text, "thingspace_last_success_timestamp_seconds", account=account) > 0
    assert sim.requests["token"] == 1 and sim.requests["login"] == 1


def test_protocol_setting_filters_and_empty_means_all(sim_factory, exporter_factory):
    sim = sim_factory({"0000123456-00001": 1500})
    for protocol, truth_protocol in (("HTTP", "HTTP"), ("", None)):
        exp = exporter_factory(sim, protocol=protocol)
        assert exp.collection.run_cycle()
        assert_matches(exposition(exp), sim, ["0000123456-00001"], truth_protocol)


def test_fleet_that_changes_between_cycles_sequential_and_parallel(sim_factory, exporter_factory):
    accounts = {"0000123456-00001": 6500, "0000123456-00002": 3100}
    sim = sim_factory(accounts)
    parallel = exporter_factory(sim, max_concurrency=4)
    sequential = exporter_factory(sim, max_concurrency=1)
    for _ in range(4):
        assert parallel.collection.run_cycle()
        assert sequential.collection.run_cycle()
        assert_matches(exposition(parallel), sim, accounts)
        assert_matches(exposition(sequential), sim, accounts)
        sim.advance()
    (devices,) = [c for c in parallel.collectors if c.name == "devices"]
    assert devices.listings["0000123456-00001"].bounds  # boundaries kept for the next cycle


def test_unknown_account_fails_only_that_account(sim_factory, exporter_factory):
    sim = sim_factory({"0000123456-00001": 1200})
    exp = exporter_factory(sim, accounts=["0000123456-00001", "9999999999-99999"])
    assert exp.collection.run_cycle() is False
    text = exposition(exp)
    assert value(text, "thingspace_up", account="0000123456-00001") == 1.0
    assert value(text, "thingspace_up", account="9999999999-99999") == 0.0
    assert (
        value(text, "thingspace_collection_errors_total", account="9999999999-99999", reason="invalid_parameter") == 1.0
    )
    assert_matches(text, sim, ["0000123456-00001"])


def test_a_failing_segment_is_retried_alone_and_the_counts_stay_exact(sim_factory, exporter_factory, log_stream):
    """A page fails past the transport's retries in the middle of a parallel listing: only that
    request is made again (from the segment's last cursor), the listing is not restarted from the
    first page, and the counts match the simulator's."""
    account = "0000123456-00001"
    sim = sim_factory({account: 12_000})
    exp = exporter_factory(sim, max_concurrency=4, max_retries=0, collectors="devices")
    (devices,) = [c for c in exp.collectors if c.name == "devices"]
    devices.segment_backoff = 0.0
    assert exp.collection.run_cycle()  # sequential: learns the boundaries
    pages = exp.store.get("devices", account).data.pages
    before = sim.requests["devices"]
    sim.faults.schedule("server_error", count=2, after=5)
    assert exp.collection.run_cycle()
    assert sim.requests["devices"] - before == pages + 2  # the two failed requests, nothing else
    assert_matches(exposition(exp), sim, [account])
    logs = log_stream.getvalue()
    assert "segment_retried" in logs and "parallel_listing_fallback" not in logs


def test_small_accounts_refresh_at_their_interval_while_a_huge_one_is_listed(sim_factory, exporter_factory):
    """The running exporter over loopback HTTP: a 100-page account listed at 50 ms a request takes
    at least 5 s; meanwhile each small account is listed again and again at its 0.2 s interval."""
    big, small = "0000123456-00001", ["0000123456-00002", "0000123456-00003", "0000123456-00004"]
    accounts = {big: 10_000, **dict.fromkeys(small, 50)}
    sim = sim_factory(accounts, latency=0.05, page_size=100)
    exp = exporter_factory(sim, collectors="devices", interval_seconds=0.2, max_accounts_in_flight=2)
    exp.collection.start()

    def listings(account: str) -> float:
        return value(exposition(exp), "thingspace_pages_fetched_total", account=account) or 0.0

    found = wait_for("three listings of each small account", lambda: all(listings(a) >= 3 for a in small), 60)
    assert found and exp.store.get("devices", big) is None  # the huge one is still on its first listing
    assert wait_for("the huge account's listing", lambda: exp.store.get("devices", big), 120)
    assert_matches(exposition(exp), sim, list(accounts))
