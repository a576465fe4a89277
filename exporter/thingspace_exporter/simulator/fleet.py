"""Deterministic device generation for the simulator (pure: no I/O, no clock).

A device is a function of (seed, account, slot index, generation, generation
start times), so a 5-million-device account costs no memory and any page is
O(page size) to build.

IMEIs: a 14-digit body ``base + index * stride`` plus a Luhn check digit, so
IMEIs ascend with the index and ``index_of`` inverts one arithmetically.

Churn: slots ``0..size-1`` exist from generation 0; ``join_per_gen`` new slots
appear at each later generation (higher IMEIs). Each slot has a sparse stream
of churn events (connect, stale, upgrade, leave) with geometric gaps, so
``present``/``device`` walk only the few events up to the generation asked.

Protocol filter (the list endpoint's ``protocol`` query): a device matches P
if P, compared case-insensitively, is one of its comma-split protocols.
``all``, empty or absent means no filter; an unknown value matches nothing.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Iterator

import msgspec

# Age boundaries the exporter buckets by; ages are kept SNAP_MARGIN away so
# a test bucketing a little later than the generation start gets exact counts.
BOUNDARIES = (3600, 21600, 86400, 604800, 2592000)
SNAP_MARGIN = 125

EVENT_RATE = 0.04  # chance per generation that a slot has a churn event
JOIN_RATE = 0.005  # new slots per generation, as a share of the account size
_EVENT_KINDS = ((0.45, "connect"), (0.65, "stale"), (0.85, "upgrade"), (1.0, "leave"))

_M64 = (1 << 64) - 1

# (make, model, share, ((firmware oldest→newest, share), ...)): skewed like a real fleet.
MODELS = (
    (
        "NORDIC SEMICONDUCTOR ASA",
        "NRF9160",
        0.36,
        (
            ("mfw_nrf9160_1.2.3", 0.05),
            ("mfw_nrf9160_1.3.1", 0.15),
            ("mfw_nrf9160_1.3.4", 0.5),
            ("mfw_nrf9160_1.3.5", 0.3),
        ),
    ),
    ("QUECTEL", "BG96", 0.18, (("BG96MAR02A07M1G", 0.1), ("BG96MAR02A10M1G", 0.3), ("BG96MAR04A04M1G", 0.6))),
    ("QUECTEL", "BG96-NA", 0.05, (("BG96NAMAR02A09M1G_O_BETA0423A", 0.7), ("BG96NAR02A10M1G", 0.3))),
    ("SEQUANS COMMUNICATIONS", "GM01Q", 0.14, (("SR1.2.0.0-10512", 0.65), ("SR1.2.0.2-10812", 0.35))),
    ("TELIT", "ME910C1", 0.12, (("M0B.020009", 0.2), ("M0B.020011", 0.5), ("M0B.020012", 0.3))),
    (
        "SIERRA WIRELESS",
        "HL7800",
        0.15,
        (
            ("HL7800.4.3.9.0", 0.05),
            ("HL7800.4.4.14.0", 0.25),
            ("HL7800.4.5.4.0", 0.45),
            ("HL7800.4.6.9.4", 0.2),
            ("HL7800.4.7.0.0", 0.05),
        ),
    ),
)

SOFTWARE = {
    "NORDIC SEMICONDUCTOR ASA": (
        ("Sample OEM App", "nRF9160-2021-07-15-1.0"),
        ("Sample OEM Application", "nRF9160-2021-08-13-1.0"),
        ("Verizon MDM IoT Nordic nRF9160", "1.0.0.11"),
    ),
    "QUECTEL": (
        ("VZ_MDM_IOT", "0.14"),
        ("VZ_MDM_IOT", "0.15"),
        ("configfile-Quectel_QUECTEL BG96_hello-world.txt", "1.0"),
        ("configfile-Quectel_QUECTEL BG96_imei-mdn.txt", "1.0"),
    ),
}
DEFAULT_SOFTWARE = (("VZ_MDM_IOT", "0.14"), ("asset-tracker", "2.1.0"), ("asset-tracker", "2.2.0"))

# (cumulative share, value); odd values are deliberate API quirks.
STATUSES = (
    (0.50, "Active"),
    (0.72, "active"),
    (0.80, "ACTIVE"),
    (0.86, "suspended"),
    (0.88, "Suspended"),
    (0.93, "pending"),
    (0.95, "Pending"),
    (0.97, "deactive"),
    (0.98, "PreActive"),
    (0.99, "Ready"),
    (1.0, None),
)
PROTOCOLS = (
    (0.78, "LWM2M"),
    (0.88, "HTTP,LWM2M"),
    (0.91, "NONE"),
    (0.94, "OMADM"),
    (0.96, "HTTP"),
    (0.97, "LWM2M,OMADM"),
    (0.985, ""),
    (1.0, None),
)
_MISSING = object()  # marks a key the device omits entirely
BOOLS = ((0.70, True), (0.94, False), (0.97, None), (1.0, _MISSING))
UNKNOWN_LAST = ("N/A", "", _MISSING, "0001-01-01 00:00:00 +0000 UTC", "1900-01-01 00:00:00 +0000 UTC")


def _mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _pick(table, u: float):
    for edge, value in table:
        if u < edge:
            return value
    return table[-1][1]


def _luhn_sum(body: int) -> int:
    total = 0
    for i, ch in enumerate(reversed(str(body))):
        d = int(ch)
        if i % 2 == 0:  # doubled: rightmost body digit sits left of the check digit
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total


# Luhn sums of every 4-digit group: a group has an even width, so each keeps its doubling
# parity inside a longer body and a body's sum is the sum of its groups' (a page's IMEIs
# cost a few lookups each instead of a loop over 14 digits).
_LUHN4 = [_luhn_sum(n) for n in range(10_000)]


def _luhn(body: int) -> int:
    total = 0
    while body:
        body, group = divmod(body, 10_000)
        total += _LUHN4[group]
    return (10 - total % 10) % 10


def snap_age(age: float) -> float:
    """Move an age out of the ±SNAP_MARGIN band around each bucket boundary."""
    age = max(age, 0.0)
    for b in BOUNDARIES:
        if b - SNAP_MARGIN < age < b:
            return b - SNAP_MARGIN
        if b <= age < b + SNAP_MARGIN:
            return b + SNAP_MARGIN
    return age


def _fraction(ns: int, digits: int) -> str:
    frac = f"{ns:09d}"[:digits].rstrip("0")  # Go trims trailing zeros
    return "." + frac if frac else ""


def go_time(sec: int, ns: int, digits: int) -> str:
    """Go's time.String() form, e.g. '2021-09-29 07:43:08.181 +0000 UTC'."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)) + _fraction(ns, digits) + " +0000 UTC"


