"""Streaming aggregation of device pages into counts (pure; nothing is kept per device).

Strictly typed pages are counted by their raw field values at C speed and normalised once
per distinct value in result(); lenient pages are normalised device by device first. Both
feed the same counters, since a normalised key is a valid raw key that normalises to itself.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, Sequence

from .decode import Device
from .lastconnection import parse_time

DeviceKey = tuple[str, str, str, str, str, str]  # make, model, firmware, status, fota_eligible, license
ModelKey = tuple[str, str]  # make, model
_CACHE_LIMIT = 8192

_key = attrgetter("make", "model", "firmware", "status", "fotaEligible", "licenseAssigned")
_protocol = attrgetter("protocol")
_software = attrgetter("softwareList")
_times = attrgetter("make", "model", "lastConnectionTime", "lastConnectTime")


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


def normal_key(raw: tuple) -> DeviceKey:
    make, model, firmware, status, fota, lic = raw
    return (text(make), text(model), text(firmware), text(status).lower(), flag(fota), flag(lic))


def protocols_of(raw: Any) -> set[str]:
    """`HTTP,LWM2M` is two protocols; a device counts once for each."""
    return {p.strip() for p in text(raw).split(",") if p.strip()}


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
    raw_devices: Counter = field(default_factory=Counter)
    raw_protocols: Counter = field(default_factory=Counter)
    raw_software: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    ages: dict[tuple, list] = field(default_factory=dict)  # raw (make, model) -> [per-bucket..., sum]
    count: int = 0
    pages: int = 0
    _times: dict[str, float | None] = field(default_factory=dict)

    def add(self, devices: Sequence[Any], fetched_at: float) -> None:
        """Count one page; ages are relative to `fetched_at`, the time the page arrived."""
        self.pages += 1
        if not devices:
            return
        if type(devices[0]) is Device:  # strictly typed: every value is hashable
            self.raw_devices.update(Counter(map(_key, devices)))
            self.raw_protocols.update(Counter(map(_protocol, devices)))
            lists = [s for s in map(_software, devices) if s]
            self.raw_software.update(Counter(chain.from_iterable(s if len(s) == 1 else set(s) for s in lists)))
            self._add_times(map(_times, devices), fetched_at)
        else:
            self.raw_devices.update(Counter(normal_key(k) for k in map(_key, devices)))
            self.raw_protocols.update(Counter(",".join(protocols_of(d.protocol)) for d in devices))
            for d in devices:
                if d.softwareList:
                    self.raw_software.update({(text(s.name), text(s.version)) for s in d.softwareList})
            self._add_times(((text(d.make), text(d.model), d.lastConnectionTime, d.lastConnectTime)
                             for d in devices), fetched_at)
        self.count += len(devices)

    def _add_times(self, rows: Any, fetched_at: float) -> None:
        buckets, times, ages, unknown = self.buckets, self._times, self.ages, self.unknown
        width = len(buckets) + 2
        for make, model, raw, other in rows:
            if raw is None:
                raw = other
            when = times.get(raw, 0) if type(raw) is str else None
            if when == 0:
                if len(times) > _CACHE_LIMIT:
                    times.clear()
                when = times[raw] = parse_time(raw)
            if when is None:
                unknown[(make, model)] += 1
                continue
            age = fetched_at - when
            if age < 0:
                age = 0.0  # a clock ahead of ours: connected "just now"
            row = ages.get((make, model))
            if row is None:
                row = ages[(make, model)] = [0] * width
            row[bisect_left(buckets, age)] += 1
            row[-1] += age

    def merge(self, other: Aggregator) -> None:
        self.raw_devices.update(other.raw_devices)
        self.raw_protocols.update(other.raw_protocols)
        self.raw_software.update(other.raw_software)
        self.unknown.update(other.unknown)
        _merge_rows(self.ages, other.ages)
        self.count += other.count
        self.pages += other.pages

    def result(self) -> AccountData:
        devices: Counter = Counter()
        for raw, n in self.raw_devices.items():
            devices[normal_key(raw)] += n
        protocols: Counter = Counter()
        for raw, n in self.raw_protocols.items():
            for proto in protocols_of(raw):
                protocols[proto] += n
        software: Counter = Counter()
        for sw, n in self.raw_software.items():
            software[sw if type(sw) is tuple else (text(sw.name), text(sw.version))] += n
        unknown: Counter = Counter()
        for (make, model), n in self.unknown.items():
            unknown[(text(make), text(model))] += n
        rows: dict[tuple, list] = {}
        for (make, model), row in self.ages.items():
            _merge_rows(rows, {(text(make), text(model)): row})
        ages = {}
        for mk, row in rows.items():
            cumulative, total = [], 0
            for v in row[:-1]:
                total += v
                cumulative.append(total)
            ages[mk] = (tuple(cumulative), float(row[-1]))
        return AccountData(
            devices=dict(devices), protocols=dict(protocols), software=dict(software), ages=ages,
            unknown=dict(unknown), buckets=tuple(self.buckets), count=self.count, pages=self.pages,
        )


def _merge_rows(into: dict[tuple, list], rows: dict[tuple, list]) -> None:
    for mk, row in rows.items():
        mine = into.get(mk)
        if mine is None:
            into[mk] = list(row)
        else:
            for i, v in enumerate(row):
                mine[i] += v
