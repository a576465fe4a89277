"""The /metrics response: the rendered snapshots (cached bytes) and the live metrics rendered at
scrape time, in the format and encoding the scraper asked for."""

from __future__ import annotations

import gzip
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as om


class Rendered(Protocol):
    """The published snapshots, rendered (collection.rendering.Rendered)."""

    @property
    def text(self) -> bytes: ...

    @property
    def text_gz(self) -> bytes: ...

    @property
    def openmetrics(self) -> bytes:  # without the closing "# EOF", which follows the live metrics
        ...

    @property
    def openmetrics_gz(self) -> bytes: ...


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, bool]:
    """(OpenMetrics?, gzip?) from the request headers, as prometheus_client decides them."""
    use_om = any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))
    use_gz = "gzip" in {e.split(";")[0].strip() for e in accept_encoding.split(",")}
    return use_om, use_gz


def body(
    rendered: Rendered, live: CollectorRegistry, accept: str = "", accept_encoding: str = ""
) -> tuple[bytes, list[tuple[str, str]]]:
    """The scrape response: cached device text plus freshly rendered live metrics.

    gzip members may be concatenated (RFC 1952), so the cached compressed part is reused.
    """
    use_om, use_gz = negotiate(accept, accept_encoding)
    if use_om:
        head, head_gz = rendered.openmetrics, rendered.openmetrics_gz
        tail = om.generate_latest(live)
        content_type = om.CONTENT_TYPE_LATEST
    else:
        head, head_gz = rendered.text, rendered.text_gz
        tail = generate_latest(live)
        content_type = CONTENT_TYPE_LATEST
    headers = [("Content-Type", content_type)]
    if use_gz:
        headers.append(("Content-Encoding", "gzip"))
        return head_gz + gzip.compress(tail, 1, mtime=0), headers
    return head + tail, headers
