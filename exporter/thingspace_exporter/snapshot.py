"""Immutable per-account snapshots, swapped in whole; readers never see a mix of two."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Generic, Mapping, TypeVar

from .aggregation import AccountData

T = TypeVar("T")


@dataclass(frozen=True)
class AccountSnapshot:
    account: str
    data: AccountData
    completed_at: float  # unix time the listing completed


class SnapshotStore(Generic[T]):
    """Holds the published snapshots and whatever `derive` builds from them (the rendered
    exposition); both are replaced together, under one reference, on every change."""

    def __init__(self, derive: Callable[[Mapping[str, AccountSnapshot]], T]) -> None:
        self._derive = derive
        self._lock = threading.Lock()
        empty: Mapping[str, AccountSnapshot] = MappingProxyType({})
        self._state: tuple[Mapping[str, AccountSnapshot], T] = (empty, derive(empty))

    @property
    def snapshots(self) -> Mapping[str, AccountSnapshot]:
        return self._state[0]

    @property
    def derived(self) -> T:
        return self._state[1]

    def publish(self, snapshot: AccountSnapshot) -> None:
        with self._lock:
            snaps = dict(self._state[0])
            snaps[snapshot.account] = snapshot
            self._swap(snaps)

    def drop(self, account: str) -> bool:
        with self._lock:
            if account not in self._state[0]:
                return False
            snaps = dict(self._state[0])
            del snaps[account]
            self._swap(snaps)
            return True

    def _swap(self, snaps: dict[str, AccountSnapshot]) -> None:
        frozen = MappingProxyType(snaps)
        self._state = (frozen, self._derive(frozen))
