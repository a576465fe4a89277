"""Typed decoding of a device-list page: only the fields the aggregation reads.

Scalars are typed `Any` so that a number where a string belongs (or the reverse) is
normalised later instead of failing the page; the page's shape itself is validated.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import ApiError


class Software(msgspec.Struct, gc=False):
    name: Any = None
    version: Any = None


class Device(msgspec.Struct, gc=False):
    deviceId: Any = None
    make: Any = None
    model: Any = None
    firmware: Any = None
    status: Any = None
    protocol: Any = None
    fotaEligible: Any = None
    licenseAssigned: Any = None
    softwareList: list[Software] | None = None
    lastConnectionTime: Any = None
    lastConnectTime: Any = None


class Page(msgspec.Struct, gc=False):
    hasMoreData: Any = None
    lastSeenDeviceId: Any = None
    deviceList: list[Device] | None = None


_decoder = msgspec.json.Decoder(Page)


def decode_page(body: bytes) -> Page:
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError("bad_page", f"unexpected page shape: {exc}", "devices") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"page is not valid JSON: {exc}", "devices") from None
