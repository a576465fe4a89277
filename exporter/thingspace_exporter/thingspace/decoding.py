"""Decoding API responses with msgspec: a body that is not JSON is `bad_json`, JSON of the wrong
shape is `bad_page`, both under the endpoint asked."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import ApiError

# What a field read as a label value may hold: any scalar. A list or object there is a response of
# the wrong shape, however deep it nests (the depth at which decoding gives up differs between
# Python versions).
Scalar = str | int | float | bool | None


def decode(decoder: msgspec.json.Decoder, body: bytes, endpoint: str) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError("bad_page", f"unexpected response shape: {exc}", endpoint) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ApiError("bad_json", f"response is not valid JSON: {exc}", endpoint) from None


def text(value: Any) -> str:
    """A label value from whatever the API sent: None is empty, numbers become strings."""
    if type(value) is str:
        return value
    return "" if value is None else str(value)
