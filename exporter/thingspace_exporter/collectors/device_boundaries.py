"""What each account's last device listing learnt (its page boundaries), kept in THINGSPACE_STATE_DIR so
that the first listing after a restart is already parallel."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..statefile import lost, not_saved, read, write

KIND = "device-list boundaries"


@dataclass(frozen=True)
class Listing:
    """What an account's last device listing learnt: its page boundaries (for parallel segments),
    how many pages it saw, their mean request time, and whether it reached the end."""

    bounds: tuple[str, ...]
    pages: int
    page_seconds: float
    complete: bool


class Boundaries:
    """The device list's page boundaries of one account (and protocol filter), across restarts."""

    def __init__(self, state_dir: str, account: str, protocol: str) -> None:
        key = hashlib.sha256(f"{account}\0{protocol}".encode()).hexdigest()[:16]
        self.path = Path(state_dir) / f"bounds-{key}.json"
        self.account, self.protocol = account, protocol

    def load(self) -> Listing | None:
        """None without a usable file: then the first listing is sequential, nothing worse."""
        doc = read(self.path, KIND, self.account)
        if doc is None:
            return None
        if doc.get("account") != self.account or doc.get("protocol") != self.protocol:
            lost(self.path, KIND, self.account, "another account's")
            return None
        fields: tuple[Any, ...] = tuple(doc.get(k) for k in ("bounds", "pages", "page_seconds", "complete"))
        bounds, pages, seconds, complete = fields
        if not (
            isinstance(bounds, list)
            and all(type(b) is str and b for b in bounds)
            and type(pages) is int
            and pages >= 0
            and type(seconds) in (int, float)
            and seconds >= 0
            and type(complete) is bool
        ):
            lost(self.path, KIND, self.account, "unexpected content")
            return None
        return Listing(tuple(bounds), pages, float(seconds), complete)

    def save(self, listing: Listing) -> None:
        """Never raises: a failed write is logged (see statefile.not_saved)."""
        try:
            self._write(listing)
        except OSError as exc:
            not_saved(self.path, KIND, self.account, exc)

    def _write(self, listing: Listing) -> None:
        write(
            self.path,
            {
                "account": self.account,
                "protocol": self.protocol,
                "bounds": list(listing.bounds),
                "pages": listing.pages,
                "page_seconds": listing.page_seconds,
                "complete": listing.complete,
            },
        )
