"""Immutable snapshots, one per collector and account, swapped in whole; readers never see a mix
of two."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from ..collectors.base import Snapshot

T = TypeVar("T")
Key = tuple[str, str]  # (collector, account)


class SnapshotStore(Generic[T]):
    """Holds the published snapshots and whatever `derive` builds from them (the rendered
    exposition). The snapshots are replaced under one reference on every change; `derive` runs
    when `derived` is next read, once per change however many came in between: a cycle of a
    thousand accounts publishes thousands of times, and each derivation joins every account's
    exposition. `prepare` runs at publish, on the publishing thread (a snapshot's own rendering)."""

    def __init__(
        self, derive: Callable[[Mapping[Key, Snapshot]], T], prepare: Callable[[Snapshot], None] | None = None
    ) -> None:
        self._derive, self._prepare = derive, prepare
        self._lock = threading.Lock()
        self._deriving = threading.Lock()
        empty: Mapping[Key, Snapshot] = MappingProxyType({})
        self._state: tuple[Mapping[Key, Snapshot], T | None] = (empty, derive(empty))

    @property
    def snapshots(self) -> Mapping[Key, Snapshot]:
        return self._state[0]

    @property
    def derived(self) -> T:
        snaps, derived = self._state
        if derived is not None:
            return derived
        with self._deriving:  # one derivation at a time; those waiting take its result
            snaps, derived = self._state
            if derived is None:
                derived = self._derive(snaps)
                with self._lock:
                    if self._state[0] is snaps:
                        self._state = (snaps, derived)
            return derived

    def get(self, collector: str, account: str) -> Snapshot | None:
        return self._state[0].get((collector, account))

    def publish(self, snapshot: Snapshot) -> None:
        if self._prepare is not None:
            self._prepare(snapshot)
        with self._lock:
            snaps = dict(self._state[0])
            snaps[snapshot.key] = snapshot
            self._swap(snaps)

    def drop(self, collector: str, account: str) -> bool:
        with self._lock:
            if (collector, account) not in self._state[0]:
                return False
            snaps = dict(self._state[0])
            del snaps[collector, account]
            self._swap(snaps)
            return True

    def _swap(self, snaps: dict[Key, Snapshot]) -> None:
        self._state = (MappingProxyType(snaps), None)
