"""`--demo`: a built-in simulator on a free loopback port, and settings pointing at it."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .config import ENV_PREFIX, Settings, load

DEMO_ACCOUNTS = {"0000123456-00001": 2500, "0000123456-00002": 12000}
DEMO_CREDENTIALS = {
    "client_id": "demo-client",
    "client_secret": "demo-secret",
    "username": "demo-user",
    "password": "demo-password",
}
DEMO_INTERVAL = 15.0  # a demo should look alive; real accounts want minutes
DEMO_CHURN = 20.0


def start_simulator() -> Any:
    from .simulator import Faults, Simulator

    # A light sprinkle of throttling so the retry and request metrics show something.
    sim = Simulator(
        accounts=DEMO_ACCOUNTS,
        seed=1,
        latency=0.01,
        churn_seconds=DEMO_CHURN,
        faults=Faults(rates={"rate_limit": 0.02}, seed=1),
        client_id=DEMO_CREDENTIALS["client_id"],
        client_secret=DEMO_CREDENTIALS["client_secret"],
        username=DEMO_CREDENTIALS["username"],
        password=DEMO_CREDENTIALS["password"],
    )
    sim.start("127.0.0.1", 0)
    return sim


def demo_settings(args: argparse.Namespace, simulator: Any) -> Settings:
    """Every setting still applies, except credentials, accounts and base URL."""
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    values.update(DEMO_CREDENTIALS, accounts=",".join(DEMO_ACCOUNTS), base_url=simulator.base_url)
    if "interval_seconds" not in values and ENV_PREFIX + "INTERVAL_SECONDS" not in os.environ:
        values["interval_seconds"] = DEMO_INTERVAL
    return load(values)
