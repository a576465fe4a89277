"""Firmware campaigns of one account and their report pages (pure but for a cache).

Campaigns: a configured number per account (statuses from ``DEFAULT_MIX``, then
seeded draws), or an exact ``{status: count}`` (any status string, so the open
enum can be exercised). Each upgrades one of the account's firmware paths.
Ids are UUID-shaped, deterministic from (seed, account, number). Everything
but the device statuses of a campaign is fixed for the simulator's lifetime.

Devices of a campaign: slots present at generation 0 with the campaign's make
and model, found from a seeded slot onwards (so a campaign's devices are
a sample of that model's devices, in IMEI order). Their number is seeded
(20-400), or configured, and capped by the fleet. Campaign reports keep
devices that later leave the fleet, as reports do.

Device statuses: exact counts from shares per campaign status (largest
remainder), dealt to the devices in a seeded order. A running campaign
(CampaignScheduled) completes 5 % more of its devices per generation; its
failed share (seeded 1-6 %) can be overridden (``failed_share``), which sets
the share of *all* its devices in UpgradeFailed.

Paging, per status chain and per campaign, follows the device list: ascending
ids, the last id as cursor while there is more, "0" at the end, an empty final
page's list null or absent (per account, as for the device list). A cursor
that is not one of the account's campaigns (or not a device of the campaign)
is 400 INVALID_PARAMETER "LastSeenCampaignId Not Valid" ("LastSeenDeviceId
Not Valid"). A missing or blank ``campaignStatus`` is 400 INVALID_PARAMETER;
an unknown status value is an empty chain. An unknown campaign id is 400
INVALID_PARAMETER "Invalid campaignId" (FOTA v3 documents its errors as 400).
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from .firmware import Path
from .fleet import AccountFleet, rfc3339
from .listing import invalid_parameter

STATUSES = (
    "CampaignRequestPending",
    "CampaignRequestFailed",
    "CampaignRequestQueued",
    "CampaignScheduled",
    "CampaignEnded",
    "CampaignCancelled",
    "CampaignAborted",
    "CampaignFailed",
)
RUNNING = "CampaignScheduled"
DEFAULT_COUNT = 8
# The first campaigns' statuses, so even a small default has two running ones.
DEFAULT_MIX = (
    "CampaignScheduled",
    "CampaignScheduled",
    "CampaignEnded",
    "CampaignEnded",
    "CampaignEnded",
    "CampaignCancelled",
    "CampaignRequestPending",
    "CampaignFailed",
)
_LATER = (
    (0.45, "CampaignEnded"),
    (0.65, "CampaignScheduled"),
    (0.73, "CampaignCancelled"),
    (0.78, "CampaignAborted"),
    (0.83, "CampaignFailed"),
    (0.90, "CampaignRequestPending"),
    (0.95, "CampaignRequestQueued"),
    (1.0, "CampaignRequestFailed"),
)
DEVICE_STATUSES = ("UpgradeFailed", "UpgradeSuccess", "UpgradePending", "DownloadPending", "DeviceAccepted")
REASONS = {
    "UpgradeSuccess": ("Upgrade completed successfully",),
    "UpgradeFailed": (
        "Firmware download failed: device not reachable",
        "Firmware install failed on the device",
        "Device rejected the firmware package",
    ),
    "UpgradePending": ("Upgrade pending, the device upgrade is estimated to be scheduled for {when}",),
    "DownloadPending": ("Waiting for the device to download the firmware package",),
    "DeviceAccepted": ("Device accepted the campaign",),
}
PROGRESS_PER_GEN = 0.05
_DAY = 86400


@dataclass
class CampaignPlan:
    """One seeded campaign: all fixed for the simulator's lifetime but its devices' statuses."""

    id: str
    name: str
    status: str
    path: Path
    start_date: str
    end_date: str
    wanted: int  # device count before the fleet caps it
    failed: float  # seeded share of devices in UpgradeFailed
    done: float  # seeded share completed (at generation 0 for a running campaign)
    key: int
    members: list[int] | None = None  # slot indexes, ascending; filled on first use

    def record(self, account: str) -> dict:
        p = self.path
        return {
            "accountName": account,
            "id": self.id,
            "campaignName": self.name,
            "firmwareName": p.name,
            "firmwareFrom": p.firmware_from,
            "firmwareTo": p.firmware_to,
            "make": p.make,
            "model": p.model,
            "protocol": p.protocol,
            "startDate": self.start_date,
            "endDate": self.end_date,
            "campaignTimeWindowList": [{"startTime": 18, "endTime": 22}],
            "status": self.status,
        }


@dataclass(frozen=True)
class CampaignFacts:
    """Ground truth of one campaign; ``devices`` counts its devices by upgrade status."""

    id: str
    name: str
    status: str
    make: str
    model: str
    firmware_from: str
    firmware_to: str
    protocol: str
    devices: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class CampaignTruth:
    """``by_status``: campaigns per status, every status of STATUSES present (0 if none),
    plus any other configured status; ``campaigns``: by id, ascending."""

    by_status: dict
    campaigns: dict


def _rng(*parts) -> random.Random:
    return random.Random(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest())


def _date(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def statuses_for(spec: int | dict[str, int], r: random.Random) -> list[str]:
    if isinstance(spec, dict):
        return [status for status, n in spec.items() for _ in range(n)]
    return [DEFAULT_MIX[i] if i < len(DEFAULT_MIX) else _pick(r.random()) for i in range(spec)]


def _pick(u: float) -> str:
    return next(status for edge, status in _LATER if u < edge)


class Book:
    """One account's campaigns, their device lists and status overrides."""

    def __init__(
        self,
        seed: int,
        fleet: AccountFleet,
        paths: tuple[Path, ...],
        spec: int | dict[str, int],
        devices: int | None,
        created: float,
    ):
        self.fleet = fleet
        self.failed_share: dict[str, float] = {}  # campaign id -> override
        self.running_failed_share: float | None = None  # override for every running campaign
        self._lock = threading.Lock()
        r = _rng(seed, fleet.account, "campaigns")
        campaigns = []
        for i, status in enumerate(statuses_for(spec, r) if paths else []):
            c = _rng(seed, fleet.account, "campaign", i)
            path = paths[c.randrange(len(paths))]
            cid = str(
                uuid.UUID(
                    bytes=hashlib.blake2b(f"{seed}:{fleet.account}:campaign:{i}".encode(), digest_size=16).digest(),
                    version=4,
                )
            )
            start, end = _dates(status, created, c)
            wanted = (
                0 if status == "CampaignRequestFailed" else (devices if devices is not None else c.randint(20, 400))
            )
            failed = 0.6 + 0.35 * c.random() if status == "CampaignFailed" else 0.01 + 0.05 * c.random()
            done = 0.2 + 0.5 * c.random()
            campaigns.append(
                CampaignPlan(
                    cid,
                    f"{path.model} {path.firmware_to} wave {i + 1}",
                    status,
                    path,
                    start,
                    end,
                    wanted,
                    failed,
                    done,
                    c.getrandbits(64),
                )
            )
        campaigns.sort(key=lambda c: c.id)
        self.campaigns: tuple[CampaignPlan, ...] = tuple(campaigns)
        self.by_id = {c.id: c for c in campaigns}
        self.chains: dict[str, list[CampaignPlan]] = {}
        for plan in campaigns:
            self.chains.setdefault(plan.status, []).append(plan)

    # --- devices ------------------------------------------------------------------
    def members(self, c: CampaignPlan) -> list[int]:
        with self._lock:
            if c.members is None:
                c.members = self._find_members(c)
            return c.members

    def _find_members(self, c: CampaignPlan) -> list[int]:
        size = self.fleet.size
        found: list[int] = []
        if not size or not c.wanted:
            return found
        want = (c.path.make, c.path.model)
        first = c.key % size
        for step in range(size):
            idx = (first + step) % size
            if self.fleet.model_of(idx) == want:
                found.append(idx)
                if len(found) == c.wanted:
                    break
        return sorted(found)

    def shares(self, c: CampaignPlan, gen: int) -> list[tuple[str, float]]:
        failed = self.failed_share.get(c.id)
        if failed is None and c.status == RUNNING:
            failed = self.running_failed_share
        f = c.failed if failed is None else failed
        if c.status == RUNNING:
            done = max(0.0, min(1.0 - f, c.done + PROGRESS_PER_GEN * gen))
            rest = 1.0 - f - done
            return [
                ("UpgradeFailed", f),
                ("UpgradeSuccess", done),
                ("UpgradePending", 0.4 * rest),
                ("DownloadPending", 0.4 * rest),
                ("DeviceAccepted", 0.2 * rest),
            ]
        if c.status in ("CampaignEnded", "CampaignFailed"):
            return [("UpgradeFailed", f), ("UpgradeSuccess", 1.0 - f)]
        if c.status in ("CampaignCancelled", "CampaignAborted"):
            done = min(c.done, 1.0 - f)
            return [("UpgradeFailed", f), ("UpgradeSuccess", done), ("DownloadPending", 1.0 - f - done)]
        return [("UpgradePending", 1.0)]  # not started yet (and any status we do not model)

    def statuses(self, c: CampaignPlan, gen: int) -> list[str]:
        """Each member's upgrade status at gen, in member (IMEI) order."""
        members = self.members(c)
        counts = _largest_remainder([share for _, share in self.shares(c, gen)], len(members))
        order = sorted(range(len(members)), key=lambda k: (hash_of(c.key, members[k]), k))
        out = [""] * len(members)
        pos = 0
        for (status, _), n in zip(self.shares(c, gen), counts, strict=True):
            for k in order[pos : pos + n]:
                out[k] = status
            pos += n
        return out

    # --- pages ----------------------------------------------------------------------
    def campaign_page(self, status: str | None, cursor: str | None, page_size: int) -> dict:
        if status is None or not status.strip():
            raise invalid_parameter("campaignStatus is required")
        chain = self.chains.get(status.strip(), [])
        cursor = (cursor or "").strip()
        start = 0
        if cursor not in ("", "0"):
            if cursor not in self.by_id:
                raise invalid_parameter("LastSeenCampaignId Not Valid")
            start = bisect.bisect_right([c.id for c in chain], cursor)
        items = chain[start : start + page_size]
        more = start + page_size < len(chain)
        body = {"hasMoreData": more, "lastSeenCampaignId": items[-1].id if more else "0"}
        return self._with_list(body, "campaignList", [c.record(self.fleet.account) for c in items])

    def device_page(self, campaign_id: str, cursor: str | None, gen: int, gen_times, page_size: int) -> dict:
        c = self.by_id.get(campaign_id)
        if c is None:
            raise invalid_parameter("Invalid campaignId")
        members = self.members(c)
        cursor = (cursor or "").strip()
        start = 0
        if cursor not in ("", "0"):
            idx = self.fleet.index_of(cursor)
            start = bisect.bisect_left(members, idx) if idx is not None else len(members)
            if start >= len(members) or members[start] != idx:
                raise invalid_parameter("LastSeenDeviceId Not Valid")
            start += 1
        statuses = self.statuses(c, gen)
        now = gen_times[gen]
        devices = [
            self._device(c, members[k], statuses[k], now) for k in range(start, min(start + page_size, len(members)))
        ]
        more = start + page_size < len(members)
        body = {
            "totalDevice": len(members),
            "hasMoreData": more,
            "maxPageSize": page_size,
            "lastSeenDeviceId": devices[-1]["deviceId"] if more else "0",
        }
        return self._with_list(body, "deviceList", devices)

    def _device(self, c: CampaignPlan, idx: int, status: str, now: float) -> dict:
        h = hash_of(c.key ^ 0x5A5A, idx)
        reasons = REASONS.get(status, ("",))
        updated = now - 60 - h % (3 * _DAY)
        d = {
            "deviceId": self.fleet.imei(idx),
            "status": status,
            "resultReason": reasons[h % len(reasons)].format(when=_date(now + _DAY)),
            "updatedTime": rfc3339(int(updated), h % 10**9, 3),
            "recentAttemptTime": rfc3339(int(updated), h % 10**9, 2),
        }
        if status in ("UpgradePending", "DownloadPending", "DeviceAccepted"):
            d["nextAttemptTime"] = rfc3339(int(now + 3600 + h % _DAY), 0, 0)
        return d

    def _with_list(self, body: dict, key: str, items: list[dict]) -> dict:
        if items:
            body[key] = items
        elif self.fleet.null_device_list:
            body[key] = None
        return body

    # --- ground truth -----------------------------------------------------------------
    def truth(self, gen: int) -> CampaignTruth:
        by_status = dict.fromkeys(STATUSES, 0)
        for c in self.campaigns:
            by_status[c.status] = by_status.get(c.status, 0) + 1
        facts = {
            c.id: CampaignFacts(
                c.id,
                c.name,
                c.status,
                c.path.make,
                c.path.model,
                c.path.firmware_from,
                c.path.firmware_to,
                c.path.protocol,
                Counter(self.statuses(c, gen)),
            )
            for c in self.campaigns
        }
        return CampaignTruth(by_status, facts)


def hash_of(key: int, idx: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{key}:{idx}".encode(), digest_size=8).digest(), "big")


def _largest_remainder(shares: list[float], n: int) -> list[int]:
    """Integer counts summing to n, each within 1 of share * n."""
    total = sum(shares) or 1.0
    exact = [n * s / total for s in shares]
    counts = [int(x) for x in exact]
    by_rest = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_rest[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _dates(status: str, created: float, r: random.Random) -> tuple[str, str]:
    if status == RUNNING:
        return _date(created - _DAY * r.randint(1, 20)), _date(created + _DAY * r.randint(3, 30))
    if status in ("CampaignRequestPending", "CampaignRequestQueued", "CampaignRequestFailed"):
        start = created + _DAY * r.randint(1, 10)
        return _date(start), _date(start + _DAY * r.randint(3, 14))
    end = created - _DAY * r.randint(1, 60)
    return _date(end - _DAY * r.randint(2, 14)), _date(end)
