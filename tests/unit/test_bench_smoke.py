"""The benchmark harness runs end to end at tiny sizes. Speed is never checked here."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIOS = (
    "cpu",
    "first_cycle",
    "steady_state",
    "scrape_plain",
    "scrape_gzip",
    "serve_p99_1",
    "serve_p99_8",
    "serve_p99_32",
    "serve_stall",
    "serve_threads",
)


SCALE_RATIOS = (
    "big_cpu_sequential",
    "big_cpu_parallel",
    "big_wall_sequential",
    "big_wall_parallel",
    "accounts_rate_cap",
    "restart",
    "scrape_big_plain",
    "scrape_big_gzip",
)


def smoke(script: str, out: Path) -> str:
    # Own session: on a timeout the harness and its simulator/replay/exporter children all go.
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", "--output", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return stdout


def test_bench_smoke_writes_every_ratio(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    stdout = smoke("run.py", out)
    assert "PASS" in stdout or "FAIL" in stdout
    doc = json.loads(out.read_text())
    ratios = doc["ratios"]
    for key in RATIOS:
        assert math.isfinite(ratios[key]) and ratios[key] > 0, (key, ratios[key])
    # Differences of small numbers at smoke sizes: finite, but noise may push them to ~0 or below.
    assert math.isfinite(ratios["memory_mb"])
    assert math.isfinite(ratios["cpu_excluding_startup"])
    assert math.isfinite(ratios["serve_memory_mb"])
    memory = next(r for r in doc["rows"] if r["key"] == "memory_mb")
    assert memory["measured"] > 0 and memory["baseline"] > 0


def test_scale_bench_smoke_writes_every_ratio_and_names_each_bound(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    stdout = smoke("scale.py", out)
    assert "PASS" in stdout or "FAIL" in stdout
    doc = json.loads(out.read_text())
    for key in SCALE_RATIOS:
        assert math.isfinite(doc["ratios"][key]) and doc["ratios"][key] > 0, (key, doc["ratios"][key])
    assert math.isfinite(doc["ratios"]["big_memory_mb"])
    rows = {r["key"]: r for r in doc["rows"]}
    assert set(rows) == {*SCALE_RATIOS, "big_memory_mb"}
    for key in ("big_wall_sequential", "big_wall_parallel", "accounts_rate_cap", "restart"):
        assert rows[key]["notes"]["bound"].split(" (")[0] in ("API latency", "rate cap", "CPU"), rows[key]
    # the rate-capped case counted its requests (3 accounts x 2 pages, plus token and login at first)
    assert rows["accounts_rate_cap"]["notes"]["first_cycle"]["requests"] == 8
    assert rows["restart"]["status"] in ("PASS", "FAIL", "pending")


def test_accounts_bench_smoke_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "accounts.json"
    stdout = smoke("accounts.py", out)
    assert "PASS" in stdout or "FAIL" in stdout
    doc = json.loads(out.read_text())
    keys = ("accounts_peak_rss", "accounts_threads", "accounts_first_cycle", "accounts_scrape", "accounts_scrape_gzip")
    assert set(doc["ratios"]) == set(keys)
    for key in keys:
        assert math.isfinite(doc["ratios"][key]) and doc["ratios"][key] > 0, (key, doc["ratios"][key])
