"""State that outlives the process, in THINGSPACE_STATE_DIR: small JSON files written atomically:
the count of rejected logins, and each account's device-list boundaries.

A missing, unreadable or corrupt file reads as no state: it may cost a restart some caution or
speed, never a wrong number or a crash. Times are wall-clock: monotonic ones mean nothing after a
restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write(path: Path, doc: dict[str, Any]) -> None:
    """Replace `path` whole: a crash leaves the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LoginFailures:
    """Rejected logins of one M2M user in a row, and when the next try is allowed."""

    def __init__(self, state_dir: str, username: str) -> None:
        key = hashlib.sha256(username.encode("utf-8")).hexdigest()[:16]
        self.path = Path(state_dir) / f"login-failures-{key}.json"
        self.username = username

    def load(self) -> tuple[int, float]:
        """(failures, wall-clock time of the next allowed try); (0, 0) without a usable file."""
        doc = read(self.path)
        if doc is None or doc.get("username") != self.username:
            return 0, 0.0
        failures, retry_at = doc.get("failures"), doc.get("retry_at")
        if type(failures) is not int or failures < 0 or not isinstance(retry_at, (int, float)):
            return 0, 0.0
        return failures, float(retry_at)

    def save(self, failures: int, retry_at: float) -> None:
        if failures == 0:
            self.reset()
        else:
            write(self.path, {"username": self.username, "failures": failures, "retry_at": retry_at})

    def reset(self) -> bool:
        """Forget the failures (once the password is fixed); True if there were any."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


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
        doc = read(self.path)
        if doc is None or doc.get("account") != self.account or doc.get("protocol") != self.protocol:
            return None
        bounds, pages, seconds, complete = (doc.get(k) for k in ("bounds", "pages", "page_seconds", "complete"))
        if not (
            isinstance(bounds, list)
            and all(type(b) is str and b for b in bounds)
            and type(pages) is int
            and pages >= 0
            and type(seconds) in (int, float)
            and seconds >= 0
            and type(complete) is bool
        ):
            return None
        return Listing(tuple(bounds), pages, float(seconds), complete)

    def save(self, listing: Listing) -> None:
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
