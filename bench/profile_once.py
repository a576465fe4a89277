"""Child process: cProfile of one `--once`-style cycle with the listing on the main thread.

`--once` collects each account on a worker thread, which cProfile (main thread only) would miss;
here the same listing runs on the main thread, the snapshot is published and the exposition
written out as run_once does. Usage: python bench/profile_once.py OUT.prof (settings from THINGSPACE_*).
"""

from __future__ import annotations

import cProfile
import sys
import time

from prometheus_client.exposition import generate_latest
from thingspace_exporter.app import Exporter
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors.device_listing import list_sequential
from thingspace_exporter.config import load
from thingspace_exporter.logs import configure


def main(argv: list[str]) -> int:
    settings = load()
    configure(settings.log_level, settings.log_format)
    exporter = Exporter(settings, text_only=True)
    prof = cProfile.Profile()
    try:
        prof.enable()
        for account in settings.accounts:
            data, _ = list_sequential(
                lambda c, a=account: exporter.client.device_page(a, c), tuple(settings.last_connection_buckets)
            )
            exporter.store.publish(Snapshot(account, data, time.time(), "devices"))
        ok = True
        sys.stdout.buffer.write(exporter.store.derived.text + generate_latest(exporter.metrics.registry))
        prof.disable()
    finally:
        exporter.close()
    prof.dump_stats(argv[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