def rfc3339(sec: int, ns: int, digits: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + _fraction(ns, digits) + "Z"


class AccountFleet:
    """All devices of one account across generations."""

    def __init__(self, seed: int, account: str, size: int):
        digest = hashlib.blake2b(f"{seed}:{account}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "big")
        self.account = account
        self.size = size
        self.stride = 3 + self.key % 7
        self.base = 35_000_000_000_000 + (self.key >> 8) % 1000 * 10**9  # TACs start with 35
        self.join_per_gen = max(1, round(size * JOIN_RATE)) if size else 0
        # Accounts differ in how an empty final page looks (null vs absent).
        self.null_device_list = bool(self.key & 1)

    # --- identity -------------------------------------------------------
    def imei(self, idx: int) -> str:
        body = self.base + idx * self.stride
        return str(body * 10 + _luhn(body))

    def mdn(self, idx: int) -> str:
        return str(2_000_000_000 + (self.key + idx * 7919) % 7_999_999_999)

    def _slot(self, idx: int) -> int:
        """The slot whose draws make this slot's record (all but identity and churn): itself here;
        tiles.TiledFleet repeats a tile's records."""
        return idx

    def index_of(self, imei: str) -> int | None:
        """Slot index of an IMEI of this account, or None if it cannot be one."""
        if len(imei) != 15 or not imei.isdigit():
            return None
        body, check = divmod(int(imei), 10)
        off = body - self.base
        if off < 0 or off % self.stride or _luhn(body) != check:
            return None
        return off // self.stride

    def slots(self, gen: int) -> int:
        return self.size + gen * self.join_per_gen

    def born(self, idx: int) -> int:
        return 0 if idx < self.size else 1 + (idx - self.size) // self.join_per_gen

    # --- churn ------------------------------------------------------------
    def events(self, idx: int, gen: int) -> Iterator[tuple[int, str, int]]:
        """(generation, kind, hash) of each churn event of a slot up to gen."""
        e = self.born(idx)
        log_stay = math.log1p(-EVENT_RATE)
        while e < gen:
            h = _mix(self.key ^ _mix(idx * 1_000_003 + e))
            u = ((h >> 11) + 1) / 2.0**53
            e += 1 + int(math.log(u) / log_stay)
            if e > gen:
                return
            kind = _pick(_EVENT_KINDS, (h & 0x3FF) / 1024)
            yield e, kind, h
            if kind == "leave":
                return

    def present(self, idx: int, gen: int) -> bool:
        if idx < 0 or idx >= self.slots(gen):
            return False
        return all(kind != "leave" for _, kind, _ in self.events(idx, gen))

    def protocol(self, idx: int) -> str | None:
        """Fixed per device and cheap, so filtering does not build devices."""
        return _pick(PROTOCOLS, (_mix(self.key + 7 * self._slot(idx) + 1) >> 11) / 2.0**53)

    def matches(self, idx: int, wanted: str | None) -> bool:
        if wanted is None:
            return True
        proto = self.protocol(idx) or ""
        return wanted in (p.strip().upper() for p in proto.split(","))

    # --- device records -----------------------------------------------------
    def device(self, idx: int, gen: int, gen_times) -> dict | None:
        """The device dict as the API would return it, or None if absent."""
        if idx < 0 or idx >= self.slots(gen):
            return None
        born = self.born(idx)
        r = random.Random(self.key ^ (self._slot(idx) << 20))
        make, model, firmwares, fw_table = _pick(_MODEL_TABLE, r.random())
        fw_i = _pick(fw_table, r.random())
        # Known last connection as an absolute time, or None while unknown.
        unknown = r.random() < 0.05
        unknown_form = UNKNOWN_LAST[r.randrange(len(UNKNOWN_LAST))]
        raw = None if unknown else gen_times[born] - _initial_age(r.random(), r.random())
        for e, kind, h in self.events(idx, gen):
            u = (h >> 20 & 0xFFFFF) / 2.0**20
            if kind == "leave":
                return None
            if kind == "connect":
                raw = gen_times[e] - 300 * u
            elif kind == "stale" and raw is not None:
                raw = gen_times[e] - (2 * 86400 + 38 * 86400 * u)
            elif kind == "upgrade":
                fw_i = min(fw_i + 1, len(firmwares) - 1)
        return self._record(r, idx, gen, gen_times, make, model, firmwares[fw_i][0], raw, unknown_form)

    def _record(self, r, idx, gen, gen_times, make, model, firmware, raw, unknown_form) -> dict:
        now = gen_times[gen]
        rfc = r.random() < 0.15
        digits = (0, 1, 3, 3, 3, 6, 9)[r.randrange(7)]
        fmt = rfc3339 if rfc else go_time
        odd = r.random()  # rare devices missing one identity field
        d: dict = {"deviceId": self.imei(idx), "mdn": self.mdn(idx)}
        d["model"] = None if 0.002 <= odd < 0.004 else model
        d["make"] = make
        d["firmware"] = firmware
        if odd < 0.002:
            del d["make"]
        elif 0.004 <= odd < 0.006:
            d["firmware"] = None
        for key in ("fotaEligible", "licenseAssigned"):
            value = _pick(BOOLS, r.random())
            if value is not _MISSING:
                d[key] = value
        d["status"] = _pick(STATUSES, r.random())
        proto = self.protocol(idx)
        if proto is not None:
            d["protocol"] = proto
        d["softwareList"] = _software(r, make, now)
        d["filesList"] = [{"name": "config.txt"}] if r.random() < 0.05 else []
        created = now - 86400 * (30 + 900 * r.random())
        d["createTime"] = (
            "0001-01-01 00:00:00 +0000 UTC" if r.random() < 0.1 else fmt(int(created), r.randrange(10**9), 3)
        )
        d["upgradeTime"] = (
            "1900-01-01 00:00:00 +0000 UTC"
            if r.random() < 0.6
            else go_time(int(created + 86400), r.randrange(10**9), 3)
        )
        d["statusTime"] = go_time(int(created + 3600), r.randrange(10**9), 3)
        d["refreshTime"] = go_time(int(now - 60 * r.random()), r.randrange(10**9), 3)
        last_key = "lastConnectTime" if r.random() < 0.6 else "lastConnectionTime"
        ns = r.randrange(10**9)
        if raw is None:
            if unknown_form is not _MISSING:
                d[last_key] = unknown_form
        else:
            # Truncating the shown fraction only makes the age older by <1 s.
            d[last_key] = fmt(int(now - snap_age(now - raw)), ns, digits)
        if r.random() < 0.1:
            d["distributionType"] = "HTTP" if r.random() < 0.5 else "LWM2M"
        if r.random() < 0.05:
            d["refreshStatus"] = "Success"
        return d

    # --- cheap per-slot facts for the other endpoints ---------------------------
    # These replay device()'s first draws without building the record (~20x cheaper),
    # so licence counts and campaign membership scale to large fleets. They must
    # follow device()'s draw order; test_simulator_fleet checks them against it.
    def model_of(self, idx: int) -> tuple[str, str]:
        """(make, model) of a slot, whatever the record's odd missing fields say."""
        make, model, _, _ = _pick(_MODEL_TABLE, random.Random(self.key ^ (self._slot(idx) << 20)).random())
        return make, model

    def licensed(self, idx: int) -> bool:
        """The slot's ``licenseAssigned`` is True (fixed for the slot's lifetime)."""
        r = random.Random(self.key ^ (self._slot(idx) << 20))
        r.random(), r.random()  # model, firmware
        unknown = r.random() < 0.05
        r.randrange(len(UNKNOWN_LAST))
        if not unknown:
            r.random(), r.random()  # initial age
        r.random(), r.randrange(7), r.random(), r.random()  # rfc, digits, odd, fotaEligible
        return _pick(BOOLS, r.random()) is True

    def device_json(self, idx: int, gen: int, gen_times) -> bytes | None:
        """device() as the JSON the list endpoint sends."""
        d = self.device(idx, gen, gen_times)
        return None if d is None else msgspec.json.encode(d)

    def page_records(
        self, start: int, gen: int, gen_times, wanted: str | None, count: int
    ) -> tuple[list[bytes], int, bool]:
        """Up to count records (JSON) of the devices present at gen from slot start on that match the
        filter, ascending; the slot of the last one (-1 if none); whether another such device follows."""
        records: list[bytes] = []
        last = -1
        for idx in range(max(start, 0), self.slots(gen)):
            if not self.matches(idx, wanted):
                continue
            record = self.device_json(idx, gen, gen_times)
            if record is None:
                continue
            if len(records) == count:
                return records, last, True
            records.append(record)
            last = idx
        return records, last, False

    def scan(self, start: int, gen: int, gen_times, wanted: str | None) -> Iterator[dict]:
        """Devices present at gen with index >= start and matching the filter, ascending."""
        for idx in range(max(start, 0), self.slots(gen)):
            if self.matches(idx, wanted):
                d = self.device(idx, gen, gen_times)
                if d is not None:
                    yield d


def _cum(shares):
    total, out = 0.0, []
    for s in shares:
        total += s
        out.append(total / sum(shares))
    return out


# (cumulative edge, (make, model, firmwares, (cumulative edge, firmware index)...))
_MODEL_TABLE = tuple(
    (edge, (make, model, fws, tuple(zip(_cum([s for _, s in fws]), range(len(fws)), strict=True))))
    for edge, (make, model, _, fws) in zip(_cum([m[2] for m in MODELS]), MODELS, strict=True)
)


def _initial_age(u: float, v: float) -> float:
    """Skewed ages: most within the hour, a tail of days, weeks and months."""
    for edge, lo, hi in (
        (0.6, 0, 3600),
        (0.78, 3600, 21600),
        (0.88, 21600, 86400),
        (0.95, 86400, 604800),
        (0.985, 604800, 2592000),
    ):
        if u < edge:
            return lo + (hi - lo) * v
    return 2592000 + 300 * 86400 * v


def _software(r: random.Random, make: str, now: float) -> list[dict]:
    pool = SOFTWARE.get(make, DEFAULT_SOFTWARE)
    n = _pick(((0.5, 0), (0.8, 1), (0.92, 2), (1.0, 3)), r.random())
    items = r.sample(pool, min(n, len(pool)))
    if items and r.random() < 0.05:
        items.append(items[0])  # the API sometimes lists an item twice
    return [
        {
            "name": name,
            "version": version,
            "upgradeTime": go_time(int(now - 86400 * 400 * r.random()), r.randrange(10**9), 3),
        }
        for name, version in items
    ]
