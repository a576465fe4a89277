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
    exposition); both are replaced together, under one reference, on every change."""

    def __init__(self, derive: Callable[[Mapping[Key, Snapshot]], T]) -> None:
        self._derive = derive
        self._lock = threading.Lock()
        empty: Mapping[Key, Snapshot] = MappingProxyType({})
        self._state: tuple[Mapping[Key, Snapshot], T] = (empty, derive(empty))

    @property
    def snapshots(self) -> Mapping[Key, Snapshot]:
        return self._state[0]

    @property
    def derived(self) -> T:
        return self._state[1]

    def get(self, collector: str, account: str) -> Snapshot | None:
        return self._state[0].get((collector, account))

    def publish(self, snapshot: Snapshot) -> None:
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
        frozen = MappingProxyType(snaps)
        self._state = (frozen, self._derive(frozen))
