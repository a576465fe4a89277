"""API errors: parsing the real API's error shapes into a reason label."""

from __future__ import annotations

from typing import Any

import msgspec

from ..logs import redactor

SESSION_CODE = "SessionToken"
TOKEN_FAULTS = ("900901", "900902")


class ApiError(Exception):
    """A request or response that failed; `reason` is a short metric label."""

    def __init__(
        self, reason: str, message: str, endpoint: str = "", status: int | None = None, code: str | None = None
    ) -> None:
        self.reason = reason
        self.endpoint = endpoint
        self.status = status
        self.code = code
        # Bodies come from the server: never let one carry a secret into a log or traceback.
        self.message = redactor.redact(message)[:300]
        super().__init__(self.describe())

    def __str__(self) -> str:  # reason and endpoint may be refined after construction
        return self.describe()

    def describe(self) -> str:
        parts = [self.endpoint or "api", self.reason]
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        return ": ".join(parts) + (f" ({self.message})" if self.message else "")


class Stopped(Exception):
    """The exporter is shutting down."""


def parse_error_body(body: bytes) -> tuple[str | None, str]:
    """(code, message) from any of the API's error shapes, or (None, a hint) for non-JSON."""
    try:
        doc: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:80].decode("utf-8", "replace").strip().replace("\n", " ")
        return None, ("non-JSON body: " + text) if text else "empty body"
    if not isinstance(doc, dict):
        return None, "unexpected error body"
    fault = doc.get("fault")
    if isinstance(fault, dict):
        return _text(fault.get("code")), _text(fault.get("message") or fault.get("description")) or ""
    if "errorCode" in doc or "errorMessage" in doc:
        return _text(doc.get("errorCode")), _text(doc.get("errorMessage")) or ""
    if "error" in doc:
        return _text(doc.get("error")), _text(doc.get("error_description")) or ""
    return None, "unexpected error body"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def classify(status: int, code: str | None, message: str) -> str:
    """Reason label for a non-2xx response."""
    if code and SESSION_CODE in code:
        return "session_rejected"
    if status == 401 and code in TOKEN_FAULTS:
        return "token_rejected"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    if code == "INVALID_PARAMETER" and "lastseendeviceid" in message.lower():
        return "invalid_cursor"
    if code == "INVALID_PARAMETER":
        return "invalid_parameter"
    if code == "INVALID_ACCESS" or status == 403:
        return "access_denied"
    if code in ("invalid_client", "invalid_grant", "unauthorized_client"):
        return "credentials_rejected"
    return "client_error"


def api_error(endpoint: str, status: int, body: bytes) -> ApiError:
    code, message = parse_error_body(body)
    return ApiError(classify(status, code, message), message, endpoint, status, code)
