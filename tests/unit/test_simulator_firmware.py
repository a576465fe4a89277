"""The simulator's firmware endpoint: upgrade paths from the fleet's firmware tables."""

from __future__ import annotations

from collections import Counter

import pytest
from test_simulator_server import Client
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.firmware import catalog
from thingspace_exporter.simulator.fleet import MODELS
from thingspace_exporter.simulator.truth import parse_time

A, B = "0000123456-00001", "0000123456-00002"
KEYS = {"firmwareName", "firmwareFrom", "firmwareTo", "launchDate", "releaseNote", "model", "make", "protocol"}
VERSIONS = {(make, model): [fw for fw, _ in table] for make, model, _, table in MODELS}


@pytest.fixture(scope="module")
def env():
    with Simulator({A: 3000, B: 1000}, seed=11) as sim:
        client = Client(sim.base_url)
        yield sim, client, client.connect()


def served(client, headers, account=A, **params) -> list[dict]:
    r = client.fota(f"firmware/{account}", headers, **params)
    assert r.status_code == 200, r.text
    return r.json()


def as_paths(records: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(r["make"], r["model"], r["firmwareFrom"], r["firmwareTo"]) for r in records]


def test_shape_and_consistency_with_the_fleet(env):
    sim, client, headers = env
    records = served(client, headers, protocol="all")
    assert records and all(r.keys() == KEYS for r in records)
    for r in records:
        versions = VERSIONS[(r["make"], r["model"])]
        assert versions.index(r["firmwareFrom"]) < versions.index(r["firmwareTo"])  # always an upgrade
        assert r["protocol"] in ("LWM2M", "OMD-DM") and r["firmwareName"]
        assert parse_time(r["launchDate"]) is not None and isinstance(r["releaseNote"], str)
    launches = {}
    for r in records:  # a version launches once, whichever path leads to it
        assert launches.setdefault((r["model"], r["firmwareTo"]), r["launchDate"]) == r["launchDate"]


@pytest.mark.parametrize(
    "protocol, expected",
    [
        ("LWM2M", {"LWM2M"}),
        ("lwm2m", {"LWM2M"}),
        ("OMD-DM", {"OMD-DM"}),
        ("OMADM", {"OMD-DM"}),
        ("all", {"LWM2M", "OMD-DM"}),
        ("", {"LWM2M", "OMD-DM"}),
        (None, {"LWM2M", "OMD-DM"}),
        ("HTTP", set()),
    ],
)
def test_protocol_filter_matches_truth(env, protocol, expected):
    sim, client, headers = env
    records = served(client, headers, **({} if protocol is None else {"protocol": protocol}))
    assert {r["protocol"] for r in records} == expected
    assert as_paths(records) == sim.firmware_paths(A, protocol)
    if expected == {"LWM2M", "OMD-DM"}:
        by_protocol = [r for p in ("LWM2M", "OMD-DM") for r in served(client, headers, protocol=p)]
        assert Counter(map(str, records)) == Counter(map(str, by_protocol))


def test_every_older_lwm2m_firmware_has_a_path_to_the_newest_and_some_models_have_none(env):
    sim, client, headers = env
    paths = sim.firmware_paths(A)  # LWM2M by default, as truth()
    models = {(make, model) for make, model, _, _ in paths}
    for make, model in models:
        versions = VERSIONS[(make, model)]
        for older in versions[:-1]:
            assert (make, model, older, versions[-1]) in paths
    assert len(models) < len(VERSIONS)  # BG96-NA has only device-management packages
    skipped = [
        account
        for account in (f"0000123456-{n:05d}" for n in range(1, 40))
        if len({p[:2] for p in catalog(11, account)}) < len(VERSIONS)
    ]
    assert skipped and len(skipped) < 39  # some accounts lack a model's packages entirely


def test_deterministic_per_seed_and_account():
    assert catalog(3, A) == catalog(3, A)
    assert any(catalog(3, f"0000123456-{n:05d}") != catalog(3, A) for n in range(2, 12))


def test_upgradable_agrees_with_the_device_and_firmware_lists(env):
    sim, client, headers = env
    for protocol in ("LWM2M", "all"):
        sources = {(m, mo, src) for m, mo, src, _ in as_paths(served(client, headers, protocol=protocol))}
        devices = [d for p in client.pages(A, headers, protocol=protocol) for d in p.get("deviceList") or []]
        mine = Counter(
            key for key in ((d.get("make"), d.get("model"), d.get("firmware")) for d in devices) if key in sources
        )
        assert sim.upgradable(A, protocol) == mine and sum(mine.values()) > 0
