"""`responses` fixtures of the FOTA v3 shapes in api-facts.md, and a real Client over them."""

from __future__ import annotations

import pytest
import responses
from thingspace_exporter.thingspace.auth import Auth
from thingspace_exporter.thingspace.client import Client
from thingspace_exporter.thingspace.transport import Transport
from ts_builders import BASE, CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME

FOTA = BASE + "/api/fota/v3"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        r.post(BASE + "/api/ts/v1/oauth2/token", json={"access_token": "tok-1", "expires_in": 3600})
        r.post(BASE + "/api/m2m/v1/session/login", json={"sessionToken": "sess-1"})
        yield r


@pytest.fixture
def client(rsps, metrics, stop, log):
    transport = Transport(BASE, metrics, stop, retries=0)
    yield Client(transport, Auth(transport, CLIENT_ID, CLIENT_SECRET, USERNAME, PASSWORD, metrics, log), metrics)
    transport.close()


def campaign(ident: str, status: str = "CampaignScheduled", **fields) -> dict:
    doc = {
        "id": ident,
        "campaignName": f"campaign {ident}",
        "firmwareFrom": "fw-1",
        "firmwareTo": "fw-2",
        "make": "NORDIC SEMICONDUCTOR ASA",
        "model": "NRF9160",
        "protocol": "LWM2M",
        "startDate": "2026-11-01",
        "endDate": "2026-12-31",
        "status": status,
    }
    doc.update(fields)
    return doc


def calls(rsps, path: str) -> int:
    return sum(1 for c in rsps.calls if c.request.url.split("?")[0] == FOTA + path)
