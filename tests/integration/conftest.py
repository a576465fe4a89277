"""Run the exporter against the built-in simulator over real loopback HTTP."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from io import StringIO

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from thingspace_exporter import logs
from thingspace_exporter.app import Exporter
from thingspace_exporter.config import DEFAULT_BUCKETS, load
from thingspace_exporter.metrics import ExporterMetrics
from thingspace_exporter.simulator import Faults, Simulator

from .containers import image, run_container  # noqa: F401 (fixtures of the image and compose tests)

CREDS = {
    "client_id": "it-client",
    "client_secret": "it-secret-5fa1c0de",
    "username": "it-user",
    "password": "it-password-9b7e",
}
SECRETS = (CREDS["client_secret"], CREDS["password"])
DEVICE_FAMILIES = (
    "thingspace_devices",
    "thingspace_devices_by_protocol",
    "thingspace_device_software",
    "thingspace_device_last_connection_age_seconds",
    "thingspace_devices_last_connection_unknown",
)


@pytest.fixture
def log_stream() -> Iterator[StringIO]:
    stream = StringIO()
    logs.configure("debug", "json", stream)
    yield stream
    logs.configure("info", "json")


def make_sim(accounts: dict[str, int], **kw) -> Simulator:
    kw.setdefault("faults", Faults(seed=3))
    return Simulator(accounts=accounts, seed=kw.pop("seed", 7), **CREDS, **kw)


@pytest.fixture
def sim_factory() -> Iterator:
    started: list[Simulator] = []

    def factory(accounts: dict[str, int], **kw) -> Simulator:
        sim = make_sim(accounts, **kw)
        sim.start("127.0.0.1", 0)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def settings_for(sim: Simulator, accounts=None, **overrides):
    values = dict(
        CREDS,
        accounts=",".join(accounts or sim._fleets),
        base_url=sim.base_url,
        interval_seconds=60,
        request_timeout_seconds=5,
        max_retries=3,
    )
    values.update(overrides)
    return load(values)


@pytest.fixture
def exporter_factory(log_stream) -> Iterator:
    made: list[Exporter] = []

    def factory(sim: Simulator, accounts=None, **overrides) -> Exporter:
        exp = Exporter(settings_for(sim, accounts, **overrides), ExporterMetrics(process=False))
        made.append(exp)
        return exp

    yield factory
    for exp in made:
        exp.close()


def exposition(exp: Exporter) -> str:
    return (exp.store.derived.text + generate_latest(exp.metrics.registry)).decode()


def samples(text: str, families=DEVICE_FAMILIES) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} for the named families."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if fam.name in families or s.name.removesuffix("_gcount").removesuffix("_gsum") in families:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def expected(
    sim: Simulator, account: str, protocol: str = "LWM2M", now: float | None = None, buckets=DEFAULT_BUCKETS
) -> dict[tuple, float]:
    """The device series the simulator's ground truth says the exporter must publish."""
    truth = sim.truth(account, protocol)
    now = time.time() if now is None else now
    out: dict[tuple, float] = {}

    def put(metric, value, **labels):
        out[(metric, tuple(sorted(dict(labels, account=account).items())))] = float(value)

    for (make, model, fw, status, fota, lic), n in truth.devices.items():
        put(
            "thingspace_devices",
            n,
            make=make,
            model=model,
            firmware=fw,
            status=status,
            fota_eligible=fota,
            license_assigned=lic,
        )
    for proto, n in truth.protocols.items():
        put("thingspace_devices_by_protocol", n, protocol=proto)
    for (name, version), n in truth.software.items():
        put("thingspace_device_software", n, name=name, version=version)
    for (make, model), n in truth.last_connection_unknown.items():
        put("thingspace_devices_last_connection_unknown", n, make=make, model=model)
    base = "thingspace_device_last_connection_age_seconds"
    for (make, model), times in truth.last_connection.items():
        ages = [max(0.0, now - t) for t in times]
        for le in buckets:
            put(base + "_bucket", sum(1 for a in ages if a <= le), make=make, model=model, le=str(float(le)))
        put(base + "_bucket", len(ages), make=make, model=model, le="+Inf")
        put(base + "_gcount", len(ages), make=make, model=model)
    return out


def without_gsum(found: dict[tuple, float]) -> dict[tuple, float]:
    return {k: v for k, v in found.items() if not k[0].endswith("_gsum")}


def assert_matches(text: str, sim: Simulator, accounts, protocol: str = "LWM2M") -> None:
    want: dict[tuple, float] = {}
    for account in accounts:
        want.update(expected(sim, account, protocol))
    got = without_gsum(samples(text))
    missing = {k: v for k, v in want.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in want}
    assert not missing and not extra, f"mismatch: {list(missing.items())[:5]} extra: {list(extra.items())[:5]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exporter_env(sim: Simulator, accounts, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THINGSPACE_")}
    env.update(
        {
            "THINGSPACE_CLIENT_ID": CREDS["client_id"],
            "THINGSPACE_CLIENT_SECRET": CREDS["client_secret"],
            "THINGSPACE_USERNAME": CREDS["username"],
            "THINGSPACE_PASSWORD": CREDS["password"],
            "THINGSPACE_ACCOUNTS": ",".join(accounts),
            "THINGSPACE_BASE_URL": sim.base_url,
        }
    )
    env.update({f"THINGSPACE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


PYTHON = sys.executable


def run_in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def counter(text: str, name: str) -> Counter:
    out: Counter = Counter()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] += s.value
    return out
