"""The simulator at scale: tiled fleets and pages built by index arithmetic, at 5 million devices."""

from __future__ import annotations

import gc
import tracemalloc

import msgspec
import pytest
from thingspace_exporter.simulator import Simulator, listing
from thingspace_exporter.simulator.cli import parser
from thingspace_exporter.simulator.fleet import AccountFleet
from thingspace_exporter.simulator.tiles import TiledFleet, fleet_for

from tests.sim_client import signed_in

ACC = "0000123456-00001"
BIG = 5_000_000
TIMES = [1_700_000_000.0, 1_700_000_600.0, 1_700_001_200.0]


def page(fleet, cursor, gen=0, protocol=None, size=1000) -> dict:
    return msgspec.json.decode(listing.page_body(fleet, gen, TIMES, cursor, protocol, size))


def identity_free(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("deviceId", "mdn")}


def test_a_tile_repeats_records_but_not_identities():
    plain, tiled = AccountFleet(5, ACC, 30_000), TiledFleet(5, ACC, 30_000, 1000)
    # The first tile is the plain fleet's, byte for byte.
    assert listing.page_body(plain, 0, TIMES, "0", None, 1000) == listing.page_body(tiled, 0, TIMES, "0", None, 1000)
    for idx in (1000, 1999, 17_123, 29_999):
        d, template = tiled.device(idx, 0, TIMES), plain.device(idx % 1000, 0, TIMES)
        assert identity_free(d) == identity_free(template)
        assert d["deviceId"] == plain.imei(idx) and d["mdn"] == plain.mdn(idx)
        assert tiled.model_of(idx) == plain.model_of(idx % 1000)
        assert tiled.licensed(idx) == plain.licensed(idx % 1000)
        assert tiled.protocol(idx) == plain.protocol(idx % 1000)


@pytest.mark.parametrize("gen", [0, 1, 2])
def test_every_record_of_a_page_is_the_fleets_device(gen):
    """Whatever the path (cached tile entries at generation 0, per-slot churn after), a page holds
    exactly device() of each present slot after the cursor, in order."""
    fleet = TiledFleet(9, ACC, 20_000, 700)
    start = 13_500
    body = page(fleet, fleet.imei(start - 1), gen=gen)
    expected = [d for d in (fleet.device(i, gen, TIMES) for i in range(start, fleet.slots(gen))) if d][:1001]
    assert body["deviceList"] == expected[:1000]
    assert body["hasMoreData"] is True and body["lastSeenDeviceId"] == expected[999]["deviceId"]


def test_churned_and_joined_slots_of_a_tiled_fleet_page_like_any_fleets():
    fleet = TiledFleet(4, ACC, 3000, 500)
    walked, cursor = [], "0"
    while True:
        body = page(fleet, cursor, gen=2)
        walked += body.get("deviceList") or []
        if not body["hasMoreData"]:
            break
        cursor = body["lastSeenDeviceId"]
    assert walked == list(fleet.scan(0, 2, TIMES, None))
    assert any(fleet.index_of(d["deviceId"]) >= 3000 for d in walked)  # joined at generations 1 and 2
    assert len(walked) < fleet.slots(2)  # some left


def test_the_protocol_filter_of_a_tiled_page_matches_the_scan():
    fleet = TiledFleet(2, ACC, BIG, 10_000)
    cursor = fleet.imei(3_333_332)
    body = page(fleet, cursor, protocol="lwm2m", size=500)
    expected = []
    for d in fleet.scan(3_333_333, 0, TIMES, "LWM2M"):
        expected.append(d)
        if len(expected) == 501:
            break
    assert body["deviceList"] == expected[:500] and body["hasMoreData"] is True
    assert all("LWM2M" in d["protocol"].split(",") for d in body["deviceList"])


