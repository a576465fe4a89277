"""Child process: cProfile of one `--once`-style cycle with every account run on the main thread.

`--once` collects each account on a pool thread, which cProfile (main thread only) would miss;
here the runner runs each account in turn on the main thread, and the exposition is written out
as run_once does. Usage: python bench/profile_once.py OUT.prof (settings from THINGSPACE_*).
"""

from __future__ import annotations

import cProfile
import sys

from thingspace_exporter.app import Exporter, tune_gc
from thingspace_exporter.config import load
from thingspace_exporter.logs import configure
from thingspace_exporter.web.exposition import body


def main(argv: list[str]) -> int:
    settings = load()
    configure(settings.log_level, settings.log_format)
    exporter = Exporter(settings, text_only=True)
    tune_gc()
    prof = cProfile.Profile()
    try:
        prof.enable()
        ok = all([exporter.runner.run_account(account) for account in settings.owned_accounts])
        sys.stdout.buffer.write(body(exporter.store.derived, exporter.metrics.registry)[0])
        prof.disable()
    finally:
        exporter.close()
    prof.dump_stats(argv[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
