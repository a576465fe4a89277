"""Incidents in the simulator: parsed like --schedule, applied before a request, undone by themselves."""

from __future__ import annotations

import time

import pytest
import requests
from thingspace_exporter.simulator import Simulator, incidents
from thingspace_exporter.simulator.cli import parser
from thingspace_exporter.simulator.sim import INCIDENTS_PATH

A, B = "0000123456-00001", "0000123456-00002"


@pytest.fixture
def sim():
    with Simulator({A: 800, B: 300}, seed=3) as s:
        yield s


def test_parse_and_cli():
    assert incidents.parse("silent:A/BG96@30+120") == ("silent", "A/BG96", 30.0, 120.0)
    assert incidents.parse("throttled@5") == ("throttled", None, 5.0, incidents.DEFAULT_DURATION)
    for bad in ("silent", "nope@1", "throttled:x@1", "inactive@-1", "inactive@1+x"):
        with pytest.raises(ValueError):
            incidents.parse(bad)
    assert parser().parse_args(["--incident", "licences:A@0+5"]).incident == [("licences", "A", 0.0, 5.0)]
    with pytest.raises(SystemExit):
        parser().parse_args(["--incident", "melt@1"])


def test_each_kind_applies_and_ends_by_itself(sim):
    seeded = sim.licenses(B)
    for kind, target in (("inactive", A), ("campaign_failing", B), ("licences", B), ("silent", f"{A}/BG96")):
        sim.add_incident(kind, target, duration=1.0)
    sim.add_incident("throttled", duration=1.0)
    reply = requests.get(sim.base_url + INCIDENTS_PATH, timeout=5).json()["incidents"]
    assert {(i["kind"], i["active"]) for i in reply} == {(k, True) for k in incidents.KINDS}
    assert A in sim.inactive
    assert sim._books[B].running_failed_share == incidents.CAMPAIGN_FAILED_SHARE
    count, used = sim.licenses(B)
    assert used / count > 0.95
    pinned = time.time() - incidents.SILENT_AGE
    bg96 = [t for (make, model), ts in sim.truth(A).last_connection.items() if model == "BG96" for t in ts]
    assert bg96 and max(bg96) <= pinned + 5
    throttled = [requests.post(sim.base_url + "/api/ts/v1/oauth2/token", timeout=5).status_code for _ in range(30)]
    assert throttled.count(429) >= 5

    time.sleep(1.1)
    reply = requests.get(sim.base_url + INCIDENTS_PATH, timeout=5).json()["incidents"]
    assert not any(i["active"] for i in reply)
    assert A not in sim.inactive and sim._books[B].running_failed_share is None and sim.licenses(B) == seeded
    bg96 = [t for (make, model), ts in sim.truth(A).last_connection.items() if model == "BG96" for t in ts]
    assert max(bg96) > pinned + 3600
    after = [requests.post(sim.base_url + "/api/ts/v1/oauth2/token", timeout=5).status_code for _ in range(10)]
    assert 429 not in after


def test_the_control_endpoint_refuses_what_it_cannot_do(sim):
    url = sim.base_url + INCIDENTS_PATH
    assert requests.post(url, json={"kind": "melt"}, timeout=5).status_code == 400
    assert requests.post(url, json={"kind": "inactive", "target": "9999"}, timeout=5).status_code == 400
    assert requests.post(url, data=b"{", timeout=5).status_code == 400
    assert requests.post(url, json={"kind": "licences", "target": B, "after": 60}, timeout=5).status_code == 201
    assert [i["active"] for i in requests.get(url, timeout=5).json()["incidents"]] == [False]
