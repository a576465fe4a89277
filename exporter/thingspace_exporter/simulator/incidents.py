"""Incidents: something goes wrong in the fleet for a while, then rights itself.

An incident is KIND, an optional TARGET, a start and an end (wall-clock). The Simulator reconciles
them before each request (``Incidents.due``): what started is applied, what ended is undone, so an
incident ends by itself without a timer thread.

Kinds and targets (no target: every account):
- ``silent``: [ACCOUNT/]MODEL (default BG96). The model's devices stop connecting: their last
  connection is pinned SILENT_AGE before the incident began, so they sit in the stale buckets
  at once (the simulator compresses the day a real fleet takes to get there).
- ``inactive``: ACCOUNT. Every FOTA call for the account is refused ("Inactive account").
- ``campaign_failing``: ACCOUNT. CAMPAIGN_FAILED_SHARE of each running campaign's devices fail.
- ``licences``: ACCOUNT. Licence usage held at LICENCE_RATIO.
- ``throttled``: no target. THROTTLED_SHARE of all requests answered 429.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

KINDS = ("silent", "inactive", "campaign_failing", "licences", "throttled")
DEFAULT_MODEL = "BG96"
DEFAULT_DURATION = 60.0
SILENT_AGE = 90000.0  # 25 h: past the day-old bound (86400 s), clear of the next (604800 s)
CAMPAIGN_FAILED_SHARE = 0.6
LICENCE_RATIO = 0.97
THROTTLED_SHARE = 0.6


@dataclass
class Incident:
    kind: str
    target: str | None
    start: float
    end: float
    applied: bool = False
    undone: bool = False
    saved: dict | None = None  # what applying replaced, per account, to put back

    def record(self) -> dict:
        now = time.time()
        return {
            "kind": self.kind,
            "target": self.target,
            "start": self.start,
            "end": self.end,
            "active": self.start <= now < self.end,
        }


def check(kind: str, target: str | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown incident kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "throttled" and target:
        raise ValueError("throttled takes no target")


def parse(text: str) -> tuple[str, str | None, float, float]:
    """KIND[:TARGET]@AFTER[+DURATION] (seconds) -> (kind, target, after, duration)."""
    head, at, rest = text.partition("@")
    kind, _, target = head.partition(":")
    after, _, duration = rest.partition("+")
    try:
        numbers = float(after), float(duration) if duration else DEFAULT_DURATION
    except ValueError:
        numbers = (-1.0, -1.0)
    if not at or min(numbers) < 0:
        raise ValueError(f"expected KIND[:TARGET]@AFTER[+DURATION] in seconds, e.g. silent:BG96@30+120, got {text!r}")
    check(kind, target or None)
    return kind, target or None, numbers[0], numbers[1]


class Incidents:
    """Scheduled incidents, thread-safe. ``due`` hands out those to apply and to undo, each once."""

    def __init__(self) -> None:
        self._all: list[Incident] = []
        self._lock = threading.Lock()

    def add(self, kind: str, target: str | None = None, after: float = 0.0, duration: float = DEFAULT_DURATION):
        check(kind, target)
        start = time.time() + after
        with self._lock:
            self._all.append(Incident(kind, target, start, start + duration))

    def due(self) -> tuple[list[Incident], list[Incident]]:
        """(incidents to apply now, incidents to undo now)."""
        now = time.time()
        begin, finish = [], []
        with self._lock:
            for inc in self._all:
                if not inc.applied and inc.start <= now:
                    inc.applied = True
                    begin.append(inc)
                if inc.applied and not inc.undone and inc.end <= now:
                    inc.undone = True
                    finish.append(inc)
        return begin, finish

    def records(self) -> list[dict]:
        with self._lock:
            return [inc.record() for inc in self._all]
