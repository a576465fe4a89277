"""The simulator's hidden rate limit: a sliding one-second window, 429 with Retry-After beyond it."""

from __future__ import annotations

import pytest
import requests
from thingspace_exporter.simulator import Simulator
from thingspace_exporter.simulator.cli import main, parser
from thingspace_exporter.simulator.throttle import Throttle

TOKEN = "/api/ts/v1/oauth2/token"


class Clock:
    def __init__(self):
        self.t = 50.0

    def __call__(self):
        return self.t


def test_at_most_n_within_any_second():
    clock = Clock()
    throttle = Throttle(3, clock)
    answers = []
    for step in range(40):  # a request every 0.1 s: 10 a second offered, 3 a second admitted
        clock.t = 50.0 + step * 0.1
        answers.append((clock.t, throttle.admit()))
    admitted = [t for t, retry in answers if retry is None]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(admitted, admitted[3:], strict=False))  # never a 4th within 1 s
    assert len(admitted) == 12  # 3 in each of the 4 seconds
    assert {retry for _, retry in answers if retry is not None} == {1}
    assert [admitted for _, admitted in throttle.log] == [retry is None for _, retry in answers]


def test_retry_after_is_whole_seconds_until_the_window_has_room():
    clock = Clock()
    throttle = Throttle(1, clock)
    assert throttle.admit() is None
    clock.t += 0.2
    assert throttle.admit() == 1  # room again in 0.8 s: never 0, which would invite a retry at once
    clock.t += 0.8
    assert throttle.admit() is None


def test_rejected_requests_do_not_use_up_the_window():
    clock = Clock()
    throttle = Throttle(2, clock)
    for _ in range(100):
        throttle.admit()
    clock.t += 1.0
    assert throttle.admit() is None and throttle.admit() is None and throttle.admit() == 1


def test_a_limit_must_be_positive():
    with pytest.raises(ValueError):
        Throttle(0)


def test_over_http_every_endpoint_answers_429_with_retry_after():
    with Simulator({"0000123456-00001": 10}, rate_limit_per_second=4) as sim:
        http = requests.Session()
        replies = [
            http.post(
                sim.base_url + TOKEN,
                auth=("demo-client", "demo-secret"),
                data={"grant_type": "client_credentials"},
                timeout=5,
            )
            for _ in range(20)
        ]
        assert sim.requests["throttled"] == sum(r.status_code == 429 for r in replies)
    codes = [r.status_code for r in replies]
    assert codes.count(200) >= 4 and 429 in codes  # 20 requests on loopback take well under 5 s
    throttled = next(r for r in replies if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["fault"]["code"] == "900802"


def test_without_a_limit_nothing_is_throttled():
    with Simulator({"0000123456-00001": 10}) as sim:
        assert sim.throttle is None
        http = requests.Session()
        assert all(
            http.post(
                sim.base_url + TOKEN,
                auth=("demo-client", "demo-secret"),
                data={"grant_type": "client_credentials"},
                timeout=5,
            ).status_code
            == 200
            for _ in range(30)
        )


def test_cli_flag():
    assert parser().parse_args(["--rate-limit", "25"]).rate_limit == 25
    assert parser().parse_args([]).rate_limit == 0
    for bad in ("-1", "2.5", "x"):
        with pytest.raises(SystemExit) as exc:
            main(["--rate-limit", bad])
        assert exc.value.code == 2
