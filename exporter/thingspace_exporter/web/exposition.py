"""The /metrics response: the rendered snapshots (cached bytes) and the live metrics rendered at
scrape time, in the format and encoding the scraper asked for."""

from __future__ import annotations

import struct
import zlib
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as om

# The formats of the bodies served, whatever the installed prometheus_client calls "latest".
TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
TEXT_1_0_0 = "text/plain; version=1.0.0; charset=utf-8; escaping="
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Metric names here are all legacy ones, so every escaping scheme gives the same bytes.
ESCAPINGS = ("allow-utf-8", "underscores", "dots", "values")
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS


class Rendered(Protocol):
    """The published snapshots, rendered (collection.rendering.Rendered)."""

    @property
    def text(self) -> bytes: ...

    @property
    def text_gz(self) -> bytes: ...  # GZIP_HEADER and `text` deflated, left open (sync-flushed)

    @property
    def openmetrics(self) -> bytes:  # without the closing "# EOF", which follows the live metrics
        ...

    @property
    def openmetrics_gz(self) -> bytes: ...


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, str, bool]:
    """(OpenMetrics?, Content-Type, gzip?) from the request headers, as client_python decides:
    the first of OpenMetrics or text 1.0.0 the Accept header names, else the 0.0.4 text."""
    use_gz = "gzip" in {e.split(";")[0].strip().lower() for e in accept_encoding.split(",")}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        options = dict(p.partition("=")[::2] for p in params)
        if media == "application/openmetrics-text":
            return True, OPENMETRICS, use_gz
        if media == "text/plain" and _version(options.get("version", "")) >= (1, 0, 0):
            escaping = options.get("escaping", "")
            return False, TEXT_1_0_0 + (escaping if escaping in ESCAPINGS else "underscores"), use_gz
    return False, TEXT_0_0_4, use_gz


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.split("."))
    except ValueError:
        return ()


def body(
    rendered: Rendered, live: CollectorRegistry, accept: str = "", accept_encoding: str = ""
) -> tuple[bytes, list[tuple[str, str]]]:
    """The scrape response: cached device text plus freshly rendered live metrics."""
    use_om, content_type, use_gz = negotiate(accept, accept_encoding)
    if use_om:
        head, head_gz, tail = rendered.openmetrics, rendered.openmetrics_gz, om.generate_latest(live)
    else:
        head, head_gz, tail = rendered.text, rendered.text_gz, generate_latest(live)
    headers = [("Content-Type", content_type)]
    if use_gz:
        headers.append(("Content-Encoding", "gzip"))
        return gzip_member(head, head_gz, tail), headers
    return head + tail, headers


def gzip_member(head: bytes, head_gz: bytes, tail: bytes) -> bytes:
    """One gzip member of head + tail: the cached compressed head (a deflate stream left open at
    a byte boundary) continued by the tail's final deflate blocks, and the trailer of both."""
    if not head_gz:
        opened = zlib.compressobj(1, zlib.DEFLATED, -15)
        head_gz = GZIP_HEADER + opened.compress(head) + opened.flush(zlib.Z_SYNC_FLUSH)
    closing = zlib.compressobj(1, zlib.DEFLATED, -15)
    crc = zlib.crc32(tail, zlib.crc32(head))
    trailer = struct.pack("<II", crc, (len(head) + len(tail)) & 0xFFFFFFFF)
    return b"".join((head_gz, closing.compress(tail), closing.flush(), trailer))
