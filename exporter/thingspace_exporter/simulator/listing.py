"""Device-list pages and their errors (pure: the API only encodes them).

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

import msgspec

from .fleet import AccountFleet

ACCOUNT_FORMAT = re.compile(r"^\d{10}-\d{5}$")


class Refused(Exception):
    """A call an endpoint refuses: the error status and JSON body it answers with."""

    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status = status
        self.body = body


def invalid_parameter(message: str) -> Refused:
    return Refused(400, {"errorCode": "INVALID_PARAMETER", "errorMessage": message})


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


def page_body(
    fleet: AccountFleet, gen: int, gen_times, cursor: str | None, protocol: str | None, page_size: int
) -> bytes:
    """One page as the JSON sent: devices after the cursor, ascending, with a one-device look-ahead.

    Index arithmetic all the way: the cursor is inverted to a slot, and only the page's slots
    (plus any absent or filtered out between them) are visited, so a page of a 5-million-device
    account costs what a page of a small one does; the records come as JSON from the fleet
    (cached per tile slot by a TiledFleet), joined without building the page as objects.
    """
    records, last, more = fleet.page_records(
        start_index(fleet, cursor, gen), gen, gen_times, protocol_filter(protocol), page_size
    )
    head = msgspec.json.encode(
        {
            "accountName": fleet.account,
            "maxPageSize": page_size,
            "hasMoreData": more,
            "lastSeenDeviceId": fleet.imei(last) if more else "0",
        }
    )[:-1]
    if records:
        return b"".join((head, b',"deviceList":[', b",".join(records), b"]}"))
    return head + (b',"deviceList":null}' if fleet.null_device_list else b"}")


def page(fleet: AccountFleet, gen: int, gen_times, cursor: str | None, protocol: str | None, page_size: int) -> dict:
    """The same page as a dict (for the faults that reshape one)."""
    return msgspec.json.decode(page_body(fleet, gen, gen_times, cursor, protocol, page_size))
