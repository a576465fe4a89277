"""Typed decoding of a device-list page: only the fields the aggregation reads.

Pages are decoded strictly first (strings are strings, booleans booleans), which lets the
aggregation count them at C speed; a page with a number where a string belongs, or the
like, is decoded again leniently and normalised device by device. The page's shape
(a list of objects) is validated either way.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from .errors import ApiError

Text = Union[str, None]
Flag = Union[bool, None]


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
    softwareList: list[Software] | None = None
    lastConnectionTime: Text = None
    lastConnectTime: Text = None


class Page(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenDeviceId: Any = None
    deviceList: list[Device] | None = None


# What a lenient field may hold: any scalar. A list or object where a label value belongs is a
# page of the wrong shape, however deep it nests (the depth at which decoding gives up differs
# between Python versions).
Scalar = Union[str, int, float, bool, None]


def _lenient(strict: type[msgspec.Struct], **nested: Any) -> Any:
    """The same fields as `strict`, of any scalar type except the `nested` ones: kept in step by construction."""
    fields = [(name, nested.get(name, Scalar), None) for name in strict.__struct_fields__]
    return msgspec.defstruct("Lenient" + strict.__name__, fields, gc=False)


LenientSoftware = _lenient(Software)
LenientDevice = _lenient(Device, softwareList=Union[list[LenientSoftware], None])
LenientPage = _lenient(Page, deviceList=Union[list[LenientDevice], None])


_strict = msgspec.json.Decoder(Page)
_lenient = msgspec.json.Decoder(LenientPage)


def decode_page(body: bytes) -> Any:  # Page, or LenientPage for odd types
    try:
        return _strict.decode(body)
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"page is not valid JSON: {exc}", "devices") from None
    try:
        return _lenient.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError("bad_page", f"unexpected page shape: {exc}", "devices") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"page is not valid JSON: {exc}", "devices") from None


# --- the other read-only FOTA v3 endpoints: every field a scalar or absent ---------------------


class FirmwarePath(msgspec.Struct, gc=False):
    firmwareName: Scalar = None
    firmwareFrom: Scalar = None
    firmwareTo: Scalar = None
    make: Scalar = None
    model: Scalar = None


class Subscription(msgspec.Struct, gc=False):
    licenseCount: Scalar = None
    licenseUsedCount: Scalar = None


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


DECODERS = {
    "firmware": msgspec.json.Decoder(Union[list[FirmwarePath], None]),
    "subscriptions": msgspec.json.Decoder(Subscription),
    "campaigns": msgspec.json.Decoder(CampaignPage),
    "campaign_devices": msgspec.json.Decoder(CampaignDevicePage),
}


def decode(endpoint: str, body: bytes) -> Any:
    """A response of one of DECODERS' endpoints; ApiError bad_json or bad_page otherwise."""
    try:
        return DECODERS[endpoint].decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError("bad_page", f"unexpected response shape: {exc}", endpoint) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"response is not valid JSON: {exc}", endpoint) from None
