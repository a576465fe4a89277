"""Child process: one Exporter from the THINGSPACE_* environment, two collection cycles, timed.

The second cycle is the steady state: it pages in parallel along the first cycle's boundaries
when THINGSPACE_MAX_CONCURRENCY > 1. Prints one JSON line with both wall times and the counts.
"""

from __future__ import annotations

import hashlib
import sys
import time

import msgspec

from thingspace_exporter.config import load
from thingspace_exporter.logs import configure
from thingspace_exporter.service import Exporter


def counts(exporter: Exporter) -> dict:
    out = {}
    for (_, account), snap in exporter.store.snapshots.items():
        d = snap.data
        out[account] = {
            "devices": sum(d.devices.values()), "pages": d.pages,
            # everything but the ages, which depend on when each page arrived
            "digest": hashlib.sha256(msgspec.json.encode(sorted((repr(k), v) for part in
                                                      (d.devices, d.protocols, d.software, d.unknown)
                                                      for k, v in part.items()))).hexdigest(),
        }
    return out


def main() -> int:
    settings = load()
    configure(settings.log_level, settings.log_format)
    exporter = Exporter(settings)
    try:
        t0 = time.perf_counter()
        ok1 = exporter.collection.run_cycle()
        t1 = time.perf_counter()
        first = counts(exporter)
        ok2 = exporter.collection.run_cycle()
        t2 = time.perf_counter()
        second = counts(exporter)
    finally:
        exporter.close()
    print(msgspec.json.encode({"first_seconds": t1 - t0, "second_seconds": t2 - t1, "ok": ok1 and ok2,
                               "first": first, "second": second}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
