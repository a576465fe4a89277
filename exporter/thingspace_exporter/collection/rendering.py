"""Rendering the published snapshots: each collector's families of each account rendered once per
snapshot, in both text formats and gzipped, and joined into the exposition that /metrics serves."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Metric, generate_latest
from prometheus_client.openmetrics import exposition as om

from ..collectors import REGISTRY, Snapshot
from .snapshots import Key

FamiliesOf = Callable[[Sequence[Snapshot]], Iterable[Metric]]  # a collector's metric families

EOF_LINE = b"# EOF\n"
GZIP_LEVEL = 6
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # as web.exposition.GZIP_HEADER


@dataclass(frozen=True)
class Rendered:
    text: bytes
    text_gz: bytes  # GZIP_HEADER and `text` deflated, left open: /metrics appends the live metrics
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
    for start, end in zip(starts, [*starts[1:], len(blob)], strict=False):
        block = blob[start:end]
        head = 0
        while block.startswith(b"# ", head):  # HELP, TYPE, UNIT; a sample line never starts so
            head = block.index(b"\n", head) + 1
        samples = block[head:]
        out[block[7 : block.index(b" ", 7)]] = (block[:head], samples, _gz(samples) if packed else b"")
    return out


def _render(families: Iterable[Metric], text_only: bool = False) -> tuple[Blocks, Blocks]:
    text: Blocks = {}
    openmetrics: Blocks = {}
    for family in families:
        text.update(_blocks(generate_latest(_One(family)), packed=not text_only))  # type: ignore[arg-type,unused-ignore]
        if not text_only:
            openmetrics.update(_blocks(om.generate_latest(_One(family)).removesuffix(EOF_LINE)))  # type: ignore[arg-type,unused-ignore]
    return text, openmetrics


class Renderer:
    """Renders each snapshot once and reuses it until that snapshot's next swap, so a swap costs
    one account's rendering of one collector and some byte joins however many there are.
    Each block is deflated apart and sync-flushed, so the compressed parts join into one deflate
    stream: one gzip member, which /metrics finishes with the live metrics and the trailer.
    `families` maps the enabled collectors, in order, to their families; `text_only` (for
    --once, which prints the text format) leaves the other forms empty."""

    def __init__(self, families: Mapping[str, FamiliesOf] | None = None, text_only: bool = False) -> None:
        self.families = dict({c.name: c.families for c in REGISTRY} if families is None else families)
        self.text_only = text_only
        empty = [f for build in self.families.values() for f in build([])]
        self._names = [f.name for f in empty]
        # Every family's header, from an empty rendering: families with no samples still show them.
        self._empty = _render(empty)
        self._cache: dict[Key, tuple[Snapshot, tuple[Blocks, Blocks]]] = {}

    def __call__(self, snapshots: Mapping[Key, Snapshot]) -> Rendered:
        cache = {}
        for key in sorted(snapshots, key=lambda k: (k[1], k[0])):
            snap, hit = snapshots[key], self._cache.get(key)
            if hit is not None and hit[0] is snap:
                cache[key] = hit
            elif snap.collector in self.families:
                cache[key] = (snap, _render(self.families[snap.collector]([snap]), self.text_only))
        self._cache = cache
        text = [self._empty[0], *(blocks[0] for _, blocks in cache.values())]
        if self.text_only:
            return Rendered(_join(text, self._order, packed=False)[0], b"", b"", b"")
        openmetrics = [self._empty[1], *(blocks[1] for _, blocks in cache.values())]
        return Rendered(*_join(text, self._order), *_join(openmetrics, self._order))

    def _order(self, name: bytes) -> tuple[int, int]:
        """A family's place: the collectors' order, a gauge histogram's _gcount and _gsum after it."""
        text, names = name.decode(), self._names
        for rank, suffix in enumerate(("_gcount", "_gsum"), 1):
            if text.endswith(suffix) and text.removesuffix(suffix) in names:
                return names.index(text.removesuffix(suffix)), rank
        return (names.index(text), 0) if text in names else (len(names), 0)


def _join(
    accounts: list[Blocks], order: Callable[[bytes], tuple[int, int]], packed: bool = True
) -> tuple[bytes, bytes]:
    """One body from every account's blocks (the first holds every family's header), and its
    compressed form (unfinished: see web.exposition.gzip_member)."""
    headers: dict[bytes, bytes] = {}
    for blocks in accounts:
        for name, (header, _, _) in blocks.items():
            headers.setdefault(name, header)
    plain, gz = [], [GZIP_HEADER if packed else b""]
    for name in sorted(headers, key=order):
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


def render(snapshots: Mapping[Key, Snapshot]) -> Rendered:
    """A one-off rendering of every collector's families (no reuse between calls)."""
    return Renderer()(snapshots)


def _gz(data: bytes) -> bytes:
    """Raw deflate blocks ending at a byte boundary, none final: any number of them in a row
    are one valid deflate stream."""
    if not data:
        return b""
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
