"""Authenticated calls to the FOTA v3 API; a rejected credential is renewed and the call retried once."""

from __future__ import annotations

import time
from urllib.parse import quote

from .auth import Auth
from .decode import Page, decode_page
from .errors import ApiError
from .metrics import ExporterMetrics
from .transport import Transport

DEVICES_PATH = "/api/fota/v3/devices/"


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
                body = self.transport.request(endpoint, "GET", path, params=params, headers=headers,
                                              deadline=deadline)
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
        path = DEVICES_PATH + quote(account, safe="")
        for attempt in (1, 2):
            body = self.get("devices", path, params, deadline)
            fetched_at = time.time()
            try:
                page = decode_page(body)
            except ApiError as exc:
                self.metrics.failures.labels("devices", exc.reason).inc()
                # A body cut short or mangled on the way is worth one more try; a second is not.
                if attempt == 1 and exc.reason == "bad_json":
                    self.metrics.retries.labels("devices", exc.reason).inc()
                    continue
                raise
            self.metrics.pages.labels(account).inc()
            return page, fetched_at
        raise AssertionError("unreachable")
