"""collectors.campaigns: campaigns by status, each status paged; running campaigns' devices, bounded."""

from __future__ import annotations

import json
import re

import pytest
from api_fixtures import FOTA, calls, campaign
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors import Tools
from thingspace_exporter.collectors.campaigns import STATUSES, CampaignsCollector
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import ACCOUNT

CAMPAIGNS = re.compile(re.escape(f"{FOTA}/reports/{ACCOUNT}/firmware/campaigns") + r"\?.*")


def serve_campaigns(rsps, by_status: dict[str, list[dict]], page_size: int = 2):
    def reply(request):
        query = dict(p.split("=", 1) for p in request.url.split("?", 1)[1].split("&"))
        found = by_status.get(query["campaignStatus"], [])
        start = (
            0
            if query["lastSeenCampaignId"] == "0"
            else next(i for i, c in enumerate(found) if c["id"] == query["lastSeenCampaignId"]) + 1
        )
        chunk = found[start : start + page_size]
        more = start + page_size < len(found)
        body = {"hasMoreData": more, "lastSeenCampaignId": chunk[-1]["id"] if more else "0", "campaignList": chunk}
        return 200, {}, json.dumps(body)

    rsps.add_callback("GET", CAMPAIGNS, callback=reply)


def serve_devices(rsps, ident: str, statuses: list[str], page_size: int = 1000):
    def reply(request):
        cursor = request.url.split("lastSeenDeviceId=")[1]
        start = 0 if cursor == "0" else int(cursor)
        chunk = statuses[start : start + page_size]
        more = start + page_size < len(statuses)
        body = {
            "totalDevice": len(statuses),
            "hasMoreData": more,
            "lastSeenDeviceId": str(start + len(chunk)) if more else "0",
            "deviceList": [
                {"deviceId": f"35{i:013d}", "status": s, "resultReason": "", "updatedTime": ""}
                for i, s in enumerate(chunk, start)
            ],
        }
        return 200, {}, json.dumps(body)

    rsps.add_callback(
        "GET", re.compile(re.escape(f"{FOTA}/reports/{ACCOUNT}/campaigns/{ident}/devices") + r"\?.*"), callback=reply
    )


def test_counts_by_status_and_running_campaigns_drilled_into(rsps, client, settings_factory, log, stop):
    serve_campaigns(
        rsps,
        {
            "CampaignScheduled": [campaign("c1"), campaign("c2"), campaign("c3")],
            "CampaignEnded": [campaign(f"e{i}", "CampaignEnded") for i in range(5)],
        },
    )
    serve_devices(rsps, "c1", ["UpgradeSuccess"] * 3 + ["UpgradeFailed"] * 2 + ["DownloadPending"], page_size=4)
    serve_devices(rsps, "c2", [])
    collector = CampaignsCollector(Tools(client, settings_factory(max_running_campaigns=2), stop, log, client.metrics))
    data = collector.collect(ACCOUNT, 1e18, {})
    assert data.by_status == {s: {"CampaignScheduled": 3, "CampaignEnded": 5}.get(s, 0) for s in STATUSES}
    assert [c.id for c in data.running] == ["c1", "c2"] and data.running_skipped == 1
    assert data.running[0].devices == {"UpgradeSuccess": 3, "UpgradeFailed": 2, "DownloadPending": 1}
    assert data.running[1].devices == {}
    assert calls(rsps, f"/reports/{ACCOUNT}/campaigns/c3/devices") == 0  # beyond the limit
    fams = {f.name: f for f in CampaignsCollector.families([Snapshot(ACCOUNT, data, 1.0, "campaigns")])}
    assert len(fams["thingspace_campaigns"].samples) == len(STATUSES)
    assert fams["thingspace_campaigns_running_uncounted"].samples[0].value == 1
    info = fams["thingspace_campaign_info"].samples[0].labels
    assert info == {
        "account": ACCOUNT,
        "campaign_id": "c1",
        "campaign_name": "campaign c1",
        "make": "NORDIC SEMICONDUCTOR ASA",
        "model": "NRF9160",
        "firmware_from": "fw-1",
        "firmware_to": "fw-2",
    }


def test_no_running_campaign_counted_when_the_limit_is_zero(rsps, client, settings_factory, log, stop):
    serve_campaigns(rsps, {"CampaignScheduled": [campaign("c1")]})
    data = CampaignsCollector(
        Tools(client, settings_factory(max_running_campaigns=0), stop, log, client.metrics)
    ).collect(ACCOUNT, 1e18, {})
    assert data.running == () and data.running_skipped == 1


@pytest.mark.parametrize(
    "page,reason",
    [
        ({"hasMoreData": True, "lastSeenCampaignId": "0", "campaignList": [campaign("c1")]}, "stuck_cursor"),
        ({"hasMoreData": True, "campaignList": [campaign("c1")]}, "missing_cursor"),
        ({"hasMoreData": True, "lastSeenCampaignId": "c1", "campaignList": []}, "empty_page"),
        ({"hasMoreData": "maybe", "campaignList": []}, "bad_page"),
        ({"hasMoreData": False, "campaignList": [{"id": {"nested": 1}}]}, "bad_page"),
    ],
)
def test_a_bad_campaign_page_fails_with_its_reason(rsps, client, settings_factory, log, stop, page, reason):
    rsps.get(CAMPAIGNS, json=page)
    with pytest.raises(ApiError) as e:
        CampaignsCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(ACCOUNT, 1e18, {})
    assert (e.value.reason, e.value.endpoint) == (reason, "campaigns")
