"""`make demo-alerts` without Prometheus or Alertmanager on PATH names the Debian packages to install."""

from __future__ import annotations

import os
import subprocess

from .conftest import PYTHON
from .containers import ROOT


def test_demo_alerts_names_the_missing_packages(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # an empty directory: neither binary is found
    done = subprocess.run(
        [PYTHON, str(ROOT / "deploy" / "demo" / "alerts.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "apt-get install prometheus prometheus-alertmanager" in done.stderr
    assert done.stdout == ""
