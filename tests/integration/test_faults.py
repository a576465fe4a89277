"""The fault matrix: every transient fault is survived with exact counts, with debug logging
on, and no secret or token shows up in any captured byte."""

from __future__ import annotations

import secrets as stdlib_secrets
import types

import pytest
from thingspace_exporter.simulator import auth as sim_auth

from .conftest import SECRETS, assert_matches, exposition, value

A, B = "0000123456-00001", "0000123456-00002"
TRANSIENT = [
    "rate_limit",
    "server_error",
    "bad_gateway",
    "unavailable",
    "gateway_timeout",
    "html_503",
    "timeout",
    "slow",
    "truncated_json",
    "malformed_json",
    "token_expiry",
    "session_expiry",
    "session_invalid",
    "session_format",
]


@pytest.fixture
def issued(monkeypatch) -> list[str]:
    """Every token and session id the simulator hands out."""
    seen: list[str] = []

    def token_urlsafe(n: int = 32) -> str:
        seen.append(stdlib_secrets.token_urlsafe(n))
        return seen[-1]

    monkeypatch.setattr(
        sim_auth,
        "secrets",
        types.SimpleNamespace(token_urlsafe=token_urlsafe, compare_digest=stdlib_secrets.compare_digest),
    )
    return seen


def check_no_secrets(issued: list[str], *captured: str) -> None:
    blob = "\n".join(captured)
    assert issued, "the simulator issued no tokens?"
    for value_ in (*SECRETS, *issued):
        assert value_ not in blob


# SessionToken errors come with 400, 401 or 403 in the wild
CASES = [(kind, 400) for kind in TRANSIENT] + [
    (kind, status) for kind in TRANSIENT if kind.startswith("session_") for status in (401, 403)
]


@pytest.mark.parametrize("kind,session_status", CASES)
def test_transient_fault_mid_listing_keeps_exact_counts(
    kind, session_status, sim_factory, exporter_factory, log_stream, issued
):
    sim = sim_factory({A: 3200, B: 700}, session_error_status=session_status)
    sim.faults.hang_seconds = 5.0
    sim.faults.slow_seconds = 0.3
    exp = exporter_factory(sim, request_timeout_seconds=1.0, max_concurrency=1)
    sim.faults.schedule(kind, after=2)  # the third device-list request: mid-listing
    ok = exp.collection.run_cycle()
    text = exposition(exp)
    assert sim.faults.injected[kind] == 1
    assert ok, log_stream.getvalue()[-2000:]
    assert_matches(text, sim, [A, B])
    check_no_secrets(issued, text, log_stream.getvalue())


def test_whole_matrix_in_one_run_with_parallel_paging(sim_factory, exporter_factory, log_stream, issued):
    sim = sim_factory({A: 9000, B: 4100})
    sim.faults.hang_seconds = 5.0
    exp = exporter_factory(sim, request_timeout_seconds=1.0, max_concurrency=4, max_retries=5)
    assert exp.collection.run_cycle()
    errors = []
    for kind in TRANSIENT:
        sim.faults.schedule(kind, after=3)
        try:
            assert exp.collection.run_cycle(), kind
        except Exception as exc:  # keep the message for the secret scan
            errors.append(str(exc))
            raise
        assert_matches(exposition(exp), sim, [A, B])
        sim.advance()
    assert set(sim.faults.injected) == set(TRANSIENT)
    text = exposition(exp)
    assert value(text, "thingspace_api_retries_total", endpoint="devices", reason="http_429") >= 1
    check_no_secrets(issued, text, log_stream.getvalue(), *errors)
