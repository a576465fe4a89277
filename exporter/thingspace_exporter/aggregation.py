"""Streaming aggregation of device pages into counts (pure; nothing is kept per device).

Strictly typed pages are counted by their raw field values at C speed and normalised once
per distinct value in result(); lenient pages are normalised device by device first. Both
feed the same counters, since a normalised key is a valid raw key that normalises to itself.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate, chain, repeat
from operator import attrgetter, sub
from typing import Annotated, Any, Sequence

import msgspec

from .decode import Device
from .lastconnection import EARLIEST, parse_time

DeviceKey = tuple[str, str, str, str, str, str]  # make, model, firmware, status, fota_eligible, license
ModelKey = tuple[str, str]  # make, model
_GO_UTC = " +0000 UTC"  # Go's time.String() in UTC; with it replaced by "Z" the text is RFC 3339
_UNKNOWN = {None: "0001-01-01T00:00:00Z", "": "0001-01-01T00:00:00Z", "N/A": "0001-01-01T00:00:00Z"}
_STAMPS = list[Annotated[datetime, msgspec.Meta(tz=True)]]

_key = attrgetter("make", "model", "firmware", "status", "fotaEligible", "licenseAssigned")
_protocol = attrgetter("protocol")
_software = attrgetter("softwareList")
_times = attrgetter("make", "model", "lastConnectionTime", "lastConnectTime")
_model = attrgetter("make", "model")
_connection = attrgetter("lastConnectionTime")
_connect = attrgetter("lastConnectTime")


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
    # ((make, model), bucket index): index len(buckets) is +Inf, one more is "unknown"
    histogram: Counter = field(default_factory=Counter)
    age_sums: defaultdict = field(default_factory=lambda: defaultdict(float))
    count: int = 0
    pages: int = 0

    def add(self, devices: Sequence[Any], fetched_at: float) -> None:
        """Count one page; ages are relative to `fetched_at`, the time the page arrived."""
        self.pages += 1
        if not devices:
            return
        if type(devices[0]) is Device:  # strictly typed: every value is hashable
            # update() with an iterable counts in C; every value here is hashable
            self.raw_devices.update(map(_key, devices))
            self.raw_protocols.update(map(_protocol, devices))
            lists = [s for s in map(_software, devices) if s]
            self.raw_software.update(chain.from_iterable(s if len(s) == 1 else set(s) for s in lists))
            if not self._add_times_fast(devices, fetched_at):
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

    def _add_times_fast(self, devices: Sequence[Device], fetched_at: float) -> bool:
        """Ages of a whole page with C-level passes; False when a value needs the careful path."""
        first, second = list(map(_connection, devices)), list(map(_connect, devices))
        if first.count(None) == len(first):
            raw = second
        elif second.count(None) == len(second):
            raw = first
        else:
            raw = [a if a is not None else b for a, b in zip(first, second)]
        iso = list(map(str.replace, map(_UNKNOWN.get, raw, raw), repeat(_GO_UTC), repeat("Z")))
        try:
            stamps = msgspec.convert(iso, _STAMPS)
        except msgspec.ValidationError:  # another zone, a monotonic suffix, garbage...
            return False
        ages = list(map(sub, repeat(fetched_at), map(datetime.timestamp, stamps)))
        bounds = (*self.buckets, fetched_at - EARLIEST)  # connected before EARLIEST means unknown
        index = list(map(bisect_left, repeat(bounds), ages))
        models = list(map(_model, devices))
        self.histogram.update(zip(models, index))
        sums, known = self.age_sums, len(self.buckets)
        for mk, age, i in zip(models, ages, index):
            if i <= known:
                sums[mk] += age if age > 0 else 0.0  # a clock ahead of ours: "just now"
        return True

    def _add_times(self, rows: Any, fetched_at: float) -> None:
        buckets, histogram, sums = self.buckets, self.histogram, self.age_sums
        unknown = len(buckets) + 1
        for make, model, raw, other in rows:
            when = parse_time(raw if raw is not None else other)
            if when is None:
                histogram[((make, model), unknown)] += 1
                continue
            age = max(0.0, fetched_at - when)
            histogram[((make, model), bisect_left(buckets, age))] += 1
            sums[(make, model)] += age

    def merge(self, other: Aggregator) -> None:
        self.raw_devices.update(other.raw_devices)
        self.raw_protocols.update(other.raw_protocols)
        self.raw_software.update(other.raw_software)
        self.histogram.update(other.histogram)
        for mk, total in other.age_sums.items():
            self.age_sums[mk] += total
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
        width = len(self.buckets) + 1  # the finite buckets and +Inf
        unknown: Counter = Counter()
        rows: dict[ModelKey, list[int]] = {}
        sums: defaultdict = defaultdict(float)
        for ((make, model), i), n in self.histogram.items():
            mk = (text(make), text(model))
            if i == width:
                unknown[mk] += n
            else:
                rows.setdefault(mk, [0] * width)[i] += n
        for (make, model), total in self.age_sums.items():
            sums[(text(make), text(model))] += total
        ages = {mk: (tuple(accumulate(row)), sums[mk]) for mk, row in rows.items()}
        return AccountData(
            devices=dict(devices), protocols=dict(protocols), software=dict(software), ages=ages,
            unknown=dict(unknown), buckets=tuple(self.buckets), count=self.count, pages=self.pages,
        )
