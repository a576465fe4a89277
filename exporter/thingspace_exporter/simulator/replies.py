"""The two values the HTTP plumbing and the simulator's API exchange: a call in, a response out.

Plain data, so that neither side needs to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec


@dataclass
class Call:
    """One HTTP request as the API sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter (blank if given blank), else the default."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, obj) -> Response:
    return Response(status, msgspec.json.encode(obj))
