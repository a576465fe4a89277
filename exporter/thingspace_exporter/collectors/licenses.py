"""Licence totals of an account: bought and in use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics import BG
from ..thingspace.client import segment
from ..thingspace.decoding import Scalar
from ..thingspace.errors import ApiError
from .base import Collector, Context, Snapshot

PATH = "/api/fota/v3/subscriptions/{account}"


class Subscription(msgspec.Struct, gc=False):
    licenseCount: Scalar = None
    licenseUsedCount: Scalar = None


DECODER = msgspec.json.Decoder(Subscription)


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


class LicensesCollector(Collector):
    name = "licenses"
    endpoints = ("subscriptions",)

    def collect(self, account: str, deadline: float, context: Context) -> LicenseData:
        path = PATH.format(account=segment(account))
        doc = self.tools.client.fetch_json("subscriptions", path, {}, deadline, DECODER)
        return LicenseData(count(doc.licenseCount, "licenseCount"), count(doc.licenseUsedCount, "licenseUsedCount"))

    def summary(self, data: LicenseData) -> dict[str, Any]:
        return {"licenses": data.total, "licenses_used": data.used}

    @staticmethod
    def families(snaps: Sequence[Snapshot]) -> Iterator[Metric]:
        total = GaugeMetricFamily(
            "thingspace_licenses", f"FOTA licences the account has bought. {BG}", labels=["account"]
        )
        used = GaugeMetricFamily(
            "thingspace_licenses_used", f"FOTA licences of the account in use. {BG}", labels=["account"]
        )
        for snap in snaps:
            total.add_metric([snap.account], snap.data.total)
            used.add_metric([snap.account], snap.data.used)
        yield from (total, used)