def test_a_5m_account_pages_at_its_boundaries_and_follows_the_cursor_rules():
    fleet = TiledFleet(3, ACC, BIG, 10_000)
    first = page(fleet, "0")
    assert [d["deviceId"] for d in first["deviceList"]] == [fleet.imei(i) for i in range(1000)]
    assert first["hasMoreData"] is True and first["lastSeenDeviceId"] == fleet.imei(999)
    assert page(fleet, None) == first and page(fleet, " 0 ") == first

    across = page(fleet, fleet.imei(9_499))  # slots 9 500..10 499: across the first tile's end
    assert [fleet.index_of(d["deviceId"]) for d in across["deviceList"]] == list(range(9_500, 10_500))
    assert identity_free(across["deviceList"][500]) == identity_free(first["deviceList"][0])

    cursor = str(int(fleet.imei(2_499_999)))  # numeric cursors are accepted as their digits
    middle = page(fleet, cursor)
    assert fleet.index_of(middle["deviceList"][0]["deviceId"]) == 2_500_000

    # The account is an exact multiple of the page size: the last page is full and says so.
    last = page(fleet, fleet.imei(BIG - 1001))
    assert len(last["deviceList"]) == 1000 and last["hasMoreData"] is False and last["lastSeenDeviceId"] == "0"
    assert last["deviceList"][-1]["deviceId"] == fleet.imei(BIG - 1)
    one = page(fleet, fleet.imei(BIG - 2))
    assert [d["deviceId"] for d in one["deviceList"]] == [fleet.imei(BIG - 1)] and one["hasMoreData"] is False
    end = page(fleet, fleet.imei(BIG - 1))
    assert end["hasMoreData"] is False and end["lastSeenDeviceId"] == "0" and not end.get("deviceList")

    for bad in (
        fleet.imei(BIG),
        fleet.imei(BIG + 10),
        str(int(fleet.imei(7)) + 1),
        "abc",
        "-1",
        AccountFleet(3, "0000123456-00002", 10).imei(1),
    ):
        with pytest.raises(listing.Refused) as err:
            page(fleet, bad)
        assert err.value.status == 400 and err.value.body["errorMessage"] == "LastSeenDeviceId Not Valid"


def test_paging_a_5m_account_never_builds_the_fleet():
    gc.collect()
    tracemalloc.start()
    fleet = TiledFleet(3, ACC, BIG, 2000)
    for start in (0, 1_000_000, 2_500_000, 4_997_000):
        for n in range(3):
            page(fleet, fleet.imei(start + 1000 * n - 1) if start or n else "0")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Twelve pages of ~570 KB, encoded and decoded once each, plus at most 2000 cached entries:
    # a few megabytes, where 5 million devices would be gigabytes.
    assert peak < 12_000_000
    assert len(fleet._records) == 2000


def test_the_cache_follows_the_generation():
    fleet = TiledFleet(6, ACC, 50_000, 100)
    before = page(fleet, fleet.imei(20_000))["deviceList"]
    after = page(fleet, fleet.imei(20_000), gen=1)["deviceList"]  # records name the generation's time
    assert before != after
    assert after == [d for d in (fleet.device(i, 1, TIMES) for i in range(20_001, 21_200)) if d][:1000]


def test_fleet_for_tiles_only_accounts_larger_than_the_tile():
    assert type(fleet_for(1, ACC, 5000, None)) is AccountFleet
    assert type(fleet_for(1, ACC, 5000, 5000)) is AccountFleet
    assert isinstance(fleet_for(1, ACC, 5001, 5000), TiledFleet)
    with pytest.raises(ValueError):
        TiledFleet(1, ACC, 10, 0)


def test_the_simulator_serves_a_tiled_5m_account_over_http():
    assert parser().parse_args(["--tile", "10000"]).tile == 10_000
    with pytest.raises(SystemExit):
        parser().parse_args(["--tile", "0"])
    with Simulator({ACC: BIG}, seed=3, tile=10_000) as sim:
        http = signed_in(sim.base_url)
        fleet = TiledFleet(3, ACC, BIG, 10_000)
        url = f"{sim.base_url}/api/fota/v3/devices/{ACC}"
        cursor, seen = fleet.imei(BIG - 2501), []
        while True:
            r = http.get(url, params={"lastSeenDeviceId": cursor}, timeout=5)
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [d["deviceId"] for d in body.get("deviceList") or []]
            if not body["hasMoreData"]:
                break
            cursor = body["lastSeenDeviceId"]
        assert seen == [fleet.imei(i) for i in range(BIG - 2500, BIG)]
        r = http.get(url, params={"lastSeenDeviceId": fleet.imei(BIG)}, timeout=5)
        assert r.status_code == 400 and r.json()["errorMessage"] == "LastSeenDeviceId Not Valid"
