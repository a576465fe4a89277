"""Device-list pages and their errors (pure: the server only encodes them).

Account rule: a name that is not ``NNNNNNNNNN-NNNNN`` (10 digits, dash, 5
digits) gets "Invalid account name format"; a well-formed name that the
simulator was not configured with gets "Inactive account". Both are HTTP 400
``INVALID_PARAMETER``.

Cursor rule: "0" (or an absent/blank value) starts at the beginning; any other
value must be the IMEI of a device present in the current or the previous
generation, else 400 "LastSeenDeviceId Not Valid".
"""
from __future__ import annotations

import re

from .fleet import AccountFleet

ACCOUNT_FORMAT = re.compile(r"^\d{10}-\d{5}$")


class ApiError(Exception):
    """An error the device-list endpoint answers with (status + JSON body)."""

    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status = status
        self.body = body


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, {"errorCode": "INVALID_PARAMETER", "errorMessage": message})


def protocol_filter(value: str | None) -> str | None:
    """None means no filter (see fleet.py for the matching rule)."""
    if value is None or value.strip() == "" or value.strip().lower() == "all":
        return None
    return value.strip().upper()


def find_account(fleets: dict[str, AccountFleet], account: str) -> AccountFleet:
    fleet = fleets.get(account)
    if fleet is not None:
        return fleet
    if not ACCOUNT_FORMAT.match(account):
        raise invalid_parameter("Invalid account name format")
    raise invalid_parameter("Inactive account")


def start_index(fleet: AccountFleet, cursor: str | None, gen: int) -> int:
    cursor = (cursor or "").strip()
    if cursor in ("", "0"):
        return 0
    idx = fleet.index_of(cursor)
    if idx is None or not (fleet.present(idx, gen) or (gen > 0 and fleet.present(idx, gen - 1))):
        raise invalid_parameter("LastSeenDeviceId Not Valid")
    return idx + 1


def page(fleet: AccountFleet, gen: int, gen_times, cursor: str | None,
         protocol: str | None, page_size: int) -> dict:
    """One page: devices after the cursor, ascending, with a one-device look-ahead."""
    wanted = protocol_filter(protocol)
    devices: list[dict] = []
    more = False
    for d in fleet.scan(start_index(fleet, cursor, gen), gen, gen_times, wanted):
        if len(devices) == page_size:
            more = True
            break
        devices.append(d)
    body = {"accountName": fleet.account, "maxPageSize": page_size, "hasMoreData": more,
            "lastSeenDeviceId": devices[-1]["deviceId"] if more else "0"}
    if devices:
        body["deviceList"] = devices
    elif fleet.null_device_list:
        body["deviceList"] = None
    return body
