"""The /metrics response: the rendered snapshots (cached bytes) and the live metrics rendered at
scrape time, in the format and encoding the scraper asked for."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.openmetrics import exposition as om

# The formats of the bodies served, whatever the installed prometheus_client calls "latest".
TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
TEXT_1_0_0 = "text/plain; version=1.0.0; charset=utf-8; escaping="
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# Metric names here are all legacy ones, so every escaping scheme gives the same bytes.
ESCAPINGS = ("allow-utf-8", "underscores", "dots", "values")
EOF = b"# EOF\n"  # OpenMetrics' last line
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS


class Rendered(Protocol):
    """The published snapshots, rendered, as pieces in order (collection.rendering.Rendered)."""

    @property
    def text_parts(self) -> Sequence[bytes]: ...

    @property
    def text_gz_parts(self) -> Sequence[bytes]: ...  # GZIP_HEADER and the text deflated, left open

    @property
    def openmetrics_parts(self) -> Sequence[bytes]:  # without the closing "# EOF", which follows the live metrics
        ...

    @property
    def openmetrics_gz_parts(self) -> Sequence[bytes]: ...


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
    """The scrape response in one piece (see parts)."""
    pieces, headers = parts(rendered, live, accept, accept_encoding)
    return b"".join(pieces), headers


def parts(
    rendered: Rendered, live: CollectorRegistry, accept: str = "", accept_encoding: str = ""
) -> tuple[list[bytes], list[tuple[str, str]]]:
    """The scrape response: the cached pieces of the rendered snapshots plus freshly rendered live
    metrics, sent as they are (joining them copied the whole exposition, tens of MB, per scrape)."""
    use_om, content_type, use_gz = negotiate(accept, accept_encoding)
    if use_om:
        head, head_gz = rendered.openmetrics_parts, rendered.openmetrics_gz_parts
    else:
        head, head_gz = rendered.text_parts, rendered.text_gz_parts
    tail = live_parts(live, use_om)
    headers = [("Content-Type", content_type)]
    if use_gz:
        headers.append(("Content-Encoding", "gzip"))
        return gzip_member_parts(head, head_gz, tail), headers
    return [*head, *tail], headers


class _One:
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


def live_parts(live: CollectorRegistry, openmetrics: bool = False) -> list[bytes]:
    """The live metrics, exactly as prometheus_client renders the registry, one family at a time:
    rendered at once, every sample object of every family was alive until the text was joined
    (15 MB at a thousand accounts, at every scrape)."""
    if not openmetrics:
        return [generate_latest(_One(family)) for family in live.collect()]  # type: ignore[arg-type,unused-ignore]
    parts = [om.generate_latest(_One(family)).removesuffix(EOF) for family in live.collect()]
    return [*parts, EOF]


def gzip_member(head: bytes, head_gz: bytes, tail: bytes) -> bytes:
    """One gzip member of head + tail (see gzip_member_parts)."""
    return b"".join(gzip_member_parts([head], [head_gz] if head_gz else [], [tail]))


def gzip_member_parts(head: Sequence[bytes], head_gz: Sequence[bytes], tail: Sequence[bytes]) -> list[bytes]:
    """One gzip member of head + tail: the cached compressed head (a deflate stream left open at
    a byte boundary) continued by the tail's final deflate blocks, and the trailer of both."""
    if not head_gz:
        opened = zlib.compressobj(1, zlib.DEFLATED, -15)
        head_gz = [GZIP_HEADER, *(opened.compress(p) for p in head), opened.flush(zlib.Z_SYNC_FLUSH)]
    closing = zlib.compressobj(1, zlib.DEFLATED, -15)
    crc, size = 0, 0
    for piece in (*head, *tail):
        crc = zlib.crc32(piece, crc)
        size += len(piece)
    closed = [packed for piece in tail if (packed := closing.compress(piece))]
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return [*head_gz, *closed, closing.flush(), trailer]
