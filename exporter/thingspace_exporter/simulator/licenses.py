"""Licence totals (``GET /api/fota/v3/subscriptions/{acc}``).

``licenseUsedCount`` is exact: the devices present at the current generation
whose record says ``licenseAssigned: true`` (every protocol). ``licenseCount``
is, unless configured, the used count at generation 0 plus a seeded 10-50 %
headroom, rounded up to a block of 100 (licences are bought in blocks) and
fixed from then on. Configured as an int it is that number; as a float in
(0, 1] it is the usage ratio to keep: ``ceil(used / ratio)`` at every request,
so a test or demo can hold usage near the total while the fleet churns.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading

from .fleet import AccountFleet, rfc3339

PURCHASE_TYPES = ("TS-HFOTA-EVNT,TS-HFOTA-MRC", "TS-HFOTA-MRC")


class Licenses:
    """One account's licences; the per-slot flags are cached, the counts per generation."""

    def __init__(self, seed: int, fleet: AccountFleet, configured: int | float | None = None):
        self.fleet = fleet
        self.configured = configured
        r = random.Random(hashlib.blake2b(f"{seed}:{fleet.account}:licenses".encode(), digest_size=8).digest())
        self.headroom = 0.1 + 0.4 * r.random()
        self.purchase_type = PURCHASE_TYPES[r.randrange(len(PURCHASE_TYPES))]
        self._flags = bytearray()  # licenseAssigned per slot, gen-independent
        self._used: dict[int, int] = {}
        self._lock = threading.Lock()

    def used(self, gen: int) -> int:
        with self._lock:  # one computation per generation, however many callers
            if gen not in self._used:
                slots = self.fleet.slots(gen)
                for idx in range(len(self._flags), slots):
                    self._flags.append(self.fleet.licensed(idx))
                self._used[gen] = sum(1 for idx in range(slots) if self._flags[idx] and self.fleet.present(idx, gen))
            return self._used[gen]

    def count(self, gen: int) -> int:
        if isinstance(self.configured, float):
            return math.ceil(self.used(gen) / self.configured)
        if self.configured is not None:
            return self.configured
        return max(100, math.ceil(self.used(0) * (1 + self.headroom) / 100) * 100)

    def body(self, gen: int, gen_times) -> dict:
        when = gen_times[gen]
        return {
            "accountName": self.fleet.account,
            "purchaseType": self.purchase_type,
            "licenseCount": self.count(gen),
            "licenseUsedCount": self.used(gen),
            "updateTime": rfc3339(int(when), int(when % 1 * 1e9), 3),
        }


def check_configured(account: str, value) -> int | float:
    """A configured total: a non-negative int, or a usage ratio in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"licenses[{account!r}]: expected a count or a ratio, got {value!r}")
    if isinstance(value, float) and not 0.0 < value <= 1.0:
        raise ValueError(f"licenses[{account!r}]: a ratio must be within (0, 1], got {value}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"licenses[{account!r}]: a count must not be negative, got {value}")
    return value
