"""Licence totals of an account: bought and in use."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ..collection.snapshots import Snapshot
from ..metrics import BG
from ..thingspace.errors import ApiError
from .base import Context


@dataclass(frozen=True)
class LicenseData:
    total: float
    used: float


def count(value: Any, field: str) -> float:
    """A licence count: a non-negative whole number, or a string of one."""
    if type(value) is str and value.strip().isdigit():
        return float(value.strip())
    if type(value) in (int, float) and value >= 0 and float(value).is_integer():
        return float(value)
    raise ApiError("bad_page", f"{field} is not a count", "subscriptions")


class LicensesCollector:
    name = "licenses"

    def __init__(self, client: Any, settings: Any, stop: threading.Event, log: Any) -> None:
        self.client = client

    def collect(self, account: str, deadline: float, context: Context) -> LicenseData:
        doc = self.client.subscription(account, deadline)
        return LicenseData(count(doc.licenseCount, "licenseCount"), count(doc.licenseUsedCount, "licenseUsedCount"))

    def families(self, snapshots: Sequence[Snapshot]) -> Iterator[Metric]:
        return families(snapshots)

    @staticmethod
    def summary(data: LicenseData) -> dict[str, Any]:
        return {"licenses": data.total, "licenses_used": data.used}


def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
    total = GaugeMetricFamily("thingspace_licenses", f"FOTA licences the account has bought. {BG}", labels=["account"])
    used = GaugeMetricFamily(
        "thingspace_licenses_used", f"FOTA licences of the account in use. {BG}", labels=["account"]
    )
    for snap in snaps:
        total.add_metric([snap.account], snap.data.total)
        used.add_metric([snap.account], snap.data.used)
    yield from (total, used)
