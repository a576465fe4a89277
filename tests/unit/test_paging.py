"""paging: cursor walking edge cases, and parallel segments equal to one sequential listing."""

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from thingspace_exporter.collectors.device_listing import (
    cursor_text,
    list_parallel,
    list_sequential,
    more_data,
    order,
    walk,
)
from thingspace_exporter.collectors.device_pages import Device, Page, decode_page
from thingspace_exporter.thingspace.errors import ApiError, Stopped
from ts_builders import DROP, device, imei, page

BUCKETS = (3600.0, 86400.0)
T0 = 1_700_000_000.0


class Scripted:
    """fetch() over a fixed list of page documents; records the cursors asked for."""

    def __init__(self, *docs):
        self.docs = list(docs)
        self.cursors = []

    def __call__(self, cursor):
        self.cursors.append(cursor)
        if not self.docs:
            raise AssertionError(f"fetched past the last page (cursor {cursor!r})")
        return decode_page(json.dumps(self.docs.pop(0)).encode()), T0


def ids(start, n):
    return [device(imei(i)) for i in range(start, start + n)]


def test_one_page():
    fetch = Scripted(page(ids(1, 3), more=False))
    data, cursors = list_sequential(fetch, BUCKETS)
    assert (data.count, data.pages, cursors, fetch.cursors) == (3, 1, [], ["0"])


def test_exact_multiple_of_1000_last_page_full_and_final():
    fetch = Scripted(page(ids(1, 1000), more=True), page(ids(1001, 1000), more=False, cursor="0"))
    data, cursors = list_sequential(fetch, BUCKETS)
    assert (data.count, data.pages) == (2000, 2)
    assert fetch.cursors == ["0", imei(1000)] and cursors == [imei(1000)]


def test_exact_multiple_of_1000_then_empty_final_page():
    fetch = Scripted(page(ids(1, 1000), more=True), page(ids(1001, 1000), more=True), page([], more=False, cursor="0"))
    data, _ = list_sequential(fetch, BUCKETS)
    assert (data.count, data.pages) == (2000, 3)
    assert fetch.cursors == ["0", imei(1000), imei(2000)]


def test_empty_account():
    data, cursors = list_sequential(Scripted(page([], more=False)), BUCKETS)
    assert (data.count, data.pages, data.devices, cursors) == (0, 1, {}, [])


@pytest.mark.parametrize(
    "last",
    [
        {"hasMoreData": False, "deviceList": None, "lastSeenDeviceId": "0"},
        {"hasMoreData": False},
        {"hasMoreData": False, "deviceList": None, "lastSeenDeviceId": None},
    ],
)
def test_null_or_absent_device_list_on_last_page(last):
    data, _ = list_sequential(Scripted(page(ids(1, 2), more=True), last), BUCKETS)
    assert (data.count, data.pages) == (2, 2)


def test_numeric_cursor_is_accepted_and_sent_as_text():
    fetch = Scripted(
        page(ids(350000000000001, 2), more=True, cursor=350000000000002), page(ids(350000000000003, 1), more=False)
    )
    data, cursors = list_sequential(fetch, BUCKETS)
    assert fetch.cursors == ["0", "350000000000002"] and data.count == 3
    assert cursors == ["350000000000002"]


def test_integral_float_cursor_is_accepted():
    assert cursor_text(350000000000002.0) == "350000000000002"


def test_imeis_with_leading_zeros_stay_strings():
    fetch = Scripted(
        page([device("000000000000011"), device("000000000000012")], more=True),
        page([device("000000000000013")], more=False),
    )
    data, cursors = list_sequential(fetch, BUCKETS)
    assert fetch.cursors == ["0", "000000000000012"] and cursors == ["000000000000012"]
    assert all(isinstance(c, str) for c in fetch.cursors)


@pytest.mark.parametrize(
    "cursor,reason",
    [
        (imei(2), "stuck_cursor"),  # the same cursor again
        (imei(1), "stuck_cursor"),  # a decreasing cursor
        ("0", "stuck_cursor"),
        (DROP, "missing_cursor"),
        (None, "missing_cursor"),
        ("", "missing_cursor"),
        (1.5, "missing_cursor"),
        (True, "missing_cursor"),
        ({"id": 1}, "missing_cursor"),
    ],
)
def test_bad_cursor_fails_instead_of_looping(cursor, reason):
    fetch = Scripted(
        page([device(imei(1)), device(imei(2))], more=True),
        page([device(imei(3))], more=True, cursor=cursor),
        page([device(imei(4))], more=False),
    )
    with pytest.raises(ApiError) as e:
        list_sequential(fetch, BUCKETS)
    assert e.value.reason == reason
    assert len(fetch.cursors) == 2


def test_stuck_cursor_on_the_first_page():
    fetch = Scripted(page([device(imei(1))], more=True, cursor="0"), page([], more=False))
    with pytest.raises(ApiError) as e:
        list_sequential(fetch, BUCKETS)
    assert e.value.reason == "stuck_cursor" and fetch.cursors == ["0"]


