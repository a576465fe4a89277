"""Firmware campaigns: how many there are in each status, and for the running ones (up to
THINGSPACE_MAX_RUNNING_CAMPAIGNS per account) their devices by upgrade status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics import BG
from ..thingspace.client import segment
from ..thingspace.decoding import Scalar, text
from ..thingspace.errors import ApiError, Stopped
from ..thingspace.paging import cursor_pages
from .base import Collector, Context, Snapshot

CAMPAIGNS_PATH = "/api/fota/v3/reports/{account}/firmware/campaigns"
CAMPAIGN_DEVICES_PATH = "/api/fota/v3/reports/{account}/campaigns/{campaign}/devices"


class Campaign(msgspec.Struct, gc=False):
    id: Scalar = None
    campaignName: Scalar = None
    firmwareFrom: Scalar = None
    firmwareTo: Scalar = None
    make: Scalar = None
    model: Scalar = None


class CampaignPage(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenCampaignId: Any = None
    campaignList: list[Campaign] | None = None


class CampaignDevice(msgspec.Struct, gc=False):
    deviceId: Scalar = None
    status: Scalar = None


class CampaignDevicePage(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenDeviceId: Any = None
    deviceList: list[CampaignDevice] | None = None


CAMPAIGNS = msgspec.json.Decoder(CampaignPage)
CAMPAIGN_DEVICES = msgspec.json.Decoder(CampaignDevicePage)

# The SDKs' enum: one request chain each, since the endpoint wants a status. New ones may appear;
# only these can be asked for.
STATUSES = (
    "CampaignRequestPending",
    "CampaignRequestFailed",
    "CampaignRequestQueued",
    "CampaignScheduled",
    "CampaignEnded",
    "CampaignCancelled",
    "CampaignAborted",
    "CampaignFailed",
)
RUNNING = "CampaignScheduled"  # accepted, and running until its end date


@dataclass(frozen=True)
class RunningCampaign:
    id: str
    name: str
    make: str
    model: str
    firmware_from: str
    firmware_to: str
    devices: Mapping[str, int]  # upgrade status -> devices


@dataclass(frozen=True)
class CampaignData:
    by_status: Mapping[str, int]
    running: tuple[RunningCampaign, ...]
    running_skipped: int  # running campaigns beyond the limit, whose devices were not counted


class CampaignsCollector(Collector):
    name = "campaigns"
    endpoints = ("campaigns", "campaign_devices")

    def collect(self, account: str, deadline: float, context: Context) -> CampaignData:
        client, limit = self.tools.client, self.tools.settings.max_running_campaigns
        path = CAMPAIGNS_PATH.format(account=segment(account))
        by_status, running = {}, []
        for status in STATUSES:

            def page(cursor: str, status: str = status) -> CampaignPage:
                params = {"campaignStatus": status, "lastSeenCampaignId": cursor}
                return client.fetch_json("campaigns", path, params, deadline, CAMPAIGNS)

            campaigns = [
                c
                for page in cursor_pages(
                    page,
                    "campaignList",
                    "lastSeenCampaignId",
                    "campaigns",
                )
                for c in page
            ]
            by_status[status] = len(campaigns)
            if status == RUNNING:
                running = campaigns
        drilled = tuple(self._drill(account, c, deadline) for c in running[:limit])
        return CampaignData(by_status, drilled, max(0, len(running) - limit))

    def _drill(self, account: str, campaign: Any, deadline: float) -> RunningCampaign:
        ident = text(campaign.id)
        if not ident:
            raise ApiError("bad_page", "a running campaign without an id", "campaigns")
        path = CAMPAIGN_DEVICES_PATH.format(account=segment(account), campaign=segment(ident))
        devices: Counter = Counter()
        for page in cursor_pages(
            lambda cursor: self.tools.client.fetch_json(
                "campaign_devices", path, {"lastSeenDeviceId": cursor}, deadline, CAMPAIGN_DEVICES
            ),
            "deviceList",
            "lastSeenDeviceId",
            "campaign_devices",
        ):
            if self.tools.stop.is_set():
                raise Stopped()
            devices.update(text(d.status) for d in page)
        return RunningCampaign(
            ident,
            text(campaign.campaignName),
            text(campaign.make),
            text(campaign.model),
            text(campaign.firmwareFrom),
            text(campaign.firmwareTo),
            dict(devices),
        )

    def summary(self, data: CampaignData) -> dict[str, Any]:
        return {"campaigns": sum(data.by_status.values()), "running": len(data.running) + data.running_skipped}

    @staticmethod
    def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
        campaigns = GaugeMetricFamily(
            "thingspace_campaigns", f"Firmware campaigns by status. {BG}", labels=["account", "status"]
        )
        devices = GaugeMetricFamily(
            "thingspace_campaign_devices",
            f"Devices of a running campaign by upgrade status. {BG}",
            labels=["account", "campaign_id", "campaign_name", "status"],
        )
        info = GaugeMetricFamily(
            "thingspace_campaign_info",
            f"What a running campaign upgrades (always 1). {BG}",
            labels=["account", "campaign_id", "campaign_name", "make", "model", "firmware_from", "firmware_to"],
        )
        skipped = GaugeMetricFamily(
            "thingspace_campaigns_running_uncounted",
            f"Running campaigns whose devices were not counted, beyond THINGSPACE_MAX_RUNNING_CAMPAIGNS. {BG}",
            labels=["account"],
        )
        for snap in snaps:
            data, account = snap.data, snap.account
            for status, n in sorted(data.by_status.items()):
                campaigns.add_metric([account, status], n)
            for c in data.running:
                info.add_metric([account, c.id, c.name, c.make, c.model, c.firmware_from, c.firmware_to], 1)
                for status, n in sorted(c.devices.items()):
                    devices.add_metric([account, c.id, c.name, status], n)
            skipped.add_metric([account], data.running_skipped)
        yield from (campaigns, devices, info, skipped)
