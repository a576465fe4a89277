"""Benchmark for many small accounts: ratios against targets, measured in one run.

    .venv/bin/python bench/accounts.py            # 1000 accounts x 200 devices (a few minutes)
    .venv/bin/python bench/accounts.py --smoke    # tiny sizes, proves the harness works (CI)
    .venv/bin/python bench/accounts.py --check    # exit 1 when a row misses its target

One exporter process (bench/accounts_child.py) with every collector and the default
THINGSPACE_MAX_ACCOUNTS_IN_FLIGHT collects every account once from the simulator (every account
with its campaigns, firmware and licences) under THINGSPACE_MAX_REQUESTS_PER_SECOND, then serves
/metrics from its own server. Rows: peak RSS (VmHWM, through the scrapes) against 200 MB; peak
OS threads against 64; the first full cycle ÷ its requests ÷ the cap; median /metrics latency.
Results: bench/results/accounts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import run
from run import HERE, PY, RESULTS, Background, Row, exporter_env, log, run_child

PREFIX = "0000005002-"


@dataclass(frozen=True)
class Sizes:
    accounts: int
    devices: int
    cap: float
    latency: float
    scrapes: int


FULL = Sizes(accounts=1000, devices=200, cap=200.0, latency=0.02, scrapes=10)
SMOKE = Sizes(accounts=20, devices=50, cap=200.0, latency=0.001, scrapes=3)


def measure(url: str, sz: Sizes, accounts: list[str]) -> list[Row]:
    env = exporter_env(
        url,
        ",".join(accounts),
        THINGSPACE_COLLECTORS="devices,licenses,firmware,campaigns",
        THINGSPACE_MAX_REQUESTS_PER_SECOND=f"{sz.cap:g}",
        THINGSPACE_CYCLE_TIMEOUT_SECONDS="3600",
        THINGSPACE_LOG_LEVEL="warning",
    )
    r = run_child([PY, str(HERE / "accounts_child.py"), str(sz.scrapes)], env, timeout=3600)
    if r.rc != 0:
        raise RuntimeError(f"accounts_child.py: rc={r.rc}: {r.stderr[-2000:]}")
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    if not doc["ok"] or doc["devices"] != sz.accounts * sz.devices:
        raise RuntimeError(f"the cycle failed or miscounted ({doc.get('devices')} devices): {r.stderr[-2000:]}")
    floor = doc["first_requests"] / sz.cap
    mb = 1024
    log(
        f"  first cycle {doc['first_seconds']:.1f} s ({doc['first_cpu_seconds']:.1f} s CPU) for "
        f"{doc['first_requests']:.0f} requests; RSS after the cycle {doc['cycle_peak_rss_kb'] / mb:.0f} MB, "
        f"after the first join {doc['joined_peak_rss_kb'] / mb:.0f} MB, settled {doc['settled_rss_kb'] / mb:.0f} MB, "
        f"peak through plain scrapes {doc['plain_peak_rss_kb'] / mb:.0f} MB, "
        f"through gzip ones {doc['gzip_peak_rss_kb'] / mb:.0f} MB; "
        f"/metrics {doc['scrape_plain_bytes'] / 1e6:.1f} MB ({doc['scrape_gzip_bytes'] / 1e6:.1f} MB gzip)"
    )
    n = f"{sz.accounts} accounts x {sz.devices} devices, every collector"
    return [
        Row(
            "accounts_peak_rss",
            f"peak RSS (baseline: settled), {n}, through the scrapes",
            doc["peak_rss_kb"] / mb,
            doc["settled_rss_kb"] / mb,  # the baseline column: settled after the first join
            doc["peak_rss_kb"] / mb,
            200.0,
            unit="MB",
            notes={
                k: doc[k]
                for k in (
                    "cycle_peak_rss_kb",
                    "joined_peak_rss_kb",
                    "settled_rss_kb",
                    "plain_peak_rss_kb",
                    "gzip_peak_rss_kb",
                )
            },
        ),
        Row(
            "accounts_threads",
            f"peak OS threads (baseline: 1), {n}",
            doc["peak_threads"],
            1,
            doc["peak_threads"],
            64,
            unit="threads",
        ),
        Row(
            "accounts_first_cycle",
            f"first full cycle, {n} / requests / {sz.cap:g} per s",
            doc["first_seconds"],
            floor,
            doc["first_seconds"] / floor,
            1.2,
            notes={"requests": doc["first_requests"], "cpu": doc["first_cpu_seconds"]},
        ),
        Row(
            "accounts_scrape",
            f"median /metrics latency, {n} ({doc['scrape_plain_bytes'] / 1e6:.1f} MB) / 1 s",
            doc["scrape_plain_median"],
            1.0,
            doc["scrape_plain_median"],
            1.0,
        ),
        Row(
            "accounts_scrape_gzip",
            f"the same with gzip ({doc['scrape_gzip_bytes'] / 1e6:.1f} MB) / 1 s",
            doc["scrape_gzip_median"],
            1.0,
            doc["scrape_gzip_median"],
            1.0,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: prove the harness works, measure nothing")
    ap.add_argument("--check", action="store_true", help="exit 1 when a row misses its target")
    ap.add_argument("--output", type=Path, default=RESULTS / "accounts.json")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sz = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    accounts = [f"{PREFIX}{i + 1:05d}" for i in range(sz.accounts)]
    sim = Background(
        [
            PY,
            "-m",
            "thingspace_exporter.simulator.cli",
            "--port",
            "0",
            "--latency",
            str(sz.latency),
            "--accounts",
            ",".join(f"{a}={sz.devices}" for a in accounts),
        ],
        "simulator",
    )
    try:
        url = sim.wait_url(120)
        log(f"{sz.accounts} accounts x {sz.devices} devices at {url}, cap {sz.cap:g}/s")
        rows = measure(url, sz, accounts)
    finally:
        sim.stop()
    elapsed = time.perf_counter() - started
    print(run.table(rows))
    print(
        f"\n{'smoke run (sizes too small to mean anything); ' if args.smoke else ''}"
        f"{sum(r.ok for r in rows)}/{len(rows)} within target; {elapsed:.0f} s on {os.cpu_count()} CPUs"
    )
    run.save(args.output, rows, args.smoke, elapsed, sz)
    return 1 if args.check and not all(r.ok for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
