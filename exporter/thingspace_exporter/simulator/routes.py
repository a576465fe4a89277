"""The API's paths: which endpoint a request path names, and the method it takes."""

from __future__ import annotations

TOKEN_PATH = "/api/ts/v1/oauth2/token"
LOGIN_PATH = "/api/m2m/v1/session/login"
LOGOUT_PATH = "/api/m2m/v1/session/logout"
DEVICES_PREFIX = "/api/fota/v3/devices/"
FIRMWARE_PREFIX = "/api/fota/v3/firmware/"
SUBSCRIPTIONS_PREFIX = "/api/fota/v3/subscriptions/"
REPORTS_PREFIX = "/api/fota/v3/reports/"


def route(path: str) -> tuple[str, str, str] | None:
    """(endpoint, allowed method, raw account segment) or None if unknown.

    For ``campaign_devices`` the segment is "ACCOUNT/CAMPAIGN", both still
    percent-encoded (so the slash between them is the only one).
    """
    fixed = {TOKEN_PATH: "token", LOGIN_PATH: "login", LOGOUT_PATH: "logout"}
    if path in fixed:
        return fixed[path], "POST", ""
    if path.startswith(DEVICES_PREFIX):
        segment = path[len(DEVICES_PREFIX) :]
        if segment and "/" not in segment:
            return "devices", "GET", segment
    for prefix, endpoint in ((FIRMWARE_PREFIX, "firmware"), (SUBSCRIPTIONS_PREFIX, "subscriptions")):
        segment = path[len(prefix) :] if path.startswith(prefix) else ""
        if segment and "/" not in segment:
            return endpoint, "GET", segment
    parts = path[len(REPORTS_PREFIX) :].split("/") if path.startswith(REPORTS_PREFIX) else []
    if len(parts) == 3 and parts[0] and parts[1:] == ["firmware", "campaigns"]:
        return "campaigns", "GET", parts[0]
    if len(parts) == 4 and parts[0] and parts[1] == "campaigns" and parts[2] and parts[3] == "devices":
        return "campaign_devices", "GET", f"{parts[0]}/{parts[2]}"
    return None
