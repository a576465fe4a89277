"""Labelled gauges and counters kept as one dict each, for the live metrics that grow with the
accounts (a few dozen series per account).

prometheus_client keeps an object per label set, with a lock and a value object of its own
(about 550 bytes: 41 000 series, 22 MB, at 1000 accounts); here a label set costs a dict entry,
a tuple and a float. They register with a prometheus_client registry and render exactly as its
Gauge and Counter do (with `_created` series disabled), in the order the label sets first
appeared. Only what the exporter uses: labels(...) (which creates the series at 0), set, inc."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.samples import Sample


class _Family:
    kind = ""
    suffix = ""  # of the sample's name

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def _key(self, values: tuple[object, ...]) -> tuple[str, ...]:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(values)} label values for {self.labelnames}")
        key = tuple(str(v) for v in values)
        with self._lock:
            self._values.setdefault(key, 0.0)
        return key

    def _add(self, key: tuple[str, ...], amount: float) -> None:
        with self._lock:
            self._values[key] += amount

    def _set(self, key: tuple[str, ...], value: float) -> None:
        with self._lock:
            self._values[key] = value

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]

    def collect(self) -> list[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        with self._lock:
            rows = dict(self._values)
        metric.samples = _Samples(self.name + self.suffix, self.labelnames, rows)  # type: ignore[assignment]
        return [metric]


class _Samples:
    """A family's samples, made one at a time as they are read: rendered from a list, every sample
    of the largest families (16 000 at a thousand accounts) was alive until the text was joined."""

    def __init__(self, name: str, labelnames: tuple[str, ...], rows: dict[tuple[str, ...], float]) -> None:
        self.name, self.labelnames, self.rows = name, labelnames, rows

    def __iter__(self) -> Iterator[Sample]:
        name, labelnames = self.name, self.labelnames
        for key, value in self.rows.items():
            yield Sample(name, dict(zip(labelnames, key, strict=True)), value)

    def __len__(self) -> int:
        return len(self.rows)


class Gauge(_Family):
    kind = "gauge"

    def labels(self, *values: object) -> GaugeSeries:
        return GaugeSeries(self, self._key(values))


class Counter(_Family):
    kind = "counter"
    suffix = "_total"

    def labels(self, *values: object) -> CounterSeries:
        return CounterSeries(self, self._key(values))


class GaugeSeries:
    __slots__ = ("_family", "_key")

    def __init__(self, family: Gauge, key: tuple[str, ...]) -> None:
        self._family, self._key = family, key

    def set(self, value: float) -> None:
        self._family._set(self._key, float(value))

    def inc(self, amount: float = 1) -> None:
        self._family._add(self._key, float(amount))


class CounterSeries:
    __slots__ = ("_family", "_key")

    def __init__(self, family: Counter, key: tuple[str, ...]) -> None:
        self._family, self._key = family, key

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self._family._add(self._key, float(amount))
