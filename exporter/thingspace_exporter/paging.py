"""Walking an account's device list by cursor, sequentially or in parallel segments.

Pages come in ascending IMEI order, so the cursors seen in one cycle split the next
cycle's listing into segments (b_k, b_k+1] that workers can walk at once.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

from .aggregation import AccountData, Aggregator, text
from .decode import Device, Page
from .errors import ApiError, Stopped

Fetch = Callable[[str], tuple[Page, float]]
START = "0"


def order(imei: str) -> tuple[int, str]:
    """Numeric order for digit strings of any length (IMEIs keep their leading zeros as text)."""
    stripped = imei.lstrip("0")
    return (len(stripped), stripped) if imei.isdigit() else (len(imei), imei)


def cursor_text(value: Any) -> str | None:
    """The next cursor: v3 sends a string, older versions a JSON number."""
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    return None


def more_data(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError("bad_page", f"hasMoreData is {type(value).__name__}, not a boolean", "devices")


def walk(fetch: Fetch, start: str = START, upper: str | None = None) -> Iterator[tuple[list[Device], float, str | None]]:
    """Yield (devices, fetched_at, next cursor) per page after `start`, up to `upper` inclusive.

    A missing, non-advancing or repeated cursor, or an empty page that claims more data,
    raises ApiError instead of looping.
    """
    cursor = start
    upper_key = order(upper) if upper is not None else None
    while True:
        page, fetched_at = fetch(cursor)
        devices = page.deviceList or []
        more = more_data(page.hasMoreData)
        if upper_key is not None and devices and order(text(devices[-1].deviceId)) >= upper_key:
            yield [d for d in devices if order(text(d.deviceId)) <= upper_key], fetched_at, None
            return
        if not more:
            yield devices, fetched_at, None
            return
        if not devices:
            raise ApiError("empty_page", f"empty page with hasMoreData after cursor {cursor}", "devices")
        nxt = cursor_text(page.lastSeenDeviceId)
        if nxt is None:
            raise ApiError("missing_cursor", f"no lastSeenDeviceId after cursor {cursor}", "devices")
        if order(nxt) <= order(cursor):
            raise ApiError("stuck_cursor", f"cursor did not advance past {cursor}", "devices")
        yield devices, fetched_at, nxt
        cursor = nxt


def list_sequential(fetch: Fetch, buckets: tuple[float, ...],
                    on_page: Callable[[int], None] | None = None) -> tuple[AccountData, list[str]]:
    """The whole listing from the start; returns the counts and the cursors seen."""
    agg, cursors = Aggregator(buckets), []
    for devices, fetched_at, nxt in walk(fetch):
        agg.add(devices, fetched_at)
        if nxt is not None:
            cursors.append(nxt)
        if on_page:
            on_page(agg.pages)
    return agg.result(), cursors


def list_parallel(fetch: Fetch, buckets: tuple[float, ...], bounds: list[str], workers: int,
                  stop: threading.Event) -> tuple[AccountData, list[str]]:
    """Walk the segments between `bounds` with up to `workers` threads; raise on any segment error."""
    starts = [START, *bounds]
    segments: queue.SimpleQueue = queue.SimpleQueue()
    for i, start in enumerate(starts):
        segments.put((start, bounds[i] if i < len(bounds) else None))
    results: list[tuple[Aggregator, list[str]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        agg, cursors = Aggregator(buckets), []
        try:
            while not errors and not stop.is_set():
                try:
                    start, upper = segments.get_nowait()
                except queue.Empty:
                    break
                if start != START:
                    cursors.append(start)
                for devices, fetched_at, nxt in walk(fetch, start, upper):
                    agg.add(devices, fetched_at)
                    if nxt is not None and (upper is None or order(nxt) < order(upper)):
                        cursors.append(nxt)
        except BaseException as exc:  # handed to the caller, which falls back or fails
            with lock:
                errors.append(exc)
        with lock:
            results.append((agg, cursors))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(starts))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stop.is_set():
        raise Stopped()
    if errors:
        raise errors[0]
    total, cursors = Aggregator(buckets), []
    for agg, seen in results:
        total.merge(agg)
        cursors.extend(seen)
    return total.result(), sorted(set(cursors), key=order)
