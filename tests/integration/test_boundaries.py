"""Page boundaries that outlive a listing: kept across restarts in THINGSPACE_STATE_DIR, and taken
from listings that failed, so a large account is listed in parallel from the first cycle after a
restart and converges even when one listing cannot finish before its deadline."""

from __future__ import annotations

import json

from .conftest import assert_matches, exposition, value

A = "0000123456-00001"


def listing_modes(log_stream) -> list[str]:
    return [
        line["mode"] for line in map(json.loads, log_stream.getvalue().splitlines()) if line.get("event") == "listing"
    ]


def test_a_restarted_exporter_lists_in_parallel_from_its_first_cycle(
    sim_factory, exporter_factory, tmp_path, log_stream
):
    sim = sim_factory({A: 6500})
    first = exporter_factory(sim, state_dir=str(tmp_path), max_concurrency=4, collectors="devices")
    assert first.collection.run_cycle()
    first.close()
    restarted = exporter_factory(sim, state_dir=str(tmp_path), max_concurrency=4, collectors="devices")
    assert restarted.collection.run_cycle()
    assert listing_modes(log_stream) == ["sequential", "parallel"]
    assert_matches(exposition(restarted), sim, [A])


def test_an_unusable_state_file_means_a_sequential_walk(sim_factory, exporter_factory, tmp_path, log_stream):
    sim = sim_factory({A: 2500})
    first = exporter_factory(sim, state_dir=str(tmp_path), max_concurrency=4, collectors="devices")
    assert first.collection.run_cycle()
    (path,) = tmp_path.glob("bounds-*.json")
    path.write_text('{"account": "' + A + '", "bounds": "broken"')
    again = exporter_factory(sim, state_dir=str(tmp_path), max_concurrency=4, collectors="devices")
    assert again.collection.run_cycle()
    assert listing_modes(log_stream) == ["sequential", "sequential"]
    assert_matches(exposition(again), sim, [A])


def test_an_account_too_big_for_one_deadline_converges_by_the_third_cycle(sim_factory, exporter_factory):
    # 30 pages of 100 devices at 50 ms each: a sequential walk needs 1.5 s, the deadline gives 1.2 s
    sim = sim_factory({A: 3000}, latency=0.05, page_size=100)
    exp = exporter_factory(
        sim, cycle_timeout_seconds=1.2, max_concurrency=8, max_requests_per_second=0, collectors="devices"
    )
    outcomes = [exp.collection.run_cycle() for _ in range(3)]
    assert outcomes[0] is False and outcomes[-1] is True
    text = exposition(exp)
    assert value(text, "thingspace_collection_errors_total", account=A, reason="deadline") >= 1
    assert_matches(text, sim, [A])  # exact, from the parallel listing over the bounds learnt
