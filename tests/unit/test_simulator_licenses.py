"""The simulator's subscriptions endpoint: licence totals consistent with the fleet."""

from __future__ import annotations

import math
import time

import pytest
from test_simulator_server import Client
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.fleet import AccountFleet
from thingspace_exporter.simulator.truth import parse_time

A, B, EMPTY = "0000123456-00001", "0000123456-00002", "0000123456-00003"
KEYS = {"accountName", "purchaseType", "licenseCount", "licenseUsedCount", "updateTime"}


def subscription(client, headers, account=A) -> dict:
    r = client.fota(f"subscriptions/{account}", headers)
    assert r.status_code == 200, r.text
    return r.json()


def licensed_in_listing(client, headers, account=A) -> int:
    return sum(
        d.get("licenseAssigned") is True
        for p in client.pages(account, headers, protocol="all")
        for d in p.get("deviceList") or []
    )


def test_used_count_is_the_devices_with_a_licence_and_follows_churn():
    with Simulator({A: 2500, EMPTY: 0}, seed=11) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        body = subscription(client, headers)
        assert body.keys() == KEYS and body["accountName"] == A and body["purchaseType"].startswith("TS-HFOTA")
        assert parse_time(body["updateTime"]) is not None
        used = licensed_in_listing(client, headers)
        assert body["licenseUsedCount"] == used > 0
        assert body["licenseCount"] > used and body["licenseCount"] % 100 == 0
        assert sim.licenses(A) == (body["licenseCount"], used)
        for _ in range(4):
            sim.advance()
        later = subscription(client, headers)
        assert later["licenseUsedCount"] == licensed_in_listing(client, headers) != used
        assert later["licenseCount"] == body["licenseCount"]  # bought licences do not churn
        assert sim.licenses(A) == (later["licenseCount"], later["licenseUsedCount"])
        assert subscription(client, headers, EMPTY)["licenseUsedCount"] == 0


def test_configured_totals_and_usage_ratios():
    with Simulator({A: 1500, B: 800}, seed=3, licenses={A: 1234, B: 0.97}) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        assert subscription(client, headers)["licenseCount"] == 1234
        near = subscription(client, headers, B)
        assert near["licenseCount"] == math.ceil(near["licenseUsedCount"] / 0.97)
        assert 0.96 < near["licenseUsedCount"] / near["licenseCount"] <= 0.97
        sim.set_licenses(A, 10)  # over-subscribed is allowed: usage above 100 %
        assert subscription(client, headers)["licenseCount"] == 10 == sim.licenses(A)[0]
        sim.set_licenses(A, None)
        assert subscription(client, headers)["licenseCount"] > sim.licenses(A)[1]


@pytest.mark.parametrize("bad", [-1, 0.0, 1.5, "100", True])
def test_bad_licence_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Simulator({A: 10}, licenses={A: bad})


def test_cheap_slot_facts_agree_with_the_device_records():
    fleet = AccountFleet(5, A, 4000)
    now = [time.time()]
    for idx in range(4000):
        d = fleet.device(idx, 0, now)
        assert fleet.licensed(idx) == (d.get("licenseAssigned") is True)
        make, model = fleet.model_of(idx)
        assert d.get("make", make) == make and d["model"] in (model, None)
