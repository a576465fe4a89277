"""Rejected logins of one M2M user, kept in THINGSPACE_STATE_DIR across restarts (wall-clock times)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..statefile import lost, not_saved, read, write

KIND = "rejected logins"


class LoginFailures:
    """Rejected logins of one M2M user in a row, and when the next try is allowed."""

    def __init__(self, state_dir: str, username: str) -> None:
        key = hashlib.sha256(username.encode("utf-8")).hexdigest()[:16]
        self.path = Path(state_dir) / f"login-failures-{key}.json"
        self.username = username

    def load(self) -> tuple[int, float]:
        """(failures, wall-clock time of the next allowed try); (0, 0) without a usable file."""
        doc = read(self.path, KIND)
        if doc is None:
            return 0, 0.0
        failures, retry_at = doc.get("failures"), doc.get("retry_at")
        if (
            doc.get("username") != self.username
            or type(failures) is not int
            or failures < 0
            or not isinstance(retry_at, (int, float))
        ):
            lost(self.path, KIND, None, "unexpected content")
            return 0, 0.0
        return failures, float(retry_at)

    def save(self, failures: int, retry_at: float) -> None:
        """Never raises: a failed write is logged (see statefile.not_saved)."""
        try:
            if failures == 0:
                self.reset()
            else:
                write(self.path, {"username": self.username, "failures": failures, "retry_at": retry_at})
        except OSError as exc:
            not_saved(self.path, KIND, None, exc)

    def reset(self) -> bool:
        """Forget the failures (once the password is fixed); True if there were any."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
