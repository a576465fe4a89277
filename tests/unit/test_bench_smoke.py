"""The benchmark harness runs end to end at tiny sizes. Speed is never checked here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RATIOS = ("cpu", "cpu_excluding_startup", "first_cycle", "steady_state", "scrape_plain", "scrape_gzip")


def test_bench_smoke_writes_every_ratio(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PASS" in proc.stdout or "FAIL" in proc.stdout
    doc = json.loads(out.read_text())
    ratios = doc["ratios"]
    for key in RATIOS:
        assert math.isfinite(ratios[key]) and ratios[key] > 0, (key, ratios[key])
    # Peak RSS difference: finite; at smoke sizes it may be ~0 or even slightly negative.
    assert math.isfinite(ratios["memory_mb"])
    memory = next(r for r in doc["rows"] if r["key"] == "memory_mb")
    assert memory["measured"] > 0 and memory["baseline"] > 0
