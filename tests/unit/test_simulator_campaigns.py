"""The simulator's campaign reports over real HTTP on loopback, against campaign_truth()."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest
from test_simulator_server import Client
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.campaigns import STATUSES, _largest_remainder
from thingspace_exporter.simulator.fleet import AccountFleet

A, B, EMPTY = "0000123456-00001", "0000123456-00002", "0000123456-00003"
CAMPAIGN_KEYS = {
    "id",
    "campaignName",
    "firmwareFrom",
    "firmwareTo",
    "make",
    "model",
    "protocol",
    "startDate",
    "endDate",
    "status",
}
DEVICE_KEYS = {"deviceId", "status", "resultReason", "updatedTime"}


def campaigns_path(account: str) -> str:
    return f"reports/{account}/firmware/campaigns"


def devices_path(account: str, campaign_id: str) -> str:
    return f"reports/{account}/campaigns/{campaign_id}/devices"


def listed(pages: list[dict], key: str) -> list[dict]:
    return [item for page in pages for item in (page.get(key) or [])]


@pytest.fixture
def env():
    """A default simulator: 8 campaigns per account."""
    with Simulator({A: 2500, B: 2000, EMPTY: 0}, seed=11) as sim:
        client = Client(sim.base_url)
        yield sim, client, client.connect()


def walk_campaigns(client, headers, account, status) -> list[dict]:
    return client.walk(campaigns_path(account), headers, "lastSeenCampaignId", campaignStatus=status)


def walk_devices(client, headers, account, campaign_id) -> list[dict]:
    return client.walk(devices_path(account, campaign_id), headers, "lastSeenDeviceId")


def test_default_campaigns_have_the_documented_shape_and_two_running_with_devices(env):
    sim, client, headers = env
    running = walk_campaigns(client, headers, A, "CampaignScheduled")
    campaigns = listed(running, "campaignList")
    assert len(campaigns) >= 2
    for c in campaigns:
        assert CAMPAIGN_KEYS <= c.keys() and c["status"] == "CampaignScheduled"
        assert str(uuid.UUID(c["id"])) == c["id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", c["startDate"]) and c["startDate"] < c["endDate"]
        assert c["protocol"] in ("LWM2M", "OMD-DM") and c["campaignName"]
        page = client.fota(devices_path(A, c["id"]), headers).json()
        assert page["totalDevice"] > 0 and page["maxPageSize"] == 1000
        assert all(DEVICE_KEYS <= d.keys() for d in page["deviceList"])
    total = sum(len(listed(walk_campaigns(client, headers, A, s), "campaignList")) for s in STATUSES)
    assert total == 8 == sum(sim.campaign_truth(A).by_status.values())


def test_every_status_chain_pages_to_the_end_and_matches_truth():
    with Simulator({A: 3000}, seed=5, campaigns={A: 120}, campaign_page_size=7) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        truth = sim.campaign_truth(A)
        assert set(STATUSES) <= truth.by_status.keys() and sum(truth.by_status.values()) == 120
        served = {}
        for status in STATUSES:
            pages = walk_campaigns(client, headers, A, status)
            items = listed(pages, "campaignList")
            assert all(len(p.get("campaignList") or []) <= 7 for p in pages)
            assert all(p["lastSeenCampaignId"] == p["campaignList"][-1]["id"] for p in pages[:-1])
            ids = [c["id"] for c in items]
            assert ids == sorted(set(ids)) and all(c["status"] == status for c in items)
            assert len(items) == truth.by_status[status], status
            served.update({c["id"]: c for c in items})
        assert sum(1 for n in truth.by_status.values() if n > 7) >= 2  # paging really happened
        assert served.keys() == truth.campaigns.keys()
        for cid, facts in truth.campaigns.items():
            c = served[cid]
            assert (
                c["campaignName"],
                c["status"],
                c["make"],
                c["model"],
                c["firmwareFrom"],
                c["firmwareTo"],
                c["protocol"],
            ) == (
                facts.name,
                facts.status,
                facts.make,
                facts.model,
                facts.firmware_from,
                facts.firmware_to,
                facts.protocol,
            )
            assert (facts.make, facts.model, facts.firmware_from, facts.firmware_to) in sim.firmware_paths(
                A, protocol="all"
            )


def test_exact_status_counts_unknown_and_missing_statuses():
    spec = {"CampaignScheduled": 14, "CampaignPaused": 2}  # an open enum: any status string
    with Simulator({A: 500}, seed=2, campaigns={A: spec}, campaign_page_size=7) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        pages = walk_campaigns(client, headers, A, "CampaignScheduled")
        assert [(len(p["campaignList"]), p["hasMoreData"]) for p in pages] == [(7, True), (7, False)]
        assert len(listed(walk_campaigns(client, headers, A, "CampaignPaused"), "campaignList")) == 2
        assert sim.campaign_truth(A).by_status == {**dict.fromkeys(STATUSES, 0), **spec}
        for status in ("CampaignEnded", "NoSuchStatus", "campaignscheduled"):
            body = client.fota(campaigns_path(A), headers, campaignStatus=status).json()
            assert body["hasMoreData"] is False and body["lastSeenCampaignId"] == "0"
            assert not body.get("campaignList")
        for params in ({}, {"campaignStatus": ""}, {"lastSeenCampaignId": "0"}):
            r = client.fota(campaigns_path(A), headers, **params)
            assert r.status_code == 400 and r.json()["errorCode"] == "INVALID_PARAMETER"


def test_campaign_cursor_rules(env):
    sim, client, headers = env
    ended = {"campaignStatus": "CampaignEnded"}
    first = client.fota(campaigns_path(A), headers, **ended).json()
    assert client.fota(campaigns_path(A), headers, lastSeenCampaignId="0", **ended).json() == first
    last_id = first["campaignList"][-1]["id"]
    tail = client.fota(campaigns_path(A), headers, lastSeenCampaignId=last_id, **ended).json()
    assert tail["hasMoreData"] is False and not tail.get("campaignList") and tail["lastSeenCampaignId"] == "0"
    other_account = next(iter(sim.campaign_truth(B).campaigns))
    for bad in ("abc", str(uuid.UUID(int=1)), other_account):
        r = client.fota(campaigns_path(A), headers, lastSeenCampaignId=bad, **ended)
        assert r.status_code == 400
        assert r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenCampaignId Not Valid"}


def test_campaign_devices_page_to_the_end_and_match_truth():
    with Simulator({A: 4000}, seed=8, campaigns={A: 12}, campaign_devices=250, campaign_device_page_size=100) as sim:
        client = Client(sim.base_url)
        headers = client.connect()
        models = {
            d["deviceId"]: (d.get("make"), d.get("model"))
            for p in client.pages(A, headers, protocol="all")
            for d in p.get("deviceList") or []
        }
        fleet = AccountFleet(8, A, 4000)
        per_model = Counter(fleet.model_of(idx) for idx in range(4000))
        truth = sim.campaign_truth(A)
        for cid, facts in truth.campaigns.items():
            pages = walk_devices(client, headers, A, cid)
            devices = listed(pages, "deviceList")
            n = len(devices)
            assert all(p["totalDevice"] == n for p in pages)
            assert [len(p.get("deviceList") or []) for p in pages][:-1] == [100] * (len(pages) - 1)
            ids = [d["deviceId"] for d in devices]
            assert ids == sorted(set(ids))
            assert Counter(d["status"] for d in devices) == facts.devices
            if facts.status == "CampaignRequestFailed":
                assert n == 0
            else:  # capped by the account's devices of that model
                assert n == min(250, per_model[(facts.make, facts.model)]) > 0
            for imei in ids:  # drawn from the account's fleet, of the campaign's make and model
                make, model = models[imei]
                assert make in (facts.make, None) and model in (facts.model, None)
            assert all(DEVICE_KEYS <= d.keys() and d["resultReason"] for d in devices)


def test_campaign_device_cursor_and_unknown_campaign(env):
    sim, client, headers = env
    cid = sim.running_campaigns(A)[0]
    first = client.fota(devices_path(A, cid), headers).json()
    imeis = [d["deviceId"] for d in first["deviceList"]]
    middle = client.fota(devices_path(A, cid), headers, lastSeenDeviceId=imeis[9]).json()
    assert [d["deviceId"] for d in middle["deviceList"]] == imeis[10:]
    assert middle["totalDevice"] == first["totalDevice"]
    not_in_campaign = client.pages(A, headers)[0]["deviceList"]
    outsider = next(d["deviceId"] for d in not_in_campaign if d["deviceId"] not in imeis)
    for bad in ("abc", outsider, "1" * 15):
        r = client.fota(devices_path(A, cid), headers, lastSeenDeviceId=bad)
        assert r.status_code == 400
        assert r.json() == {"errorCode": "INVALID_PARAMETER", "errorMessage": "LastSeenDeviceId Not Valid"}
    for unknown in (str(uuid.UUID(int=7)), "nope", sim.running_campaigns(B)[0]):
        r = client.fota(devices_path(A, unknown), headers)
        assert r.status_code == 400 and r.json() == {
            "errorCode": "INVALID_PARAMETER",
            "errorMessage": "Invalid campaignId",
        }


def test_failed_share_override_for_an_alert(env):
    sim, client, headers = env
    running = sim.running_campaigns(A)
    seeded = {cid: sim.campaign_truth(A).campaigns[cid].devices for cid in running}
    assert all(c["UpgradeFailed"] / sum(c.values()) < 0.1 for c in seeded.values())
    sim.set_campaign_failed_share(A, 0.6)
    for cid in running:
        devices = listed(walk_devices(client, headers, A, cid), "deviceList")
        failed = sum(d["status"] == "UpgradeFailed" for d in devices)
        assert abs(failed - 0.6 * len(devices)) < 1
        assert Counter(d["status"] for d in devices) == sim.campaign_truth(A).campaigns[cid].devices
    ended = next(cid for cid, f in sim.campaign_truth(A).campaigns.items() if f.status == "CampaignEnded")
    before = sim.campaign_truth(A).campaigns[ended].devices
    sim.set_campaign_failed_share(A, 1.0, campaign_id=ended)
    after = sim.campaign_truth(A).campaigns[ended].devices
    assert after == {"UpgradeFailed": sum(before.values())}
    sim.set_campaign_failed_share(A, None)
    sim.set_campaign_failed_share(A, None, campaign_id=ended)
    assert {cid: sim.campaign_truth(A).campaigns[cid].devices for cid in running} == seeded
    with pytest.raises(ValueError):
        sim.set_campaign_failed_share(A, 1.5)
    with pytest.raises(KeyError):
        sim.set_campaign_failed_share(A, 0.5, campaign_id="nope")


def test_running_campaigns_progress_with_generations(env):
    sim, client, headers = env
    cid = sim.running_campaigns(A)[0]
    before = sim.campaign_truth(A).campaigns[cid].devices
    for _ in range(3):
        sim.advance()
    after = sim.campaign_truth(A).campaigns[cid].devices
    assert after["UpgradeSuccess"] > before["UpgradeSuccess"]
    assert after["UpgradeFailed"] == before["UpgradeFailed"] and sum(after.values()) == sum(before.values())
    served = listed(walk_devices(client, headers, A, cid), "deviceList")
    assert Counter(d["status"] for d in served) == after
    finished = {f.id: f.devices for f in sim.campaign_truth(A).campaigns.values() if f.status == "CampaignEnded"}
    assert set().union(*finished.values()) <= {"UpgradeSuccess", "UpgradeFailed"}


def test_campaigns_are_deterministic_per_seed_and_account():
    def facts(seed):
        sim = Simulator({A: 1000, B: 1000}, seed=seed)
        return {acc: sim.campaign_truth(acc) for acc in (A, B)}

    first, again, other = facts(3), facts(3), facts(4)
    assert first == again
    assert first[A].campaigns.keys() != first[B].campaigns.keys()
    assert first[A].campaigns.keys() != other[A].campaigns.keys()


def test_small_and_empty_accounts():
    with Simulator({A: 40, EMPTY: 0}, seed=4, campaign_devices=1000) as small:
        c2 = Client(small.base_url)
        h2 = c2.connect()
        per_model = Counter(AccountFleet(4, A, 40).model_of(idx) for idx in range(40))
        for facts in small.campaign_truth(A).campaigns.values():
            if facts.status != "CampaignRequestFailed":  # capped by the fleet
                assert sum(facts.devices.values()) == per_model[(facts.make, facts.model)]
        empty = small.campaign_truth(EMPTY)
        assert sum(empty.by_status.values()) == 8
        for cid in empty.campaigns:
            page = c2.fota(devices_path(EMPTY, cid), h2).json()
            assert page["totalDevice"] == 0 and page["hasMoreData"] is False and not page.get("deviceList")


@pytest.mark.parametrize("n", [0, 1, 7, 250, 1001])
def test_largest_remainder_keeps_the_total(n):
    shares = [0.013, 0.5, 0.2, 0.2, 0.087]
    counts = _largest_remainder(shares, n)
    assert sum(counts) == n and all(abs(c - s * n) < 1 for c, s in zip(counts, shares, strict=True))
