"""Soak: an exporter collecting from a faulty simulator for a while, and what its listings did.

    .venv/bin/python bench/soak.py               # 20 minutes: 3 accounts of 25 000 devices
    .venv/bin/python bench/soak.py --minutes 2   # shorter

Every endpoint fails 0.5-1 % of its requests with each of several faults (5xx, 429, an expired
session or token, a cursor the API refuses or does not advance, JSON cut short). The exporter
(every collector, a 10 s interval, 4 pages in flight) runs as a server; its log lines are counted:
device listings that succeeded or failed, segments retried and segments walked on sequentially,
and the listings that started again from the first page (parallel_listing_fallback). Results:
bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from run import PY, RESULTS, ROOT, Background, exporter_env, free_port, log

FAULTS = {
    "server_error": 0.01,
    "unavailable": 0.005,
    "rate_limit": 0.01,
    "session_expiry": 0.01,
    "token_expiry": 0.005,
    "invalid_cursor": 0.005,
    "stuck_cursor": 0.005,
    "truncated_json": 0.005,
}
ENDPOINTS = "devices,firmware,subscriptions,campaigns,campaign_devices"
ACCOUNTS = [f"0000007003-0000{i}" for i in range(1, 4)]
COUNTED = ("parallel_listing_fallback", "segment_retried", "segment_continued_sequentially")


def tally(lines: list[str]) -> dict[str, object]:
    """What the exporter's JSON log lines say the device listings did."""
    events: Counter = Counter()
    outcomes: Counter = Counter()
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("event") in COUNTED:
            events[doc["event"]] += 1
        if doc.get("event") == "collection_finished" and doc.get("collector") == "devices":
            outcomes[doc["outcome"] if doc["outcome"] == "success" else doc.get("reason", "?")] += 1
    return {"listings": dict(outcomes), **{event: events[event] for event in COUNTED}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--devices", type=int, default=25_000, help="per account")
    ap.add_argument("--output", type=Path, default=RESULTS / "soak.json")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    faults = [arg for kind, rate in FAULTS.items() for arg in ("--fault", f"{kind}={rate}")]
    sim = Background(
        [PY, "-m", "thingspace_exporter.simulator.cli", "--port", "0", "--fault-seed", "7"]
        + ["--accounts", ",".join(f"{a}={args.devices}" for a in ACCOUNTS), "--fault-endpoints", ENDPOINTS, *faults],
        "simulator",
    )
    stderr = tempfile.TemporaryFile()
    exporter = None
    try:
        url = sim.wait_url(120)
        env = exporter_env(
            url,
            ",".join(ACCOUNTS),
            THINGSPACE_COLLECTORS="devices,licenses,firmware,campaigns",
            THINGSPACE_INTERVAL_SECONDS="10",
            THINGSPACE_MAX_CONCURRENCY="4",
            THINGSPACE_LISTEN_ADDRESS=f"127.0.0.1:{free_port()}",
        )
        log(f"soak: {len(ACCOUNTS)} accounts x {args.devices:,} devices, {args.minutes:g} min, faults {FAULTS}")
        exporter = subprocess.Popen(
            [PY, "-m", "thingspace_exporter"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr
        )
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline and exporter.poll() is None:
            time.sleep(1)
    finally:
        if exporter is not None and exporter.poll() is None:
            exporter.terminate()
            exporter.wait(60)
        sim.stop()
    stderr.seek(0)
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    if exporter is not None and exporter.returncode != 0:
        tail = "\n".join(lines[-20:])
        log(f"exporter exited {exporter.returncode}: {tail}")
    result = {"minutes": args.minutes, "devices_per_account": args.devices, "faults": FAULTS}
    result |= tally(lines)
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if exporter is not None and exporter.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
