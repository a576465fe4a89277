"""Will the configured interval, deadline and concurrency list the fleet in time? Worked out from
what each account's last listing learnt (its pages and the mean time of a page request), so the
exporter can say so at start instead of failing every cycle at its deadline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .device_boundaries import Listing


def listing_seconds(pages: int, page_seconds: float, workers: int, rate: float) -> float:
    """Wall time of a listing of `pages` pages with `workers` requests in flight, each taking
    `page_seconds`, and at most `rate` requests a second (0: no cap)."""
    return max(pages * page_seconds / workers, pages / rate if rate > 0 else 0.0)


def warnings(settings: Any, known: Mapping[str, Listing]) -> list[dict[str, Any]]:
    """One entry for each account whose next listing cannot finish before its deadline, or
    within the interval (then cycles run back to back)."""
    accounts = settings.owned_accounts
    # every account lists at once and all of them share this replica's part of the rate cap
    rate = settings.max_requests_per_second / settings.shard_count / max(1, len(accounts))
    out = []
    for account in accounts:
        last = known.get(account)
        if last is None or not last.pages or not last.page_seconds:
            continue
        workers = settings.max_concurrency if last.bounds else 1  # parallel once bounds are known
        need = listing_seconds(last.pages, last.page_seconds, workers, rate)
        limit = (
            "cycle_timeout_seconds"
            if need > settings.cycle_timeout_seconds
            else "interval_seconds"
            if need > settings.interval_seconds
            else None
        )
        if limit is not None:
            out.append(
                {
                    "account": account,
                    "pages": last.pages,
                    "at_least": not last.complete,
                    "page_seconds": round(last.page_seconds, 3),
                    "workers": workers,
                    "estimated_seconds": round(need),
                    "exceeds": "THINGSPACE_" + limit.upper(),
                    "limit_seconds": getattr(settings, limit),
                }
            )
    return out
