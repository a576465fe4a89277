"""Streaming aggregation of device pages into counts (pure; nothing is kept per device).

Strictly typed pages are counted by their raw field values at C speed and normalised once
per distinct value in result(); lenient pages are normalised device by device first. Both
feed the same counters, since a normalised key is a valid raw key that normalises to itself.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, compress, islice, repeat
from operator import add, attrgetter
from sys import intern
from typing import Annotated, Any

import msgspec

from ..thingspace.decoding import text
from .device_pages import Device
from .lastconnection import EARLIEST, parse_time

DeviceKey = tuple[str, str, str, str, str, str]  # make, model, firmware, status, fota_eligible, license
ModelKey = tuple[str, str]  # make, model
_GO_UTC = " +0000 UTC"  # Go's time.String() in UTC; with it replaced by "Z" the text is RFC 3339
_UNKNOWN = {None: "0001-01-01T00:00:00Z", "": "0001-01-01T00:00:00Z", "N/A": "0001-01-01T00:00:00Z"}
_STAMPS = list[Annotated[datetime, msgspec.Meta(tz=True)]]
_EARLIEST = datetime.fromtimestamp(EARLIEST, UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
_ZERO = timedelta(0)


def _sum_limit(oldest: timedelta) -> int:
    """How many ages of at most `oldest` one timedelta sum holds (under a billion days): ages are
    summed exactly and moved into float seconds before that many pile up. In 2025 it is about
    36 000 ages since EARLIEST (1971); in 2100 about 21 000."""
    return timedelta.max // oldest


# the label values as sent, the protocol last: one key, counted in one pass
_key = attrgetter("make", "model", "firmware", "status", "fotaEligible", "licenseAssigned", "protocol")
_software = attrgetter("softwareList")
_times = attrgetter("make", "model", "lastConnectionTime", "lastConnectTime", "deviceId")
_model = attrgetter("make", "model")
_connection = attrgetter("lastConnectionTime")
_connect = attrgetter("lastConnectTime")


def flag(value: Any) -> str:
    """Absent or null booleans count as false; "true" strings are accepted."""
    if value is True:
        return "true"
    return "true" if type(value) is str and value.strip().lower() == "true" else "false"


def normal_key(raw: tuple) -> DeviceKey:
    """Label values are interned: with hundreds of accounts the same makes, models and firmware
    were a copy each per account (a tenth of the memory at 1000 accounts)."""
    make, model, firmware, status, fota, lic = raw
    return (label(make), label(model), label(firmware), intern(text(status).lower()), flag(fota), flag(lic))


def label(value: Any) -> str:
    return intern(text(value))


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
    # the devices with the oldest known last connection: (unix time, device id, make, model)
    stalest: tuple[tuple[float, str, str, str], ...] = ()


def _first_two(item: tuple) -> tuple:
    return item[0], item[1]  # last connection, then device id: ties in a fixed order


@dataclass
class Aggregator:
    buckets: tuple[float, ...]
    raw_devices: Counter = field(default_factory=Counter)  # by the label values and protocol as sent
    raw_software: Counter = field(default_factory=Counter)  # by the combination a device has
    # (make, model) -> devices by recency r, then the sum of their ages by r not yet in age_sums.
    # r counts the bucket starts (oldest first) a device connected at or after: 0 is unknown,
    # len(buckets) + 1 the newest bucket; bucket index = len(buckets) + 1 - r.
    recency: dict = field(default_factory=dict)
    age_sums: defaultdict = field(default_factory=lambda: defaultdict(float))  # (make, model) -> seconds
    unsummed: int = 0  # devices whose ages are still in `recency`
    oldest_age: timedelta = timedelta(days=1)  # no age summed yet is older: the latest page's time − EARLIEST
    count: int = 0
    pages: int = 0
    stalest: int = 0  # how many of the devices with the oldest known last connection to keep
    # candidates for them: (last connection, device id, make, model), at most 2 × stalest; only
    # times at or before `_limit`, the stalest-th oldest once that many are known, can enter
    oldest: list = field(default_factory=list)
    _limit: datetime = field(default=_LATEST, init=False, repr=False)

    def _row(self, model: ModelKey) -> list:
        width = len(self.buckets) + 2
        return self.recency.setdefault(model, [0] * width + [_ZERO] * width)

    def add(self, devices: Sequence[Any], fetched_at: float) -> None:
        """Count one page; ages are relative to `fetched_at`, the time the page arrived."""
        self.pages += 1
        if not devices:
            return
        if type(devices[0]) is Device:  # strictly typed: every value is hashable
            # update() with an iterable counts in C
            self.raw_devices.update(map(_key, devices))
            self.raw_software.update(filter(None, map(_software, devices)))  # tuples: hashable
            if not self._add_times_fast(devices, fetched_at):
                self._add_times(map(_times, devices), fetched_at)
        else:
            self.raw_devices.update(
                Counter((*normal_key(k[:6]), ",".join(protocols_of(k[6]))) for k in map(_key, devices))
            )
            for d in devices:
                if d.softwareList:
                    self.raw_software[tuple((text(s.name), text(s.version)) for s in d.softwareList)] += 1
            self._add_times(
                ((text(d.make), text(d.model), d.lastConnectionTime, d.lastConnectTime, d.deviceId) for d in devices),
                fetched_at,
            )
        self.count += len(devices)

    def _add_times_fast(self, devices: Sequence[Device], fetched_at: float) -> bool:
        """Ages of a whole page, mostly in C-level passes; False when a value needs the careful path."""
        first, second = list(map(_connection, devices)), list(map(_connect, devices))
        if first.count(None) == len(first):
            raw = second
        elif second.count(None) == len(second):
            raw = first
        else:
            raw = [a if a is not None else b for a, b in zip(first, second, strict=False)]
        # _UNKNOWN.get(t, t) is never None: it maps the unknown spellings and returns the rest as they are
        iso = list(map(str.replace, map(_UNKNOWN.get, raw, raw), repeat(_GO_UTC), repeat("Z")))  # type: ignore[arg-type]
        try:
            stamps = msgspec.convert(iso, _STAMPS)
        except msgspec.ValidationError:  # another zone, a monotonic suffix, garbage...
            return False
        now = datetime.fromtimestamp(fetched_at, UTC)
        if max(stamps) > now:  # a clock ahead of ours: "just now"
            stamps = list(map(min, stamps, repeat(now)))
        if self.stalest:
            self._offer(
                (when, d.deviceId, d.make, d.model)
                for when, d in compress(zip(stamps, devices, strict=False), map(self._limit.__ge__, stamps))
            )
        starts = [_EARLIEST, *(now - timedelta(seconds=b) for b in reversed(self.buckets))]
        get, width = self.recency.get, len(starts) + 1
        counted = zip(map(_model, devices), map(bisect_right, repeat(starts), stamps), stamps, strict=False)
        if now - _EARLIEST > self.oldest_age:  # (a clock set back keeps the older bound)
            self.oldest_age = now - _EARLIEST
        limit = _sum_limit(self.oldest_age)
        for left in range(len(devices), 0, -limit):  # one round unless a page is huge
            if self.unsummed + min(left, limit) > limit:
                self._sum_ages()
            for model, r, when in islice(counted, limit):
                row = get(model) or self._row(model)
                row[r] += 1
                if r:  # known: its age, exact (unknown ones have none)
                    row[r + width] += now - when
            self.unsummed += min(left, limit)
        return True

    def _sum_ages(self) -> None:
        """Move the ages summed in `recency` into seconds."""
        width = len(self.buckets) + 2
        for model, row in self.recency.items():
            total = sum(row[width + 1 :], _ZERO)
            if total:
                self.age_sums[model] += total.total_seconds()
            row[width:] = [_ZERO] * width
        self.unsummed = 0

    def _add_times(self, rows: Any, fetched_at: float) -> None:
        buckets = self.buckets
        newest = len(buckets) + 1
        known = []
        for make, model, raw, other, device_id in rows:
            row = self._row((make, model))
            when = parse_time(raw if raw is not None else other)
            if when is None:
                row[0] += 1
                continue
            age = max(0.0, fetched_at - when)
            row[newest - bisect_left(buckets, age)] += 1
            self.age_sums[(make, model)] += age
            if self.stalest:  # a clock ahead of ours: "just now", as for its age
                known.append((datetime.fromtimestamp(min(when, fetched_at), UTC), device_id, make, model))
        if known:
            self._offer(known)

    def _offer(self, candidates: Any) -> None:
        """Keep (last connection, device id, make, model) among the stalest candidates; unknown
        times (before EARLIEST) are not last connections and never enter."""
        limit = self._limit
        for when, device_id, make, model in candidates:
            if _EARLIEST <= when <= limit:
                self.oldest.append((when, text(device_id), text(make), text(model)))
        if len(self.oldest) > 2 * self.stalest:
            self._trim()

    def _trim(self) -> None:
        self.oldest.sort(key=_first_two)
        del self.oldest[self.stalest :]
        if self.stalest and len(self.oldest) == self.stalest:
            self._limit = self.oldest[-1][0]

    def merge(self, other: Aggregator) -> None:
        self._sum_ages()
        other._sum_ages()
        self.oldest.extend(other.oldest)
        self._trim()
        self.raw_devices.update(other.raw_devices)
        self.raw_software.update(other.raw_software)
        for model, theirs in other.recency.items():
            row = self._row(model)
            row[:] = map(add, row, theirs)
        for model, total in other.age_sums.items():
            self.age_sums[model] += total
        self.count += other.count
        self.pages += other.pages

    def result(self) -> AccountData:
        devices: Counter = Counter()
        protocols: Counter = Counter()
        for raw, n in self.raw_devices.items():
            devices[normal_key(raw[:6])] += n
            for proto in protocols_of(raw[6]):
                protocols[proto] += n
        software: Counter = Counter()
        for combination, n in self.raw_software.items():  # a device counts once per name and version
            for pair in {sw if type(sw) is tuple else (label(sw.name), label(sw.version)) for sw in combination}:
                software[pair] += n
        self._sum_ages()
        width = len(self.buckets) + 2  # unknown, +Inf, the finite buckets newest last
        unknown: Counter = Counter()
        rows: dict[ModelKey, list[int]] = {}
        sums: defaultdict = defaultdict(float)
        for (make, model), row in self.recency.items():
            mk = (label(make), label(model))
            if row[0]:
                unknown[mk] += row[0]
            if any(row[1:width]):
                # cumulative by bucket index (newest first): reverse the known recencies
                old = rows.get(mk, [0] * (width - 1))
                rows[mk] = list(map(add, old, reversed(row[1:width])))
        for (make, model), total in self.age_sums.items():
            sums[(label(make), label(model))] += total
        ages = {mk: (tuple(accumulate(row)), sums[mk]) for mk, row in rows.items()}
        self._trim()
        return AccountData(
            devices=dict(devices),
            protocols=dict(protocols),
            software=dict(software),
            ages=ages,
            unknown=dict(unknown),
            buckets=tuple(self.buckets),
            count=self.count,
            pages=self.pages,
            stalest=tuple((when.timestamp(), *rest) for when, *rest in self.oldest),
        )