def test_empty_page_with_more_data_is_an_error():
    fetch = Scripted(page(ids(1, 2), more=True), page([], more=True, cursor=imei(5)), page([], more=False))
    with pytest.raises(ApiError) as e:
        list_sequential(fetch, BUCKETS)
    assert e.value.reason == "empty_page" and len(fetch.cursors) == 2


def test_null_device_list_with_more_data_is_an_error():
    fetch = Scripted({"hasMoreData": True, "deviceList": None, "lastSeenDeviceId": imei(9)})
    with pytest.raises(ApiError) as e:
        list_sequential(fetch, BUCKETS)
    assert e.value.reason == "empty_page"


@pytest.mark.parametrize("value", [DROP, None, 1, 0, "yes", "", [], {}])
def test_has_more_data_missing_or_wrong_type_is_bad_page(value):
    doc = page(ids(1, 1), more=True)
    if value is DROP:
        del doc["hasMoreData"]
    else:
        doc["hasMoreData"] = value
    with pytest.raises(ApiError) as e:
        list_sequential(Scripted(doc), BUCKETS)
    assert e.value.reason == "bad_page"


@pytest.mark.parametrize("value,expected", [(True, True), (False, False), ("true", True), ("False", False)])
def test_has_more_data_booleans_and_strings(value, expected):
    assert more_data(value, "devices") is expected


def test_string_has_more_data_pages_through():
    fetch = Scripted(page(ids(1, 2), more="true", cursor=imei(2)), page(ids(3, 1), more="false"))
    assert list_sequential(fetch, BUCKETS)[0].count == 3


def test_on_page_progress_callback():
    seen = []
    fetch = Scripted(page(ids(1, 1), more=True), page(ids(2, 1), more=True), page(ids(3, 1), more=False))
    list_sequential(fetch, BUCKETS, seen.append)
    assert seen == [1, 2, 3]


def test_order_is_numeric_for_digit_strings():
    assert order("0") < order("000000000000001") < order("9") < order("10") < order("350000000000000")
    assert order("000000000000123") == order("123")


def test_walk_stops_at_upper_inclusive():
    fetch = Scripted(page(ids(1, 5), more=True))
    pages = list(walk(fetch, "0", imei(3)))
    assert [[d.deviceId for d in devs] for devs, _ in pages] == [[imei(1), imei(2), imei(3)]]


# --- parallel == sequential over an in-memory fleet -------------------------------------------


class Fleet:
    """A sorted in-memory device list served like the API, `size` devices a page."""

    def __init__(self, numbers, size, strict=False):
        self.ids = sorted(imei(n) for n in set(numbers))
        self.size = size
        self.strict = strict
        self.lock = threading.Lock()
        self.calls = 0

    def fetch(self, cursor):
        with self.lock:
            self.calls += 1
        if self.strict and cursor != "0" and cursor not in self.ids:
            raise ApiError("invalid_cursor", "LastSeenDeviceId Not Valid", "devices", 400, "INVALID_PARAMETER")
        rest = [i for i in self.ids if order(i) > order(cursor)]
        chunk, more = rest[: self.size], len(rest) > self.size
        devices = [
            Device(
                deviceId=i,
                make=f"mk{int(i) % 3}",
                model=f"m{int(i) % 2}",
                firmware="f",
                status=["Active", "suspended"][int(i) % 2],
                protocol="LWM2M",
                lastConnectionTime=f"2023-11-14 22:{int(i) % 60:02d}:00 +0000 UTC",
            )
            for i in chunk
        ]
        return Page(hasMoreData=more, lastSeenDeviceId=chunk[-1] if more else "0", deviceList=devices), T0


def same(a, b):
    assert (a.devices, a.protocols, a.software, a.unknown, a.count, a.ages) == (
        b.devices,
        b.protocols,
        b.software,
        b.unknown,
        b.count,
        b.ages,
    )


numbers = st.sets(st.integers(1, 300), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=numbers, added=numbers, removed=numbers, size=st.integers(1, 7), workers=st.integers(1, 5))
def test_parallel_equals_sequential_across_churn(before, added, removed, size, workers):
    _, bounds = list_sequential(Fleet(before, size).fetch, BUCKETS)
    now = (before | added) - removed
    expected, _ = list_sequential(Fleet(now, size).fetch, BUCKETS)
    got, cursors = list_parallel(Fleet(now, size).fetch, BUCKETS, bounds, workers, threading.Event())
    same(got, expected)
    assert cursors == sorted(set(cursors), key=order)
    # and the cursors it reports work as the next cycle's bounds
    again, _ = list_parallel(Fleet(now, size).fetch, BUCKETS, cursors, workers, threading.Event())
    same(again, expected)


def test_parallel_with_exact_bounds_fetches_each_segment_once():
    fleet = Fleet(range(1, 21), 5)
    _, bounds = list_sequential(fleet.fetch, BUCKETS)
    assert bounds == [imei(5), imei(10), imei(15)]
    fleet.calls = 0
    data, cursors = list_parallel(fleet.fetch, BUCKETS, bounds, 4, threading.Event())
    assert data.count == 20 and fleet.calls == 4 and cursors == bounds


