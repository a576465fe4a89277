"""State that outlives the process, in THINGSPACE_STATE_DIR: small JSON files written atomically
(the count of rejected logins, in thingspace/; each account's device-list boundaries, in collectors/).

A missing file reads as no state. An unreadable or corrupt one does too (it may cost a restart
some caution or speed, never a wrong number or a crash) but says so: one warning per file, naming
the kind of state and the account, never the path. A write that fails logs an error once until
one succeeds again; collection goes on. Times are wall-clock: monotonic ones mean nothing after a
restart.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import structlog

_log = structlog.get_logger("thingspace_exporter")
_lock = threading.Lock()
_lost: set[Path] = set()  # files already warned about
_unsaved: set[Path] = set()  # files whose last write failed


def read(path: Path, kind: str, account: str | None = None) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    except ValueError:
        why = "not JSON"
    else:
        if isinstance(doc, dict):
            return doc
        why = "not a JSON object"
    lost(path, kind, account, why)
    return None


def lost(path: Path, kind: str, account: str | None, why: str) -> None:
    """Say once that this file's state is dropped (it is replaced on the next write)."""
    with _lock:
        if path in _lost:
            return
        _lost.add(path)
    _log.warning("state_lost", state=kind, account=account, why=why, action="starting without it; replaced")


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
    with _lock:
        _unsaved.discard(path)
        _lost.discard(path)  # replaced: should it break again, that is news again


def not_saved(path: Path, kind: str, account: str | None, error: OSError) -> None:
    """Log a failed write as an error, once until a write of the file succeeds again."""
    with _lock:
        if path in _unsaved:
            return
        _unsaved.add(path)
    _log.error("state_not_saved", state=kind, account=account, error=error.strerror or type(error).__name__)
