"""Pure tests of the simulator's fleet, truth parsing and fault plan."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections import Counter

import pytest
from thingspace_exporter.simulator import Faults, Simulator
from thingspace_exporter.simulator.faults import KINDS
from thingspace_exporter.simulator.fleet import BOUNDARIES, AccountFleet
from thingspace_exporter.simulator.truth import parse_time

ACC = "0000123456-00001"


def luhn_ok(imei: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(imei)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@pytest.fixture(scope="module")
def sample():
    fleet = AccountFleet(1, ACC, 6000)
    now = time.time()
    return now, [fleet.device(i, 0, [now]) for i in range(6000)]


def test_imeis_are_luhn_valid_ascending_and_invertible():
    fleet = AccountFleet(7, ACC, 5_000_000)
    imeis = [fleet.imei(i) for i in (0, 1, 2, 999_999, 4_999_999)]
    assert all(len(x) == 15 and x.isdigit() and luhn_ok(x) for x in imeis)
    assert imeis == sorted(imeis) and len(set(imeis)) == 5
    assert [fleet.index_of(x) for x in imeis] == [0, 1, 2, 999_999, 4_999_999]
    wrong_check = imeis[1][:-1] + str((int(imeis[1][-1]) + 1) % 10)
    assert fleet.index_of(wrong_check) is None
    assert fleet.index_of("0") is None and fleet.index_of("abc") is None
    other = AccountFleet(7, "0000123456-00002", 10)
    assert other.base != fleet.base and other.index_of(imeis[1]) is None


def test_devices_are_deterministic_per_seed():
    t = [1_700_000_000.0]
    a, b, c = AccountFleet(1, ACC, 100), AccountFleet(1, ACC, 100), AccountFleet(2, ACC, 100)
    assert [a.device(i, 0, t) for i in range(100)] == [b.device(i, 0, t) for i in range(100)]
    assert [a.device(i, 0, t) for i in range(100)] != [c.device(i, 0, t) for i in range(100)]


def test_fleet_has_every_documented_quirk(sample):
    _, devices = sample
    statuses = Counter(d.get("status") for d in devices)
    assert {"Active", "active", "ACTIVE", "suspended", "pending", "deactive"} <= set(statuses)
    assert statuses["Active"] + statuses["active"] + statuses["ACTIVE"] > 0.7 * len(devices)
    assert any("lastConnectTime" in d for d in devices) and any("lastConnectionTime" in d for d in devices)
    last = [d.get("lastConnectionTime", d.get("lastConnectTime")) for d in devices]
    assert {"N/A", "", None, "0001-01-01 00:00:00 +0000 UTC", "1900-01-01 00:00:00 +0000 UTC"} <= set(last)
    assert any(v and v.endswith("Z") for v in last)
    fractions = {len(v.split(" ")[1].partition(".")[2]) for v in last if v and v.endswith(" UTC") and v[:4] > "2000"}
    assert {0, 1, 3} <= fractions and fractions & {6, 5, 4} and fractions & {9, 8, 7}
    for key in ("fotaEligible", "licenseAssigned"):
        assert any(key not in d for d in devices) and any(d.get(key, 0) is None for d in devices)
    protocols = Counter(d.get("protocol", "<absent>") for d in devices)
    assert protocols["HTTP,LWM2M"] and protocols["NONE"] and protocols["<absent>"] and protocols[""]
    assert any(len(d["softwareList"]) != len({(s["name"], s["version"]) for s in d["softwareList"]}) for d in devices)
    assert any(len(d["softwareList"]) == 3 for d in devices) and any(d["filesList"] for d in devices)
    assert any("distributionType" in d for d in devices)
    assert any("make" not in d for d in devices) and any(d.get("firmware", "x") is None for d in devices)
    makes = Counter(d.get("make") for d in devices)
    assert 4 <= len([m for m in makes if m]) <= 6
    assert all(len(d["mdn"]) == 10 for d in devices)


def test_last_connection_ages_avoid_bucket_boundaries(sample):
    now, devices = sample
    ages = [
        now - t
        for t in (parse_time(d.get("lastConnectionTime", d.get("lastConnectTime"))) for d in devices)
        if t is not None
    ]
    assert len(ages) > 0.9 * len(devices)
    assert all(abs(age - b) > 120 for age in ages for b in BOUNDARIES)
    within_hour = sum(age < 3600 for age in ages)
    assert within_hour > 0.5 * len(ages) and any(age > 2592000 for age in ages)


def test_churn_changes_a_few_percent_between_generations():
    fleet = AccountFleet(3, ACC, 5000)
    times = [time.time() - 100, time.time()]
    before = {d["deviceId"]: d for d in fleet.scan(0, 0, times, None)}
    after = {d["deviceId"]: d for d in fleet.scan(0, 1, times, None)}
    left, joined = before.keys() - after.keys(), after.keys() - before.keys()
    assert 0 < len(left) < 100 and 0 < len(joined) < 100
    assert min(joined) > max(before)  # new devices get new, higher IMEIs
    common = before.keys() & after.keys()
    upgraded = [i for i in common if before[i]["firmware"] != after[i]["firmware"]]
    moved = [
        i
        for i in common
        if before[i].get("lastConnectTime", before[i].get("lastConnectionTime"))
        != after[i].get("lastConnectTime", after[i].get("lastConnectionTime"))
    ]
    assert upgraded and len(upgraded) < 0.05 * len(common)
    assert moved


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2021-09-29 07:43:08.181 +0000 UTC", 1632901388.181),
        ("2021-09-29 07:43:08 +0000 UTC", 1632901388.0),
        ("2021-09-29 07:43:08.123456789 +0000 UTC", 1632901388.123456789),
        ("2021-09-29 09:43:08.5 +0200 CEST", 1632901388.5),
        ("2022-10-05T21:05:01.19Z", 1665003901.19),
        ("2022-10-05T21:05:01Z", 1665003901.0),
        ("N/A", None),
        ("", None),
        (None, None),
        ("0001-01-01 00:00:00 +0000 UTC", None),
        ("1900-01-01 00:00:00 +0000 UTC", None),
    ],
)
def test_parse_time(text, expected):
    got = parse_time(text)
    assert got == expected if expected is None else got == pytest.approx(expected, abs=1e-6)


def test_fault_schedule_skips_then_injects_count_times():
    faults = Faults()
    faults.schedule("server_error", count=2, endpoint="devices", after=1)
    faults.schedule("rate_limit", endpoint="login")
    picks = [faults.pick("devices") for _ in range(4)]
    assert picks == [None, "server_error", "server_error", None]
    assert faults.pick("token") is None and faults.pick("login") == "rate_limit"
    assert faults.injected == Counter({"server_error": 2, "rate_limit": 1})
    with pytest.raises(ValueError):
        faults.schedule("no_such_fault")


def test_fault_rates_are_seeded_and_only_hit_listed_endpoints():
    runs = []
    for _ in range(2):
        faults = Faults({"server_error": 0.3}, seed=5)
        runs.append([faults.pick("devices") for _ in range(200)])
        assert all(faults.pick("login") is None for _ in range(50))
    assert runs[0] == runs[1]
    assert 30 < runs[0].count("server_error") < 90
    assert set(KINDS) >= {"rate_limit", "timeout", "stuck_cursor", "truncated_json"}


def test_simulator_memory_does_not_grow_with_fleet_size():
    def footprint(size: int) -> int:
        gc.collect()
        tracemalloc.start()
        sim = Simulator({ACC: size})
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del sim
        return current

    small, huge = footprint(1000), footprint(5_000_000)
    assert huge - small < 16_384
