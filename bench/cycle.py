"""Child process: one Exporter from the THINGSPACE_* environment, two collection cycles, timed.

The second cycle is the steady state: it pages in parallel along the first cycle's boundaries
when THINGSPACE_MAX_CONCURRENCY > 1. Prints one JSON line with both wall times and the counts,
and per cycle the process's CPU seconds (every thread), its peak RSS so far and the API requests
made. Peak RSS is VmHWM at the end of each cycle. `python bench/cycle.py 1` runs one cycle only
(its "second" fields are then null).
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time

import msgspec
from thingspace_exporter.app import Exporter
from thingspace_exporter.config import load
from thingspace_exporter.logs import configure


def counts(exporter: Exporter) -> dict:
    out = {}
    for (_, account), snap in exporter.store.snapshots.items():
        d = snap.data
        out[account] = {
            "devices": sum(d.devices.values()),
            "pages": d.pages,
            # everything but the ages, which depend on when each page arrived
            "digest": hashlib.sha256(
                msgspec.json.encode(
                    sorted(
                        (repr(k), v)
                        for part in (d.devices, d.protocols, d.software, d.unknown)
                        for k, v in part.items()
                    )
                )
            ).hexdigest(),
        }
    return out


def requests_made(exporter: Exporter) -> float:
    return sum(
        sample.value
        for family in exporter.metrics.registry.collect()
        if family.name == "thingspace_api_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def vmhwm_kb() -> int:
    """Peak RSS of this process image. Not ru_maxrss: Linux carries that over exec from the forked
    parent, so a child of a big harness reports the harness's size."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str]) -> int:
    cycles = int(argv[0]) if argv else 2
    settings = load()
    configure(settings.log_level, settings.log_format)
    exporter = Exporter(settings)
    doc: dict = {"ok": True}
    try:
        for name in ("first", "second")[:cycles]:
            cpu, made, t0 = cpu_seconds(), requests_made(exporter), time.perf_counter()
            ok = exporter.collection.run_cycle()
            doc[f"{name}_seconds"] = time.perf_counter() - t0
            doc[f"{name}_cpu_seconds"] = cpu_seconds() - cpu
            doc[f"{name}_requests"] = requests_made(exporter) - made
            doc[f"{name}_peak_rss_kb"] = vmhwm_kb()
            doc[name] = counts(exporter)
            doc["ok"] = doc["ok"] and ok
    finally:
        exporter.close()
    for name in ("first", "second")[cycles:]:
        doc[f"{name}_seconds"] = doc[name] = None
    print(msgspec.json.encode(doc).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
