"""Accounts of millions at a page cost of microseconds per device: records repeating in tiles.

A TiledFleet is an AccountFleet whose device records repeat every ``tile`` slots: slot ``i``
takes every draw (make, model, firmware, status, protocol, ages, software...) of slot
``i % tile``, while its identity (IMEI, MDN) and its churn stay its own. So a 5 000 000-device
account still pages with ascending unique IMEIs, the cursor rules and churn of any fleet, but
a record costs a cached tile entry plus two numbers instead of ~45 µs of drawing and encoding:
what a benchmark of the exporter at scale needs from its server.

The cache holds one encoded record per tile slot (without its identity) for the current
generation, filled as pages ask for them: memory is bounded by the tile, not the account.
A slot that joined after generation 0, or has churned, is built in full like any fleet's.
"""

from __future__ import annotations

import threading

import msgspec

from .fleet import _LUHN4, AccountFleet


class TiledFleet(AccountFleet):
    def __init__(self, seed: int, account: str, size: int, tile: int):
        if tile < 1:
            raise ValueError(f"a tile holds at least one device, got {tile}")
        super().__init__(seed, account, size)
        # The inline IMEI of page_records takes bodies of at most 16 digits (an IMEI has 14).
        assert self.base + size * self.stride < 10**16
        self.tile = tile
        self._lock = threading.Lock()
        self._gen = -1
        self._records: list[bytes | None] = []  # per tile slot: the record after its identity

    def _slot(self, idx: int) -> int:
        return idx % self.tile

    def _templates(self, gen: int) -> list[bytes | None]:
        """The current generation's cache (records name the generation's time, so a new one starts empty)."""
        if self._gen != gen:
            with self._lock:
                if self._gen != gen:
                    self._records = [None] * min(self.tile, self.size)
                    self._gen = gen
        return self._records

    def _template(self, idx: int, gen: int, gen_times) -> bytes:
        """The record of slot idx (born at 0, unchurned) after its identity, cached for its tile slot."""
        records = self._templates(gen)
        rest = records[idx % self.tile]
        if rest is None:
            d = self.device(idx, gen, gen_times)
            assert d is not None  # a slot of a page being served exists
            del d["deviceId"], d["mdn"]  # the first two keys: the identity goes back in front
            rest = records[idx % self.tile] = msgspec.json.encode(d)[1:]
        return rest

    def device_json(self, idx: int, gen: int, gen_times) -> bytes | None:
        if idx < 0 or idx >= self.size or (gen and next(self.events(idx, gen), None) is not None):
            return super().device_json(idx, gen, gen_times)  # joined later or churned: its own record
        return b'{"deviceId":"%s","mdn":"%s",%s' % (
            self.imei(idx).encode(),
            self.mdn(idx).encode(),
            self._template(idx, gen, gen_times),
        )

    def page_records(
        self, start: int, gen: int, gen_times, wanted: str | None, count: int
    ) -> tuple[list[bytes], int, bool]:
        if gen:  # slots may have churned or joined: device_json decides each
            return super().page_records(start, gen, gen_times, wanted, count)
        # Generation 0: every slot is present and unchurned, so a record is its tile entry behind
        # its IMEI and MDN, computed inline (imei(), mdn() and _luhn() unrolled: ~1 µs a device).
        records = self._templates(0)
        base, stride, key, tile, luhn4 = self.base, self.stride, self.key, self.tile, _LUHN4
        out: list[bytes] = []
        last = -1
        for idx in range(max(start, 0), self.size):
            if wanted is not None and not self.matches(idx, wanted):
                continue
            if len(out) == count:
                return out, last, True
            rest = records[idx % tile] or self._template(idx, 0, gen_times)
            body = base + idx * stride  # 14 digits: four 4-digit groups' Luhn sums
            low, high = body % 100_000_000, body // 100_000_000
            total = luhn4[low % 10_000] + luhn4[low // 10_000] + luhn4[high % 10_000] + luhn4[high // 10_000]
            out.append(
                b'{"deviceId":"%d","mdn":"%d",%s'
                % (body * 10 + (10 - total % 10) % 10, 2_000_000_000 + (key + idx * 7919) % 7_999_999_999, rest)
            )
            last = idx
        return out, last, False


def fleet_for(seed: int, account: str, size: int, tile: int | None) -> AccountFleet:
    """A tiled fleet when the account is larger than the tile, else an ordinary one."""
    return TiledFleet(seed, account, size, tile) if tile and size > tile else AccountFleet(seed, account, size)
