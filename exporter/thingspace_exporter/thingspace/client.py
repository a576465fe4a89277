"""Authenticated calls to the FOTA v3 API; a rejected credential is renewed and the call retried once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import msgspec

from ..metrics import ExporterMetrics
from .auth import Auth
from .decoding import decode
from .errors import ApiError
from .transport import Transport


class Client:
    def __init__(self, transport: Transport, auth: Auth, metrics: ExporterMetrics) -> None:
        self.transport = transport
        self.auth = auth
        self.metrics = metrics

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

    def fetch(
        self, endpoint: str, path: str, params: dict[str, str], deadline: float | None, parse: Callable[[bytes], Any]
    ) -> tuple[Any, float]:
        """GET and decode with `parse` (which raises ApiError), and the time the response arrived."""
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

    def fetch_json(
        self, endpoint: str, path: str, params: dict[str, str], deadline: float | None, decoder: msgspec.json.Decoder
    ) -> Any:
        """GET and decode a response of `endpoint` with a msgspec decoder."""
        return self.fetch(endpoint, path, params, deadline, lambda body: decode(decoder, body, endpoint))[0]


def segment(value: str) -> str:
    """A path segment: an account or campaign name, percent-encoded whole."""
    return quote(value, safe="")