def test_parallel_with_a_removed_bound_device_raises_invalid_cursor_on_strict_api():
    _, bounds = list_sequential(Fleet(range(1, 21), 5).fetch, BUCKETS)
    with pytest.raises(ApiError) as e:
        list_parallel(
            Fleet(set(range(1, 21)) - {10}, 5, strict=True).fetch, BUCKETS, bounds, 2, threading.Event(), backoff=0
        )
    assert e.value.reason == "invalid_cursor"


def test_parallel_segment_error_is_raised():
    fleet = Fleet(range(1, 21), 5)

    def fetch(cursor):
        if cursor == imei(10):
            raise ApiError("server_error", "boom", "devices", 503)
        return fleet.fetch(cursor)

    with pytest.raises(ApiError) as e:
        list_parallel(fetch, BUCKETS, [imei(5), imei(10), imei(15)], 3, threading.Event(), backoff=0)
    assert e.value.reason == "server_error"


def test_parallel_stopped():
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        list_parallel(Fleet(range(1, 21), 5).fetch, BUCKETS, [imei(10)], 2, stop)


def test_plan_bounds_packs_shrunken_segments_into_full_pages():
    from thingspace_exporter.collectors.device_listing import plan_bounds

    full = [(f"{i:015d}", 1000) for i in range(1, 4)]
    assert plan_bounds(full) == ["000000000000001", "000000000000002"]
    shrunk = [
        ("000000000000001", 1000),
        ("000000000000002", 300),
        ("000000000000003", 200),
        ("000000000000004", 1000),
        ("000000000000005", 10),
    ]
    assert plan_bounds(shrunk) == ["000000000000001", "000000000000003", "000000000000004"]
    assert plan_bounds([]) == [] and plan_bounds([("000000000000009", 7)]) == []


class Faulty:
    """Fleet.fetch with faults: `fail[cursor]` failures in a row at that cursor; records every cursor."""

    def __init__(self, fleet, fail):
        self.fleet, self.fail = fleet, dict(fail)
        self.lock = threading.Lock()
        self.cursors = []

    def __call__(self, cursor):
        with self.lock:
            self.cursors.append(cursor)
            failing = self.fail.get(cursor, 0) > 0
            if failing:
                self.fail[cursor] -= 1
        if failing:
            raise ApiError("server_error", "boom", "devices", 503)
        return self.fleet.fetch(cursor)


def test_a_fault_in_one_segment_costs_only_the_failed_request_again():
    """Four segments of five pages; the third page of one segment fails twice: the segment goes on
    from that cursor, no other page is fetched twice, and the counts are a sequential walk's."""
    fleet = Fleet(range(1, 201), 10)
    expected, _ = list_sequential(fleet.fetch, BUCKETS)
    bounds = [imei(50), imei(100), imei(150)]
    fetch = Faulty(fleet, {imei(120): 2})
    got, _ = list_parallel(fetch, BUCKETS, bounds, 4, threading.Event(), backoff=0)
    same(got, expected)
    assert got.pages == expected.pages == 20
    again = [c for c in set(fetch.cursors) if fetch.cursors.count(c) > 1]
    assert again == [imei(120)] and fetch.cursors.count(imei(120)) == 3


def test_a_segment_that_keeps_failing_is_walked_on_from_where_it_stopped():
    """The segment's retries all fail: the other segments keep their pages, and the failed one is
    walked on sequentially from its last cursor (its earlier pages are not fetched again)."""
    fleet = Fleet(range(1, 201), 10)
    expected, _ = list_sequential(fleet.fetch, BUCKETS)
    bounds = [imei(50), imei(100), imei(150)]
    fetch = Faulty(fleet, {imei(120): 3})  # the first try and both retries
    got, cursors = list_parallel(fetch, BUCKETS, bounds, 4, threading.Event(), backoff=0)
    same(got, expected)
    assert fetch.cursors.count(imei(120)) == 4 and fetch.cursors.count("0") == 1
    assert all(fetch.cursors.count(c) == 1 for c in fetch.cursors if c != imei(120))
    assert cursors == sorted(set(cursors), key=order)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    numbers=st.sets(st.integers(1, 300), min_size=1, max_size=80),
    size=st.integers(1, 7),
    workers=st.integers(1, 5),
    faults=st.dictionaries(st.integers(1, 300), st.integers(1, 4), max_size=5),
)
def test_faulty_segments_keep_the_counts_exact(numbers, size, workers, faults):
    fleet = Fleet(numbers, size)
    expected, bounds = list_sequential(fleet.fetch, BUCKETS)
    fetch = Faulty(fleet, {imei(n): k for n, k in faults.items()})
    try:
        got, _ = list_parallel(fetch, BUCKETS, bounds, workers, threading.Event(), backoff=0)
    except ApiError:  # 4 failures in a row at one cursor: the retries and the walk on
        assert 4 in faults.values()
        return
    same(got, expected)
    # each cursor is asked again only for its own failures
    assert all(fetch.cursors.count(c) <= 1 + faults.get(int(c), 0) for c in set(fetch.cursors) if c != "0")
