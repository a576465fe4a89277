"""When each account is next collected (pure: the caller brings the clock and the locking).

Every account keeps its own interval, from the start of its previous run, so a huge account's
long listing delays nobody else's next run. The account due earliest goes first; accounts due
together go longest-running first, so that a huge one starts beside the small ones, not after.
Every account starts due, which makes the first round reach every account before any second.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


class Schedule:
    def __init__(self, accounts: Iterable[str], interval: float, now: float, took: Mapping[str, float]) -> None:
        """Every account due `now`; `took` is how long each took last time, where known."""
        self.interval = interval
        self.order = {a: i for i, a in enumerate(accounts)}  # the configured order breaks ties
        # accounts not running: (due, -seconds its latest run took, order, account), earliest first
        self.waiting = [(now, -took.get(a, 0.0), i, a) for a, i in self.order.items()]
        heapq.heapify(self.waiting)
        self.runs = dict.fromkeys(self.order, 0)  # account -> runs started
        self.round = 0  # the most runs any account has started
        self.unfinished = set(self.order)  # accounts that have yet to finish a run

    def take(self, now: float) -> str | None:
        """The account to start now, taken off the waiting list; None while none is due."""
        if not self.waiting or self.waiting[0][0] > now:
            return None
        account = heapq.heappop(self.waiting)[3]
        self.runs[account] += 1
        self.round = max(self.round, self.runs[account])
        return account

    def done(self, account: str, started: float, finished: float) -> None:
        """A run of `account` ended: it is due one interval after that run started."""
        self.unfinished.discard(account)
        heapq.heappush(self.waiting, (started + self.interval, started - finished, self.order[account], account))

    def next_due(self) -> float | None:
        """When the earliest waiting account is due; None while every account runs."""
        return self.waiting[0][0] if self.waiting else None
