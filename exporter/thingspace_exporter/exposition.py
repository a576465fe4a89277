"""Exposition: device metrics rendered once per account snapshot, live metrics at scrape time."""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as om

from .collector import DeviceCollector
from .snapshot import AccountSnapshot

EOF_LINE = b"# EOF\n"
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Rendered:
    text: bytes
    text_gz: bytes
    openmetrics: bytes  # without the closing "# EOF", which follows the live metrics
    openmetrics_gz: bytes


Blocks = dict[bytes, tuple[bytes, bytes, bytes]]  # metric name -> (header, samples, gzipped samples)


class _One:
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


def _blocks(blob: bytes, packed: bool = True) -> Blocks:
    """Split an exposition at its `# HELP` lines. The text format writes a gauge histogram's
    `_gcount` and `_gsum` as families of their own, so one family may give several blocks."""
    out: Blocks = {}
    starts = [0] if blob.startswith(b"# HELP ") else []
    pos = 0
    while (pos := blob.find(b"\n# HELP ", pos) + 1) > 0:
        starts.append(pos)
    for start, end in zip(starts, [*starts[1:], len(blob)]):
        block = blob[start:end]
        head = 0
        while block.startswith(b"# ", head):  # HELP, TYPE, UNIT; a sample line never starts so
            head = block.index(b"\n", head) + 1
        samples = block[head:]
        out[block[7:block.index(b" ", 7)]] = (block[:head], samples, _gz(samples) if packed else b"")
    return out


def _render(families: Iterable[Metric], text_only: bool = False) -> tuple[Blocks, Blocks]:
    text: Blocks = {}
    openmetrics: Blocks = {}
    for family in families:
        text.update(_blocks(generate_latest(_One(family)), packed=not text_only))  # type: ignore[arg-type]
        if not text_only:
            openmetrics.update(_blocks(om.generate_latest(_One(family)).removesuffix(EOF_LINE)))  # type: ignore[arg-type]
    return text, openmetrics


def _render_account(snapshot: AccountSnapshot, text_only: bool) -> tuple[Blocks, Blocks]:
    return _render(DeviceCollector({snapshot.account: snapshot}).collect(), text_only)


_FAMILIES = [f.name for f in DeviceCollector({}).collect()]


def _order(name: bytes) -> tuple[int, int]:
    text = name.decode()
    for rank, suffix in enumerate(("_gcount", "_gsum"), 1):
        if text.endswith(suffix) and text.removesuffix(suffix) in _FAMILIES:
            return _FAMILIES.index(text.removesuffix(suffix)), rank
    return (_FAMILIES.index(text), 0) if text in _FAMILIES else (len(_FAMILIES), 0)


class Renderer:
    """Renders each account's snapshot once and reuses it until that account's next swap, so a
    swap costs one account's rendering and some byte joins however many accounts there are.
    gzip members may be concatenated (RFC 1952): compressed parts are joined the same way.
    `text_only` (for --once, which prints the text format) leaves the other forms empty."""

    def __init__(self, text_only: bool = False) -> None:
        self._cache: dict[str, tuple[AccountSnapshot, tuple[Blocks, Blocks]]] = {}
        self.text_only = text_only

    def __call__(self, snapshots: Mapping[str, AccountSnapshot]) -> Rendered:
        cache = {}
        for account in sorted(snapshots):
            snap, hit = snapshots[account], self._cache.get(account)
            cache[account] = hit if hit is not None and hit[0] is snap else (snap, _render_account(snap, self.text_only))
        self._cache = cache
        text = [_EMPTY_TEXT, *(blocks[0] for _, blocks in cache.values())]
        if self.text_only:
            return Rendered(_join(text, packed=False)[0], b"", b"", b"")
        openmetrics = [_EMPTY_OM, *(blocks[1] for _, blocks in cache.values())]
        return Rendered(*_join(text), *_join(openmetrics))


def _join(accounts: list[Blocks], packed: bool = True) -> tuple[bytes, bytes]:
    """One body from every account's blocks (the first holds every family's header), and its gzip form."""
    headers: dict[bytes, bytes] = {}
    for blocks in accounts:
        for name, (header, _, _) in blocks.items():
            headers.setdefault(name, header)
    plain, gz = [], []
    for name in sorted(headers, key=_order):
        plain.append(headers[name])
        gz.append(_gz_header(headers[name]) if packed else b"")
        for blocks in accounts:
            if name in blocks:
                plain.append(blocks[name][1])
                gz.append(blocks[name][2])
    return b"".join(plain), b"".join(gz)


@functools.lru_cache(maxsize=64)  # a handful of constant headers
def _gz_header(header: bytes) -> bytes:
    return _gz(header)


def render(snapshots: Mapping[str, AccountSnapshot]) -> Rendered:
    """A one-off rendering (no reuse between calls)."""
    return Renderer()(snapshots)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, GZIP_LEVEL, mtime=0) if data else b""


# Every family's header, from an empty rendering: families with no samples still show them.
_EMPTY_TEXT, _EMPTY_OM = _render(DeviceCollector({}).collect())


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, bool]:
    """(OpenMetrics?, gzip?) from the request headers, as prometheus_client decides them."""
    use_om = any(
        part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(",")
    )
    use_gz = "gzip" in {e.split(";")[0].strip() for e in accept_encoding.split(",")}
    return use_om, use_gz


def body(rendered: Rendered, live: CollectorRegistry, accept: str = "",
         accept_encoding: str = "") -> tuple[bytes, list[tuple[str, str]]]:
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
