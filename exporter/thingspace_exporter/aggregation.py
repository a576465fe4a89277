"""Streaming aggregation of device pages into counts (pure; nothing is kept per device)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from .decode import Device
from .lastconnection import parse_time

DeviceKey = tuple[str, str, str, str, str, str]  # make, model, firmware, status, fota_eligible, license
ModelKey = tuple[str, str]  # make, model
_CACHE_LIMIT = 4096


def text(value: Any) -> str:
    """A label value from whatever the API sent: None is empty, numbers become strings."""
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def flag(value: Any) -> str:
    """Absent or null booleans count as false; "true" strings are accepted."""
    if value is True:
        return "true"
    return "true" if type(value) is str and value.strip().lower() == "true" else "false"


@dataclass(frozen=True)
class AccountData:
    """Immutable counts for one account's complete listing."""

    devices: dict[DeviceKey, int]
    protocols: dict[str, int]
    software: dict[tuple[str, str], int]
    # (make, model) -> (cumulative bucket counts ending with +Inf, sum of ages)
    ages: dict[ModelKey, tuple[tuple[int, ...], float]]
    unknown: dict[ModelKey, int]
    buckets: tuple[float, ...]
    count: int
    pages: int = 0


@dataclass
class Aggregator:
    buckets: tuple[float, ...]
    devices: Counter = field(default_factory=Counter)
    protocols: Counter = field(default_factory=Counter)
    software: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    ages: dict[ModelKey, list] = field(default_factory=dict)  # [per-bucket counts..., sum]
    count: int = 0
    pages: int = 0
    _times: dict[str, float | None] = field(default_factory=dict)

    def add(self, devices: Iterable[Device], fetched_at: float) -> None:
        """Count one page; ages are relative to `fetched_at`, the time the page arrived."""
        self.pages += 1
        buckets, times, ages, n_buckets = self.buckets, self._times, self.ages, len(self.buckets)
        device_keys, protocols, software, unknown = [], self.protocols, self.software, self.unknown
        for d in devices:
            make, model = text(d.make), text(d.model)
            status = d.status
            status = status.lower() if type(status) is str else text(status).lower()
            device_keys.append((make, model, text(d.firmware), status,
                                flag(d.fotaEligible), flag(d.licenseAssigned)))
            proto = d.protocol
            if proto:
                if type(proto) is str and "," not in proto:
                    protocols[proto.strip()] += 1
                else:
                    protocols.update({p.strip() for p in text(proto).split(",") if p.strip()})
            if d.softwareList:
                software.update({(text(s.name), text(s.version)) for s in d.softwareList})
            raw = d.lastConnectionTime
            if raw is None:
                raw = d.lastConnectTime
            if type(raw) is str:
                when = times.get(raw, 0)
                if when == 0:
                    if len(times) > _CACHE_LIMIT:
                        times.clear()
                    when = times[raw] = parse_time(raw)
            else:
                when = None
            mk = (make, model)
            if when is None:
                unknown[mk] += 1
                continue
            age = fetched_at - when
            if age < 0:
                age = 0.0  # a clock ahead of ours: connected "just now"
            row = ages.get(mk)
            if row is None:
                row = ages[mk] = [0] * (n_buckets + 2)
            row[bisect_left(buckets, age)] += 1
            row[-1] += age
        self.devices.update(device_keys)
        self.count += len(device_keys)

    def merge(self, other: Aggregator) -> None:
        self.devices.update(other.devices)
        self.protocols.update(other.protocols)
        self.software.update(other.software)
        self.unknown.update(other.unknown)
        for mk, row in other.ages.items():
            mine = self.ages.setdefault(mk, [0] * len(row))
            for i, v in enumerate(row):
                mine[i] += v
        self.count += other.count
        self.pages += other.pages

    def result(self) -> AccountData:
        ages = {}
        for mk, row in self.ages.items():
            cumulative, total = [], 0
            for v in row[:-1]:
                total += v
                cumulative.append(total)
            ages[mk] = (tuple(cumulative), float(row[-1]))
        return AccountData(
            devices=dict(self.devices), protocols=dict(self.protocols), software=dict(self.software),
            ages=ages, unknown=dict(self.unknown), buckets=tuple(self.buckets), count=self.count,
            pages=self.pages,
        )
