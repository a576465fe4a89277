"""State that outlives the process, in THINGSPACE_STATE_DIR: small JSON files written atomically
(the count of rejected logins, in thingspace/; each account's device-list boundaries, in collectors/).

A missing, unreadable or corrupt file reads as no state: it may cost a restart some caution or
speed, never a wrong number or a crash. Times are wall-clock: monotonic ones mean nothing after a
restart.
"""

from __future__ import annotations

import json
import os
import tempfile
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
