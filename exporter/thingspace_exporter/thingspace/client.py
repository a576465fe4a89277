"""Authenticated calls to the FOTA v3 API; a rejected credential is renewed and the call retried once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ..metrics import ExporterMetrics
from .auth import Auth
from .decoding import CampaignDevicePage, CampaignPage, FirmwarePath, Page, Subscription, decode, decode_page
from .errors import ApiError
from .transport import Transport

DEVICES_PATH = "/api/fota/v3/devices/"
FIRMWARE_PATH = "/api/fota/v3/firmware/{account}"
SUBSCRIPTIONS_PATH = "/api/fota/v3/subscriptions/{account}"
CAMPAIGNS_PATH = "/api/fota/v3/reports/{account}/firmware/campaigns"
CAMPAIGN_DEVICES_PATH = "/api/fota/v3/reports/{account}/campaigns/{campaign}/devices"


class Client:
    def __init__(self, transport: Transport, auth: Auth, metrics: ExporterMetrics, protocol: str) -> None:
        self.transport = transport
        self.auth = auth
        self.metrics = metrics
        self.protocol = protocol

    def get(self, endpoint: str, path: str, params: dict[str, str], deadline: float | None) -> bytes:
        for attempt in (1, 2):
            headers = self.auth.headers(deadline)
            headers["Accept"] = "application/json"
            headers["Content-Type"] = "application/json"  # the reference page lists it as required
            try:
                body = self.transport.request(endpoint, "GET", path, params=params, headers=headers, deadline=deadline)
            except ApiError as exc:
                if attempt == 1 and self.auth.rejected(exc, headers):
                    continue
                raise
            self.auth.touch()
            return body
        raise AssertionError("unreachable")

    def device_page(self, account: str, cursor: str, deadline: float | None = None) -> tuple[Page, float]:
        """One page of the account's device list, and the time it arrived."""
        params = {"lastSeenDeviceId": cursor}
        if self.protocol:
            params["protocol"] = self.protocol
        page, fetched_at = self._decoded("devices", DEVICES_PATH + _segment(account), params, deadline, decode_page)
        self.metrics.pages.labels(account).inc()
        return page, fetched_at

    def firmware(self, account: str, deadline: float | None = None) -> list[FirmwarePath]:
        """The upgrade paths (firmware from, to) of each make and model, for the configured protocol."""
        params = {"protocol": self.protocol} if self.protocol else {}
        paths = self._doc("firmware", FIRMWARE_PATH.format(account=_segment(account)), params, deadline)
        return paths or []

    def subscription(self, account: str, deadline: float | None = None) -> Subscription:
        return self._doc("subscriptions", SUBSCRIPTIONS_PATH.format(account=_segment(account)), {}, deadline)

    def campaign_page(self, account: str, status: str, cursor: str, deadline: float | None = None) -> CampaignPage:
        params = {"campaignStatus": status, "lastSeenCampaignId": cursor}
        return self._doc("campaigns", CAMPAIGNS_PATH.format(account=_segment(account)), params, deadline)

    def campaign_device_page(
        self, account: str, campaign: str, cursor: str, deadline: float | None = None
    ) -> CampaignDevicePage:
        path = CAMPAIGN_DEVICES_PATH.format(account=_segment(account), campaign=_segment(campaign))
        return self._doc("campaign_devices", path, {"lastSeenDeviceId": cursor}, deadline)

    def _doc(self, endpoint: str, path: str, params: dict[str, str], deadline: float | None) -> Any:
        return self._decoded(endpoint, path, params, deadline, lambda body: decode(endpoint, body))[0]

    def _decoded(
        self, endpoint: str, path: str, params: dict[str, str], deadline: float | None, parse: Callable[[bytes], Any]
    ) -> tuple[Any, float]:
        """GET and decode, with the time the response arrived."""
        for attempt in (1, 2):
            body = self.get(endpoint, path, params, deadline)
            fetched_at = time.time()
            try:
                return parse(body), fetched_at
            except ApiError as exc:
                self.metrics.failures.labels(endpoint, exc.reason).inc()
                # A body cut short or mangled on the way is worth one more try; a second is not.
                if attempt == 1 and exc.reason == "bad_json":
                    self.metrics.retries.labels(endpoint, exc.reason).inc()
                    continue
                raise
        raise AssertionError("unreachable")


def _segment(value: str) -> str:
    return quote(value, safe="")
