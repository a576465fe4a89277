"""Cursor paging as the FOTA v3 reports do it: `hasMoreData` and a `lastSeen...` cursor naming the
last item of the page, starting from "0"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .errors import ApiError

START = "0"


def cursor_text(value: Any) -> str | None:
    """The next cursor: v3 sends a string, older versions a JSON number."""
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    return None


def more_data(value: Any, endpoint: str) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError("bad_page", f"hasMoreData is {type(value).__name__}, not a boolean", endpoint)


def cursor_pages(fetch: Callable[[str], Any], items: str, cursor: str, endpoint: str) -> Iterator[list]:
    """The `items` lists of a chain of pages linked by the `cursor` field (campaigns and their
    devices), with the device list's rules: a missing or repeated cursor, or an empty page that
    claims more data, raises ApiError instead of looping. Campaign ids have no order to check."""
    current, seen = START, {START}
    while True:
        page = fetch(current)
        got = getattr(page, items) or []
        if not more_data(page.hasMoreData, endpoint):
            yield got
            return
        if not got:
            raise ApiError("empty_page", f"empty page with hasMoreData after cursor {current}", endpoint)
        nxt = cursor_text(getattr(page, cursor))
        if nxt is None:
            raise ApiError("missing_cursor", f"no {cursor} after cursor {current}", endpoint)
        if nxt in seen:
            raise ApiError("stuck_cursor", f"cursor {nxt} came back", endpoint)
        seen.add(nxt)
        yield got
        current = nxt
