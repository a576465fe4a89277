"""The device list's pages (`GET /api/fota/v3/devices/{account}`): fetched, and decoded into only
the fields the aggregation reads.

Pages are decoded strictly first (strings are strings, booleans booleans), which lets the
aggregation count them at C speed; a page with a number where a string belongs, or the
like, is decoded again leniently and normalised device by device. The page's shape
(a list of objects) is validated either way.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..thingspace.client import Client, segment
from ..thingspace.decoding import Scalar
from ..thingspace.errors import ApiError

ENDPOINT = "devices"
PATH = "/api/fota/v3/devices/"

Text = str | None
Flag = bool | None


class Software(msgspec.Struct, frozen=True, gc=False):
    name: Text = None
    version: Text = None


class Device(msgspec.Struct, gc=False):
    deviceId: Text = None
    make: Text = None
    model: Text = None
    firmware: Text = None
    status: Text = None
    protocol: Text = None
    fotaEligible: Flag = None
    licenseAssigned: Flag = None
    softwareList: tuple[Software, ...] | None = None  # hashable: counted as it is
    lastConnectionTime: Text = None
    lastConnectTime: Text = None


class Page(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenDeviceId: Any = None
    deviceList: list[Device] | None = None


def _lenient(strict: type[msgspec.Struct], **nested: Any) -> Any:
    """The same fields as `strict`, of any scalar type except the `nested` ones: kept in step by construction."""
    fields = [(name, nested.get(name, Scalar), None) for name in strict.__struct_fields__]
    return msgspec.defstruct("Lenient" + strict.__name__, fields, gc=False)


LenientSoftware: Any = _lenient(Software)
LenientDevice: Any = _lenient(Device, softwareList=list[LenientSoftware] | None)
LenientPage: Any = _lenient(Page, deviceList=list[LenientDevice] | None)


_strict = msgspec.json.Decoder(Page)
_lenient_page = msgspec.json.Decoder(LenientPage)


def decode_page(body: bytes) -> Any:  # Page, or LenientPage for odd types
    try:
        return _strict.decode(body)
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"page is not valid JSON: {exc}", ENDPOINT) from None
    try:
        return _lenient_page.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError("bad_page", f"unexpected page shape: {exc}", ENDPOINT) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"page is not valid JSON: {exc}", ENDPOINT) from None


def device_page(
    client: Client, account: str, cursor: str, deadline: float | None = None, protocol: str = "LWM2M"
) -> tuple[Any, float]:
    """One page of the account's device list after `cursor`, and the time it arrived."""
    params = {"lastSeenDeviceId": cursor}
    if protocol:
        params["protocol"] = protocol
    return client.fetch(ENDPOINT, PATH + segment(account), params, deadline, decode_page)
