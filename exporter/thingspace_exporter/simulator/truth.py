"""Ground truth: what an exporter should report, aggregated from raw device
dicts with its public semantics implemented independently of fleet.py."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

DeviceKey = tuple[str, str, str, str, str, str]

_GO = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ([+-])(\d\d)(\d\d) \S+$")
_RFC = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$")
_NEVER_YEARS = ("0001", "1900")  # Go zero time and the 1900 placeholder


@dataclass(frozen=True)
class Truth:
    """Aggregates over the devices one listing (one protocol filter) returns.

    ``count`` is the number of devices listed; ``total`` the number of devices
    in the account at this generation regardless of the protocol filter.
    """

    devices: Counter = field(default_factory=Counter)
    protocols: Counter = field(default_factory=Counter)
    software: Counter = field(default_factory=Counter)
    last_connection: dict = field(default_factory=dict)
    last_connection_unknown: Counter = field(default_factory=Counter)
    count: int = 0
    total: int = 0


def parse_time(value) -> float | None:
    """Epoch seconds of a Go time.String() or RFC 3339 value; None if unknown."""
    if not isinstance(value, str):
        return None
    m = _GO.match(value.strip())
    if m:
        y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    else:
        m = _RFC.match(value.strip())
        if not m:
            return None
        y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
        if z:
            sign, oh, om = "+", "0", "0"
    if y in _NEVER_YEARS:
        return None
    offset = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
    epoch = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    return epoch - offset + (float("0." + frac) if frac else 0.0)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _flag(value) -> str:
    return "true" if value is True else "false"


def aggregate(devices: Iterable[dict], total: int = 0) -> Truth:
    keys: Counter = Counter()
    protocols: Counter = Counter()
    software: Counter = Counter()
    last: dict = {}
    unknown: Counter = Counter()
    count = 0
    for d in devices:
        count += 1
        make, model = _text(d.get("make")), _text(d.get("model"))
        keys[
            (
                make,
                model,
                _text(d.get("firmware")),
                _text(d.get("status")).lower(),
                _flag(d.get("fotaEligible")),
                _flag(d.get("licenseAssigned")),
            )
        ] += 1
        for proto in {p.strip() for p in _text(d.get("protocol")).split(",")} - {""}:
            protocols[proto] += 1  # a device counts once for each protocol it lists
        for item in {(_text(s.get("name")), _text(s.get("version"))) for s in d.get("softwareList") or ()}:
            software[item] += 1
        raw = d.get("lastConnectionTime")
        when = parse_time(raw if raw is not None else d.get("lastConnectTime"))
        if when is None:
            unknown[(make, model)] += 1
        else:
            last.setdefault((make, model), []).append(when)
    return Truth(
        devices=keys,
        protocols=protocols,
        software=software,
        last_connection=last,
        last_connection_unknown=unknown,
        count=count,
        total=total,
    )
