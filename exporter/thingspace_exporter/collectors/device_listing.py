"""Walking an account's device list by cursor, sequentially or in parallel segments.

Pages come in ascending IMEI order, so the page ends seen in one cycle split the next
cycle's listing into segments (b_k, b_k+1] that workers can walk at once.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..thingspace.decoding import text
from ..thingspace.errors import ApiError, Stopped
from ..thingspace.paging import START, cursor_text, more_data
from .device_aggregation import AccountData, Aggregator
from .device_pages import ENDPOINT, Device, Page

Fetch = Callable[[str], tuple[Page, float]]


def order(imei: str) -> tuple[int, str]:
    """Numeric order for digit strings of any length (IMEIs keep their leading zeros as text)."""
    stripped = imei.lstrip("0")
    return (len(stripped), stripped) if imei.isdigit() else (len(imei), imei)


def walk(
    fetch: Fetch, start: str = START, upper: str | None = None, resume: Callable[[str], None] | None = None
) -> Iterator[tuple[list[Device], float]]:
    """Yield (devices, fetched_at) per page after `start`, up to `upper` inclusive; before each
    page that has a next one, `resume` gets the cursor a walk would go on from.

    A missing, non-advancing or repeated cursor, or an empty page that claims more data,
    raises ApiError instead of looping.
    """
    cursor = start
    upper_key = order(upper) if upper is not None else None
    while True:
        page, fetched_at = fetch(cursor)
        devices = page.deviceList or []
        more = more_data(page.hasMoreData, ENDPOINT)
        if upper_key is not None and devices and order(text(devices[-1].deviceId)) >= upper_key:
            yield [d for d in devices if order(text(d.deviceId)) <= upper_key], fetched_at
            return
        if not more:
            yield devices, fetched_at
            return
        if not devices:
            raise ApiError("empty_page", f"empty page with hasMoreData after cursor {cursor}", ENDPOINT)
        nxt = cursor_text(page.lastSeenDeviceId)
        if nxt is None:
            raise ApiError("missing_cursor", f"no lastSeenDeviceId after cursor {cursor}", ENDPOINT)
        if order(nxt) <= order(cursor):
            raise ApiError("stuck_cursor", f"cursor did not advance past {cursor}", ENDPOINT)
        if resume:
            resume(nxt)
        yield devices, fetched_at
        cursor = nxt


def plan_bounds(marks: list[tuple[str, int]]) -> list[str]:
    """Segment bounds for the next cycle from (last device id, devices) of every page seen:
    adjacent pages are packed so that each segment holds at most one (full) page of devices,
    and segments emptied by departed devices disappear instead of piling up."""
    page_size = max((n for _, n in marks), default=0)
    bounds, held, last = [], 0, None
    for ident, n in sorted(marks, key=lambda m: order(m[0])):
        if last is not None and held + n > page_size:
            bounds.append(last)
            held = 0
        held += n
        last = ident
    return bounds


def _mark(devices: list[Device]) -> tuple[str, int] | None:
    return (text(devices[-1].deviceId), len(devices)) if devices else None


Marks = list[tuple[str, int]]  # (last device id, devices) of each page seen


def list_sequential(
    fetch: Fetch,
    buckets: tuple[float, ...],
    on_page: Callable[[int], None] | None = None,
    stalest: int = 0,
    seen: Marks | None = None,
) -> tuple[AccountData, list[str]]:
    """The whole listing from the start; returns the counts and the next cycle's bounds. The
    pages' marks also go to `seen` as they come, so a listing that fails still tells where its
    pages ended.

    Pages are counted on the walking thread: a second thread overlapping the counting with
    the next fetch cost 40 % more CPU in GIL hand-offs (200 pages: 0.91 s against 0.65 s),
    and CPU is what a small container runs out of; at real latencies the counting is a few
    per cent of a round trip.
    """
    agg, marks = Aggregator(buckets, stalest=stalest), ([] if seen is None else seen)
    for pages, (devices, fetched_at) in enumerate(walk(fetch), 1):
        agg.add(devices, fetched_at)
        mark = _mark(devices)
        if mark:
            marks.append(mark)
        if on_page:
            on_page(pages)
    return agg.result(), plan_bounds(marks)


class Segment:
    """Device ids after `cursor` up to `upper` inclusive (None: to the end), still to be walked."""

    def __init__(self, cursor: str, upper: str | None) -> None:
        self.cursor, self.upper = cursor, upper

    def at(self, cursor: str) -> None:
        self.cursor = cursor


SEGMENT_RETRIES = 2  # further tries of a failed segment from its last cursor, in the parallel walk
SEGMENT_BACKOFF = 0.5  # seconds before the first of them, doubling, plus up to as much jitter


def list_parallel(
    fetch: Fetch,
    buckets: tuple[float, ...],
    bounds: list[str],
    workers: int,
    stop: threading.Event,
    on_page: Callable[[int], None] | None = None,
    stalest: int = 0,
    seen: Marks | None = None,
    log: Any = None,
    backoff: float = SEGMENT_BACKOFF,
) -> tuple[AccountData, list[str]]:
    """Walk the segments between `bounds` with up to `workers` threads. Every page's mark also goes
    to `seen`, as in list_sequential.

    A segment that fails is tried again from its last cursor (SEGMENT_RETRIES times, backing off)
    while the others keep their pages; one that still fails is walked on from there on this thread
    once the workers are done, and only its error then is raised. A deadline is raised at once."""
    starts = [START, *bounds]
    segments: queue.SimpleQueue[Segment] = queue.SimpleQueue()
    for i, start in enumerate(starts):
        segments.put(Segment(start, bounds[i] if i < len(bounds) else None))
    results: list[tuple[Aggregator, Marks]] = []
    errors: list[BaseException] = []
    failed: list[Segment] = []
    lock = threading.Lock()
    pages = itertools.count(1)

    def walk_into(seg: Segment, agg: Aggregator, marks: Marks) -> None:
        for devices, fetched_at in walk(fetch, seg.cursor, seg.upper, seg.at):
            agg.add(devices, fetched_at)
            mark = _mark(devices)
            if mark:
                marks.append(mark)
                if seen is not None:
                    seen.append(mark)  # list.append is atomic: workers share it
            if on_page:
                on_page(next(pages))

    def attempt(seg: Segment, agg: Aggregator, marks: Marks) -> None:
        for tries in itertools.count():
            try:
                return walk_into(seg, agg, marks)
            except ApiError as exc:
                if exc.reason == "deadline" or tries >= SEGMENT_RETRIES:
                    raise
                if log is not None:
                    log.info("segment_retried", cursor=seg.cursor, error=exc.describe())
                if stop.wait(backoff * 2**tries + random.uniform(0, backoff * 2**tries)):
                    raise Stopped() from None

    def work() -> None:
        agg, marks = Aggregator(buckets, stalest=stalest), list[tuple[str, int]]()
        try:
            while not errors and not stop.is_set():
                try:
                    seg = segments.get_nowait()
                except queue.Empty:
                    break
                try:
                    attempt(seg, agg, marks)
                except ApiError as exc:
                    if exc.reason == "deadline":
                        raise
                    with lock:
                        failed.append(seg)
        except BaseException as exc:  # handed to the caller, which fails
            with lock:
                errors.append(exc)
        with lock:
            results.append((agg, marks))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(starts))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stop.is_set():
        raise Stopped()
    if errors:
        raise errors[0]
    total, marks = Aggregator(buckets, stalest=stalest), list[tuple[str, int]]()
    for agg, found in results:
        total.merge(agg)
        marks.extend(found)
    for seg in sorted(failed, key=lambda f: order(f.cursor)):
        if log is not None:
            log.info("segment_continued_sequentially", cursor=seg.cursor)
        walk_into(seg, total, marks)
    return total.result(), plan_bounds(marks)
