"""What the web side reads of the exporter: a small read-only view, so that it needs none of the
collection's objects. The composition root (app.py) provides it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from .exposition import Rendered


@dataclass(frozen=True)
class CollectorState:
    name: str
    ok: bool | None  # None: no run has finished yet
    reason: str = ""
    error: str = ""
    finished_at: float = 0.0  # unix time


@dataclass(frozen=True)
class AccountStatus:
    account: str
    ok: bool | None  # the account collector's latest run
    summary: dict[str, Any]  # what the account collector's latest published data says
    duration: float | None
    completed_at: float | None  # unix time of the data published
    collectors: tuple[CollectorState, ...]


@dataclass(frozen=True)
class Status:
    interval_seconds: float
    collectors: tuple[str, ...]
    summary_fields: tuple[str, ...]  # of the account collector's summary, a column each
    accounts: tuple[AccountStatus, ...]
    cycle_running: bool
    next_cycle_at: float | None  # unix time
    shard_index: int
    shard_count: int


class View(Protocol):
    registry: CollectorRegistry  # the live metrics, rendered at scrape time

    def exposition(self) -> Rendered: ...

    def healthy(self) -> tuple[bool, str]: ...

    def ready(self) -> bool: ...

    def status(self) -> Status: ...
