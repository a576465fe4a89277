"""Sharding: which accounts a replica collects, and its share of budgets all replicas draw on.

Pure functions. Accounts are ranked by the SHA-256 of their names and dealt to the shards in turn,
so every replica on every machine and every Python agrees on the owner of each account without
talking to the others, and shard sizes differ by one at most (a plain hash modulo the count can
leave a replica with nothing while another has several accounts).
"""

from __future__ import annotations

import hashlib
import re

_ORDINAL = re.compile(r"-(\d+)$")  # a StatefulSet pod is named <statefulset>-<ordinal>


def _rank(account: str) -> tuple[bytes, str]:
    return hashlib.sha256(account.encode("utf-8")).digest(), account


def owned(accounts: list[str], index: int, count: int) -> list[str]:
    """The accounts of shard `index` of `count`, in the order given."""
    mine = set(sorted(set(accounts), key=_rank)[index::count])
    return [a for a in accounts if a in mine]


def ordinal(hostname: str) -> int | None:
    """The StatefulSet ordinal at the end of a pod's host name, e.g. 2 for `thingspace-exporter-2`."""
    match = _ORDINAL.search(hostname.split(".", 1)[0])
    return int(match.group(1)) if match else None


def share(total: int, index: int, count: int) -> int:
    """Shard `index`'s part of an integer budget split between `count` shards: the parts add up to
    `total`, and the first `total % count` shards get one more."""
    return total // count + (1 if index < total % count else 0)
