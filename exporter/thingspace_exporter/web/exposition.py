"""The /metrics response: the rendered snapshots (cached bytes) and the live metrics rendered at
scrape time, in the format and encoding the scraper asked for."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as om


class Rendered(Protocol):
    """The published snapshots, rendered, as pieces in order (collection.rendering.Rendered)."""

    @property
    def text_parts(self) -> Sequence[bytes]: ...

    @property
    def text_gz_parts(self) -> Sequence[bytes]: ...

    @property
    def openmetrics_parts(self) -> Sequence[bytes]:  # without the closing "# EOF", which follows the live metrics
        ...

    @property
    def openmetrics_gz_parts(self) -> Sequence[bytes]: ...


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, bool]:
    """(OpenMetrics?, gzip?) from the request headers, as prometheus_client decides them."""
    use_om = any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))
    use_gz = "gzip" in {e.split(";")[0].strip() for e in accept_encoding.split(",")}
    return use_om, use_gz


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
    metrics, sent as they are (joining them copied the whole exposition, tens of MB, per scrape).

    gzip members may be concatenated (RFC 1952), so the cached compressed part is reused.
    """
    use_om, use_gz = negotiate(accept, accept_encoding)
    if use_om:
        head, head_gz = rendered.openmetrics_parts, rendered.openmetrics_gz_parts
        tail = om.generate_latest(live)
        content_type = om.CONTENT_TYPE_LATEST
    else:
        head, head_gz = rendered.text_parts, rendered.text_gz_parts
        tail = generate_latest(live)
        content_type = CONTENT_TYPE_LATEST
    headers = [("Content-Type", content_type)]
    if use_gz:
        headers.append(("Content-Encoding", "gzip"))
        return [*head_gz, gzip.compress(tail, 1, mtime=0)], headers
    return [*head, tail], headers
