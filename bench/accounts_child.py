"""Child process: one Exporter (every collector) over many accounts, its first cycle timed while a
sampler records the process's peak threads and RSS, then its own server scraped for /metrics.

Usage: python bench/accounts_child.py SCRAPES [TRACEMALLOC_TOP]
Prints one JSON line. With TRACEMALLOC_TOP, tracemalloc runs through the cycle (slower) and the
line also holds the top allocation sites still alive after it, by file and line.
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import msgspec
from cycle import cpu_seconds, requests_made
from thingspace_exporter.app import Exporter, tune_gc
from thingspace_exporter.config import load
from thingspace_exporter.logs import configure


def status(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


class Sampler(threading.Thread):
    """Peak OS threads and RSS every 5 ms (VmHWM also catches what falls between samples)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.threads, self.done = 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.threads = max(self.threads, status("Threads"))


SCRAPER = """
import http.client, statistics, sys, time
port, n, gz = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
runs = []
for _ in range(n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"} if gz else {})
    resp, size = conn.getresponse(), 0
    while chunk := resp.read(1 << 20):
        size += len(chunk)
    runs.append(time.perf_counter() - t0)
    conn.close()
print(statistics.median(runs), size)
"""


def scrape(port: int, n: int, gzip: bool) -> tuple[float, int]:
    """Median latency and size of `n` scrapes from another process, as Prometheus would: its copy
    of the body and its interpreter are not the exporter's."""
    out = subprocess.run(
        [sys.executable, "-c", SCRAPER, str(port), str(n), "1" if gzip else "0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main(argv: list[str]) -> int:
    scrapes = int(argv[0])
    top = int(argv[1]) if len(argv) > 1 else 0
    with socket.socket() as probe:  # the settings want a port: a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load({"listen_address": f"127.0.0.1:{port}"})
    configure(settings.log_level, settings.log_format)
    if top:
        tracemalloc.start(1)
    exporter = Exporter(settings)
    tune_gc()
    sampler = Sampler()
    sampler.start()
    doc: dict = {}
    try:
        cpu, made, t0 = cpu_seconds(), requests_made(exporter), time.perf_counter()
        doc["ok"] = exporter.collection.run_cycle()
        doc["first_seconds"] = time.perf_counter() - t0
        doc["first_cpu_seconds"] = cpu_seconds() - cpu
        doc["first_requests"] = requests_made(exporter) - made
        doc["cycle_peak_rss_kb"] = status("VmHWM")
        exporter.store.derived  # noqa: B018 (the first read joins the exposition)
        doc["joined_peak_rss_kb"] = status("VmHWM")
        gc.collect()
        doc["settled_rss_kb"] = status("VmRSS")
        if top:
            snap = tracemalloc.take_snapshot()
            doc["traced_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
            doc["top"] = [(str(s.traceback), s.size) for s in snap.statistics("lineno")[:top]]
            tracemalloc.stop()
        site = exporter.site()
        site.start(exporter.stop)
        for gzip in (False, True):
            key = "gzip" if gzip else "plain"
            doc[f"scrape_{key}_median"], doc[f"scrape_{key}_bytes"] = scrape(site.port, scrapes, gzip)
            doc[f"{key}_peak_rss_kb"] = status("VmHWM")  # the peak so far, through these scrapes
        doc["peak_rss_kb"] = status("VmHWM")
        sampler.done.set()
        sampler.join()
        doc["peak_threads"] = sampler.threads
        doc["devices"] = sum(
            snap.data.count for (name, _), snap in exporter.store.snapshots.items() if name == "devices"
        )
        site.close()
    finally:
        exporter.close()
    print(msgspec.json.encode(doc).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
