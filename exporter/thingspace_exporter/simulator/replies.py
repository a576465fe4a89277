"""The simulator's HTTP reply value, independent of the server plumbing."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, obj) -> Response:
    return Response(status, msgspec.json.encode(obj))
