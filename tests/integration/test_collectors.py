"""Every collector against the simulator over loopback HTTP: exact values, failures that stay in
their collector, and collectors switched off making no calls."""

from __future__ import annotations

from thingspace_exporter.collectors.lastconnection import parse_time

from tests.sim_client import signed_in

from .conftest import CREDS, assert_matches, counter, exposition, value

A, B = "0000123456-00001", "0000123456-00002"
ACCOUNTS = {A: 2600, B: 700}


def series(text: str, name: str, *labels: str) -> dict[tuple, float]:
    """{label values: value} of one metric, for the named labels."""
    return {tuple(dict(k)[label] for label in labels): v for k, v in counter(text, name).items()}


def listed_devices(sim, account: str) -> list[dict]:
    """The device list as a plain HTTP client reads it, for a brute-force answer."""
    http = signed_in(sim.base_url, (CREDS["client_id"], CREDS["client_secret"]), (CREDS["username"], CREDS["password"]))
    devices, cursor = [], "0"
    while True:
        page = http.get(
            f"{sim.base_url}/api/fota/v3/devices/{account}",
            params={"lastSeenDeviceId": cursor, "protocol": "LWM2M"},
        ).json()
        devices += page.get("deviceList") or []
        if not page["hasMoreData"]:
            return devices
        cursor = page["lastSeenDeviceId"]


def test_every_collector_publishes_exact_values(sim_factory, exporter_factory):
    sim = sim_factory(ACCOUNTS, campaigns=12, campaign_page_size=3, campaign_device_page_size=50)
    exp = exporter_factory(sim, stalest_devices=15, max_concurrency=1)
    assert exp.collection.run_cycle()
    text = exposition(exp)
    assert_matches(text, sim, ACCOUNTS)
    for account in ACCOUNTS:
        paths = series(
            text, "thingspace_firmware_upgrade_info", "account", "make", "model", "firmware_from", "firmware_to"
        )
        assert {k[1:] for k in paths if k[0] == account} == set(sim.firmware_paths(account))
        upgradable = series(text, "thingspace_devices_upgradable", "account", "make", "model", "firmware")
        assert {k[1:]: v for k, v in upgradable.items() if k[0] == account} == dict(sim.upgradable(account))
        assert sum(sim.upgradable(account).values()) > 0
        total, used = sim.licenses(account)
        assert value(text, "thingspace_licenses", account=account) == total
        assert value(text, "thingspace_licenses_used", account=account) == used
        truth = sim.campaign_truth(account)
        by_status = series(text, "thingspace_campaigns", "account", "status")
        assert {k[1]: v for k, v in by_status.items() if k[0] == account} == truth.by_status
        running = {c.id: c for c in truth.campaigns.values() if c.status == "CampaignScheduled"}
        assert running
        devices = series(text, "thingspace_campaign_devices", "account", "campaign_id", "status")
        for ident, facts in running.items():
            assert {k[2]: v for k, v in devices.items() if k[:2] == (account, ident)} == dict(facts.devices)
        info = series(
            text, "thingspace_campaign_info", "account", "campaign_id", "make", "model", "firmware_from", "firmware_to"
        )
        assert {k[1:] for k in info if k[0] == account} == {
            (c.id, c.make, c.model, c.firmware_from, c.firmware_to) for c in running.values()
        }
        # the stalest devices: the 15 oldest known last connections, as a plain client finds them
        times = (
            (parse_time(d.get("lastConnectionTime") or d.get("lastConnectTime")), d["deviceId"])
            for d in listed_devices(sim, account)
        )
        want = [(round(when, 3), ident) for when, ident in sorted(t for t in times if t[0] is not None)][:15]
        stalest = series(text, "thingspace_device_last_connection_timestamp_seconds", "account", "device_id")
        got = sorted((round(v, 3), k[1]) for k, v in stalest.items() if k[0] == account)
        assert got == want
    for collector in ("devices", "firmware", "licenses", "campaigns"):
        assert value(text, "thingspace_collector_up", account=A, collector=collector) == 1.0


def test_a_failing_collector_keeps_to_itself(sim_factory, exporter_factory):
    sim = sim_factory(ACCOUNTS)
    exp = exporter_factory(sim, max_retries=0)
    assert exp.collection.run_cycle()
    campaigns_before = series(exposition(exp), "thingspace_campaigns", "account", "status")
    sim.faults.schedule("server_error", count=10**6, endpoint="campaigns")
    sim.faults.schedule("malformed_json", count=10**6, endpoint="subscriptions")
    assert exp.collection.run_cycle() is False
    text = exposition(exp)
    assert_matches(text, sim, ACCOUNTS)  # the device counts are whole and exact
    assert value(text, "thingspace_up", account=A) == 1.0
    assert value(text, "thingspace_collector_up", account=A, collector="campaigns") == 0.0
    assert (
        value(text, "thingspace_collector_errors_total", account=A, collector="campaigns", reason="server_error") == 1.0
    )
    assert value(text, "thingspace_collector_errors_total", account=A, collector="licenses", reason="bad_json") == 1.0
    assert series(text, "thingspace_campaigns", "account", "status") == campaigns_before  # the last good one


def test_collectors_switched_off_make_no_calls_and_publish_nothing(sim_factory, exporter_factory):
    sim = sim_factory(ACCOUNTS)
    exp = exporter_factory(sim, collectors="devices,licenses")
    assert exp.collection.run_cycle()
    text = exposition(exp)
    assert sim.requests["firmware"] == sim.requests["campaigns"] == sim.requests["campaign_devices"] == 0
    assert sim.requests["subscriptions"] == len(ACCOUNTS)
    for name in ("thingspace_campaigns", "thingspace_firmware_upgrade_info", "thingspace_devices_upgradable"):
        assert f"# HELP {name} " not in text
    assert value(text, "thingspace_licenses", account=B) == sim.licenses(B)[0]
    assert value(text, "thingspace_collector_up", account=A, collector="campaigns") is None
