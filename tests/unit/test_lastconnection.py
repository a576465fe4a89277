"""lastconnection: Go time.String() with any fraction, RFC 3339, and every "unknown" spelling."""

from datetime import UTC, datetime

import pytest
from thingspace_exporter.collectors.lastconnection import parse_time

T = datetime(2021, 9, 29, 7, 43, 8, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2021-09-29 07:43:08 +0000 UTC", T),
        ("2021-09-29 07:43:08.1 +0000 UTC", T + 0.1),
        ("2021-09-29 07:43:08.181 +0000 UTC", T + 0.181),
        ("2021-09-29 07:43:08.181123 +0000 UTC", T + 0.181123),
        ("2021-09-29 07:43:08.181123456 +0000 UTC", T + 0.181123),
        ("2021-09-29 07:43:08.181 +0000 UTC m=+0.0012", T + 0.181),
        ("2021-09-29 07:43:08 +0000 UTC m=+3601.123456789", T),
        ("2021-09-29 00:43:08.181 -0700 MST", T + 0.181),
        ("2021-09-29 13:13:08 +0530 IST", T),
        ("2021-09-29 07:43:08 +0000 +0000", T),
        ("2021-09-29T07:43:08.19Z", T + 0.19),
        ("2021-09-29T07:43:08Z", T),
        ("2021-09-29T00:43:08-07:00", T),
        ("2021-09-29T09:43:08.5+02:00", T + 0.5),
    ],
)
def test_known_times(value, expected):
    assert parse_time(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [
        "N/A",
        "",
        "n/a",
        "   ",
        "0001-01-01 00:00:00 +0000 UTC",
        "1900-01-01 00:00:00 +0000 UTC",
        "0001-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "not a time at all, really",
        "2021-13-45 99:99:99 +0000 UTC",
        None,
        0,
        1632901388,
        1632901388.5,
        True,
        ["2021-09-29T07:43:08Z"],
    ],
)
def test_unknown_values(value):
    assert parse_time(value) is None
