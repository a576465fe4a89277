"""The status page at / as a person sees it: a real exporter against the simulator, with one
collector failing, read by headless Chromium (Debian's package): its text and a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import requests

from tests.needs import require

from .conftest import PYTHON, SECRETS, exporter_env, free_port

ACCOUNTS = {"0000123456-00001": 2500, "0000123456-00002": 1200}
SCREENSHOT = Path(__file__).resolve().parents[1] / "screenshots" / "status-page.png"
# what Chromium needs to run as root, headless, on a machine with no network but loopback
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = require("chromium", "chromium")
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args], capture_output=True, timeout=60
    )


def test_status_page_in_a_browser(sim_factory, tmp_path):
    sim = sim_factory(ACCOUNTS)
    sim.faults.schedule("server_error", count=10**6, endpoint="campaigns")  # campaigns fail, the rest works
    port = free_port()
    log = open(tmp_path / "exporter.log", "wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "thingspace_exporter"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=exporter_env(sim, ACCOUNTS, listen_address=f"127.0.0.1:{port}", interval_seconds=300, max_retries=0),
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "-/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "exporter.log").read_text()
            time.sleep(0.2)
        dom = chromium(tmp_path, "--dump-dom", url).stdout.decode()
        shot = tmp_path / "status.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,420", url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    text = " ".join(dom.split())
    for account in ACCOUNTS:
        assert account in text
        truth = sim.truth(account)
        assert f"<td>{truth.count}</td>" in text  # devices, as the listing counted them
    assert text.count(">succeeded<") == len(ACCOUNTS)
    assert "campaigns: <b>server_error</b>" in text  # the last error and its reason
    assert 'devices: <span class="ok">ok</span>' in text or "devices: <span class=ok>ok</span>" in text
    assert "next collection in" in text
    assert all(secret not in dom for secret in SECRETS)
    assert "<script" not in dom.lower()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # the README's picture
        shutil.copy(shot, SCREENSHOT)
