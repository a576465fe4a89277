"""Rendering the published snapshots: each collector's families of each account rendered once per
snapshot, in both text formats and gzipped, and joined into the exposition that /metrics serves."""

from __future__ import annotations

import functools
import threading
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
    """The exposition as pieces in order, served as they are: joining them would hold a second
    copy of tens of MB with many accounts (and a third while the next one is built)."""

    text_parts: tuple[bytes, ...]
    text_gz_parts: tuple[bytes, ...]  # GZIP_HEADER and the text deflated, left open (see web.exposition)
    openmetrics_parts: tuple[bytes, ...]  # without the closing "# EOF", which follows the live metrics
    openmetrics_gz_parts: tuple[bytes, ...]

    @property
    def text(self) -> bytes:
        return b"".join(self.text_parts)

    @property
    def text_gz(self) -> bytes:
        return b"".join(self.text_gz_parts)

    @property
    def openmetrics(self) -> bytes:
        return b"".join(self.openmetrics_parts)

    @property
    def openmetrics_gz(self) -> bytes:
        return b"".join(self.openmetrics_gz_parts)


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
        name, header = _one_copy(block[7 : block.index(b" ", 7)]), _one_copy(block[:head])
        out[name] = (header, samples, _gz(samples) if packed else b"")
    return out


@functools.lru_cache(maxsize=256)  # the families' names and headers: a few dozen
def _one_copy(data: bytes) -> bytes:
    """The first of equal bytes: each account's rendering repeats every family's name and header
    (at a thousand accounts, 8 MB of copies)."""
    return data


def _render(families: Iterable[Metric], text_only: bool = False) -> tuple[Blocks, Blocks]:
    text: Blocks = {}
    openmetrics: Blocks = {}
    for family in families:
        text.update(_blocks(generate_latest(_One(family)), packed=not text_only))  # type: ignore[arg-type,unused-ignore]
        if not text_only:
            openmetrics.update(_blocks(om.generate_latest(_One(family)).removesuffix(EOF_LINE)))  # type: ignore[arg-type,unused-ignore]
    for name, (header, samples, _) in openmetrics.items():
        same = text.get(name)
        if same is not None and same[1] == samples:  # gauges' samples read alike in both: kept once
            openmetrics[name] = (header, same[1], same[2])
    return text, openmetrics


class Renderer:
    """Renders each snapshot once (at publish, through `prepare`) and reuses it until that
    snapshot's next swap, so a swap costs one account's rendering of one collector and, at the
    next read, a list of its pieces in order however many accounts there are. The pieces are
    never joined: what is kept per account is its share of the exposition, once.
    Each block is deflated apart and sync-flushed, so the compressed parts make one deflate
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
        self._lock = threading.Lock()

    def prepare(self, snap: Snapshot) -> None:
        if snap.collector in self.families:
            rendered = _render(self.families[snap.collector]([snap]), self.text_only)
            with self._lock:
                self._cache[snap.key] = (snap, rendered)

    def __call__(self, snapshots: Mapping[Key, Snapshot]) -> Rendered:
        with self._lock:
            known = dict(self._cache)
        cache = {}
        for key in sorted(snapshots, key=lambda k: (k[1], k[0])):
            snap, hit = snapshots[key], known.get(key)
            if hit is not None and hit[0] is snap:
                cache[key] = hit
            elif snap.collector in self.families:
                cache[key] = (snap, _render(self.families[snap.collector]([snap]), self.text_only))
        with self._lock:  # keep what was prepared meanwhile for a later read
            self._cache = {**cache, **{k: v for k, v in self._cache.items() if known.get(k) is not v}}
        text = [self._empty[0], *(blocks[0] for _, blocks in cache.values())]
        if self.text_only:
            return Rendered(_order_pieces(text, self._order, packed=False)[0], (), (), ())
        openmetrics = [self._empty[1], *(blocks[1] for _, blocks in cache.values())]
        return Rendered(*_order_pieces(text, self._order), *_order_pieces(openmetrics, self._order))

    def _order(self, name: bytes) -> tuple[int, int]:
        """A family's place: the collectors' order, a gauge histogram's _gcount and _gsum after it."""
        text, names = name.decode(), self._names
        for rank, suffix in enumerate(("_gcount", "_gsum"), 1):
            if text.endswith(suffix) and text.removesuffix(suffix) in names:
                return names.index(text.removesuffix(suffix)), rank
        return (names.index(text), 0) if text in names else (len(names), 0)


def _order_pieces(
    accounts: list[Blocks], order: Callable[[bytes], tuple[int, int]], packed: bool = True
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """One body's pieces from every account's blocks (the first holds every family's header): each
    family's header, then its samples account by account; and the same compressed (unfinished:
    see web.exposition.gzip_member)."""
    headers: dict[bytes, bytes] = {}
    for blocks in accounts:
        for name, (header, _, _) in blocks.items():
            headers.setdefault(name, header)
    plain, gz = [], [GZIP_HEADER if packed else b""]
    for name in sorted(headers, key=order):
        plain.append(headers[name])
        gz.append(_gz_header(headers[name]) if packed else b"")
        for blocks in accounts:
            if name in blocks and blocks[name][1]:
                plain.append(blocks[name][1])
                gz.append(blocks[name][2])
    return tuple(plain), tuple(p for p in gz if p)


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
