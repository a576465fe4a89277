"""aggregation: every device quirk, inclusive buckets, ages from fetched_at, merge == one add."""

import json
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thingspace_exporter.collectors.device_aggregation import Aggregator, flag, text
from thingspace_exporter.collectors.device_pages import decode_page
from thingspace_exporter.collectors.lastconnection import parse_time
from ts_builders import DROP, device, page

BUCKETS = (3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)
NOW_TXT = "2021-09-29 07:43:08 +0000 UTC"
NOW = parse_time(NOW_TXT)


def devs(*docs):
    return decode_page(json.dumps(page(list(docs))).encode()).deviceList


def agg(*docs, fetched_at=NOW, buckets=BUCKETS):
    a = Aggregator(buckets)
    a.add(devs(*docs), fetched_at)
    return a.result()


def key(status="active", fota="true", lic="true", make="NORDIC SEMICONDUCTOR ASA", model="NRF9160", fw="fw-1"):
    return (make, model, fw, status, fota, lic)


def test_status_case_is_normalised_and_unknown_values_kept():
    r = agg(
        device("1", status="Active"),
        device("2", status="active"),
        device("3", status="ACTIVE"),
        device("4", status="Suspended"),
        device("5", status="deactivated-weird"),
    )
    assert r.devices == {key(): 3, key("suspended"): 1, key("deactivated-weird"): 1}
    assert r.count == 5


def test_absent_null_and_string_booleans():
    r = agg(
        device("1", fotaEligible=DROP, licenseAssigned=None),
        device("2", fotaEligible="true", licenseAssigned="TRUE "),
        device("3", fotaEligible="false", licenseAssigned=False),
        device("4", fotaEligible="yes", licenseAssigned=0),
    )
    assert r.devices == {key(fota="false", lic="false"): 3, key(fota="true", lic="true"): 1}


@pytest.mark.parametrize(
    "value,expected",
    [
        (True, "true"),
        (False, "false"),
        (None, "false"),
        ("true", "true"),
        ("True", "true"),
        ("false", "false"),
        ("", "false"),
        (1, "false"),
    ],
)
def test_flag(value, expected):
    assert flag(value) == expected


def test_text():
    assert (text(None), text("a"), text(12), text(1.5)) == ("", "a", "12", "1.5")


def test_protocols_comma_joined_with_spaces_and_none():
    r = agg(
        device("1", protocol="LWM2M"),
        device("2", protocol="HTTP,LWM2M"),
        device("3", protocol=" HTTP , LWM2M ,"),
        device("4", protocol="NONE"),
        device("5", protocol=None),
        device("6", protocol=""),
        device("7", protocol="HTTP,HTTP"),
    )
    assert r.protocols == {"LWM2M": 3, "HTTP": 3, "NONE": 1}


def test_numbers_where_strings_belong():
    r = agg(
        device("1", make=123, model=4.5, firmware=7, status=None, protocol=5, softwareList=[{"name": 1, "version": 2}])
    )
    assert r.devices == {("123", "4.5", "7", "", "true", "true"): 1}
    assert r.protocols == {"5": 1}
    assert r.software == {("1", "2"): 1}
    assert r.ages[("123", "4.5")][0][-1] == 1


def test_missing_make_model_are_empty_labels():
    r = agg(device("1", make=DROP, model=None, firmware=DROP))
    assert r.devices == {("", "", "", "active", "true", "true"): 1}


def test_software_duplicates_count_once_per_device():
    sw = [
        {"name": "App", "version": "1.0"},
        {"name": "App", "version": "1.0", "upgradeTime": "x"},
        {"name": "App", "version": "2.0"},
    ]
    r = agg(
        device("1", softwareList=sw),
        device("2", softwareList=[{"name": "App", "version": "1.0"}]),
        device("3", softwareList=None),
        device("4", softwareList=DROP),
    )
    assert r.software == {("App", "1.0"): 2, ("App", "2.0"): 1}


def test_both_last_connection_spellings_and_unknowns():
    r = agg(
        device("1", lastConnectionTime=NOW_TXT),
        device("2", lastConnectionTime=DROP, lastConnectTime=NOW_TXT),
        device("3", lastConnectionTime=None, lastConnectTime="2021-09-29T07:43:08Z"),
        device("4", lastConnectionTime="N/A"),
        device("5", lastConnectionTime=""),
        device("6", lastConnectionTime="0001-01-01 00:00:00 +0000 UTC"),
        device("7", lastConnectionTime="1900-01-01 00:00:00 +0000 UTC"),
        device("8", lastConnectionTime=DROP),
        device("9", lastConnectionTime=1632901388),
    )
    mk = ("NORDIC SEMICONDUCTOR ASA", "NRF9160")
    assert r.unknown == {mk: 6}
    cumulative, total = r.ages[mk]
    assert cumulative == (3, 3, 3, 3, 3, 3) and total == 0.0


def at_age(seconds, make="M", model="X", n="1"):
    return device(n, make=make, model=model, lastConnectionTime=_go(NOW - seconds))


def _go(epoch):
    from datetime import datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def test_bucket_boundaries_are_inclusive():
    r = agg(at_age(3600), at_age(3601), at_age(21600), at_age(86400), at_age(2592000), at_age(2592001), at_age(0))
    cumulative, total = r.ages[("M", "X")]
    # le=3600: {0, 3600}; le=21600: +3601, 21600; le=86400: +86400; le=604800: same; le=2592000: +2592000
    assert cumulative == (2, 4, 5, 5, 6, 7)
    assert total == 3600 + 3601 + 21600 + 86400 + 2592000 + 2592001


def test_ages_are_measured_from_the_pages_fetched_at():
    a = Aggregator(BUCKETS)
    a.add(devs(at_age(0)), NOW + 7200)  # fetched two hours after the connection
    a.add(devs(at_age(0)), NOW + 60)
    cumulative, total = a.result().ages[("M", "X")]
    assert cumulative == (1, 2, 2, 2, 2, 2) and total == 7260


def test_negative_ages_clamp_to_zero():
    cumulative, total = agg(at_age(-500)).ages[("M", "X")]
    assert cumulative[0] == 1 and total == 0.0


def test_gauge_histogram_is_cumulative_and_last_bucket_is_gcount_per_model():
    r = agg(
        at_age(10, "A", "1"),
        at_age(100000, "A", "1"),
        at_age(10**8, "A", "1"),
        at_age(5, "B", "2"),
        device("9", make="A", model="1", lastConnectionTime="N/A"),
    )
    a_cum, _ = r.ages[("A", "1")]
    assert a_cum == (1, 1, 1, 2, 2, 3)
    assert all(x <= y for x, y in zip(a_cum, a_cum[1:], strict=False))
    assert r.ages[("B", "2")][0][-1] == 1
    assert r.unknown == {("A", "1"): 1}
    assert len(a_cum) == len(BUCKETS) + 1


def test_custom_buckets():
    r = agg(at_age(5), at_age(10), at_age(11), buckets=(10.0,))
    assert r.ages[("M", "X")][0] == (2, 3) and r.buckets == (10.0,)


def test_empty_page_counts_a_page():
    a = Aggregator(BUCKETS)
    a.add([], NOW)
    r = a.result()
    assert (r.count, r.pages, r.devices, r.ages) == (0, 1, {}, {})


def test_merge_equals_one_big_add():
    docs = [
        device(
            str(i),
            status=["Active", "suspended"][i % 2],
            make=f"mk{i % 3}",
            model=f"m{i % 2}",
            protocol=["LWM2M", "HTTP,LWM2M", "NONE"][i % 3],
            softwareList=[{"name": "a", "version": str(i % 4)}],
            lastConnectionTime=[_go(NOW - i * 5000), "N/A"][i % 5 == 0],
        )
        for i in range(60)
    ]
    whole = Aggregator(BUCKETS)
    whole.add(devs(*docs[:30]), NOW)
    whole.add(devs(*docs[30:]), NOW + 100)
    parts = [Aggregator(BUCKETS) for _ in range(3)]
    parts[0].add(devs(*docs[:30]), NOW)
    parts[1].add(devs(*docs[30:45]), NOW + 100)
    parts[2].add(devs(*docs[45:]), NOW + 100)
    total = Aggregator(BUCKETS)
    for p in parts:
        total.merge(p)
    a, b = whole.result(), total.result()
    assert (a.devices, a.protocols, a.software, a.unknown, a.count) == (
        b.devices,
        b.protocols,
        b.software,
        b.unknown,
        b.count,
    )
    assert a.ages.keys() == b.ages.keys()
    for mk in a.ages:
        assert a.ages[mk][0] == b.ages[mk][0] and a.ages[mk][1] == pytest.approx(b.ages[mk][1])
    assert b.pages == 3 and a.pages == 2


def test_time_cache_does_not_change_results():
    # more distinct timestamps than the parse cache holds: it is cleared and refilled
    docs = [device(str(i), lastConnectionTime=_go(NOW - i * 10)) for i in range(5000)]
    a = Aggregator(BUCKETS)
    a.add(devs(*docs), NOW)
    a.add(devs(*docs), NOW)
    assert a.result().ages[("NORDIC SEMICONDUCTOR ASA", "NRF9160")][0] == (722, 4322, 10000, 10000, 10000, 10000)


def test_sums_stay_exact_over_many_pages_of_old_and_unknown_devices():
    # a page's ages are summed as timedeltas: they must not overflow across pages
    old = devs(*[at_age(50 * 365 * 86400, n=str(i)) for i in range(1000)])
    never = devs(
        *[device(str(i), make="M", model="X", lastConnectionTime="0001-01-01 00:00:00 +0000 UTC") for i in range(1000)]
    )
    a = Aggregator(BUCKETS)
    for _ in range(60):
        a.add(old, NOW)
        a.add(never, NOW)
    r = a.result()
    assert r.ages[("M", "X")] == ((0, 0, 0, 0, 0, 60000), 60000 * 50 * 365 * 86400.0)
    assert r.unknown == {("M", "X"): 60000}


_EDGES = [0, 1, 3599, 3600, 3601, 21600, 86399, 86400, 604800, 2592000, 2592001, 10**9, -5, -3600]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.one_of(st.sampled_from(_EDGES), st.integers(-(10**5), 2 * 10**9)),
            st.sampled_from(["", ".5", ".000001", ".123456", ".999999"]),
            st.sampled_from(["lastConnectionTime", "lastConnectTime", "both", "N/A", "none", "zero", "1900"]),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([NOW, NOW + 0.25]),
)
@settings(max_examples=300, deadline=None)
def test_page_at_once_path_equals_the_device_by_device_path(rows, fetched_at):
    docs = []
    for i, (model, age, frac, spelling) in enumerate(rows):
        when = _go(NOW - age).replace(" +0000", frac + " +0000")
        fields = {
            "N/A": {"lastConnectionTime": "N/A"},
            "none": {"lastConnectionTime": None},
            "zero": {"lastConnectTime": "0001-01-01 00:00:00 +0000 UTC"},
            "1900": {"lastConnectionTime": "1900-01-01 00:00:00 +0000 UTC"},
            "both": {"lastConnectionTime": when, "lastConnectTime": "N/A"},
        }.get(spelling, {spelling: when})
        docs.append(device(str(i), make="M", model=model, **{"lastConnectionTime": DROP, **fields}))
    page_devs = devs(*docs)
    fast, careful = Aggregator(BUCKETS, stalest=5), Aggregator(BUCKETS, stalest=5)
    fast.add(page_devs, fetched_at)
    careful.pages, careful.count = 1, len(page_devs)
    careful._add_times(
        ((d.make, d.model, d.lastConnectionTime, d.lastConnectTime, d.deviceId) for d in page_devs), fetched_at
    )
    a, b = fast.result(), careful.result()
    assert [s[1:] for s in a.stalest] == [s[1:] for s in b.stalest]  # the same devices, in order
    assert [s[0] for s in a.stalest] == pytest.approx([s[0] for s in b.stalest], abs=1e-6)
    assert a.unknown == b.unknown
    assert a.ages.keys() == b.ages.keys()
    for mk in a.ages:
        assert a.ages[mk][0] == b.ages[mk][0]
        assert a.ages[mk][1] == pytest.approx(b.ages[mk][1], rel=1e-9, abs=1e-3)


def test_ages_are_moved_into_seconds_before_a_timedelta_could_overflow(monkeypatch):
    from datetime import datetime, timedelta

    import thingspace_exporter.collectors.device_aggregation as aggregation_module

    # the limit: as many ages as old as a known one can be now as fit in a timedelta
    oldest = datetime.now(UTC) - aggregation_module._EARLIEST
    assert oldest * aggregation_module._sum_limit(oldest) <= timedelta.max
    with pytest.raises(OverflowError):
        oldest * (aggregation_module._sum_limit(oldest) + 1)  # and not one more
    docs = [at_age(i * 1000 + 7, make=f"mk{i % 3}", n=str(i)) for i in range(30)]
    expected = agg(*docs)
    monkeypatch.setattr(
        aggregation_module, "_sum_limit", lambda oldest: 7
    )  # pages bigger than the limit, and flushes between
    a = Aggregator(BUCKETS)
    a.add(devs(*docs[:5]), NOW)
    a.add(devs(*docs[5:]), NOW)
    got = a.result()
    assert got.ages == expected.ages and got.count == 30


def test_sums_stay_exact_when_the_clock_reads_2100():
    """From about 2039, 40 000 ages since 1971 no longer fit in a timedelta; in 2100 about 21 000 do.
    The limit comes from the page's time, so pages arriving in 2100 still sum exactly."""
    from datetime import datetime

    now = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
    one = '{"deviceId":"%d","make":"M","model":"X","lastConnectionTime":"1971-01-02 00:00:00 +0000 UTC"}'
    body = ('{"hasMoreData":false,"deviceList":[' + ",".join(one % i for i in range(45_000)) + "]}").encode()
    a = Aggregator(BUCKETS)
    a.add(decode_page(body).deviceList, now)  # one page beyond the limit: summed in rounds
    a.add(decode_page(body).deviceList, now + 60)  # and pages adding to what is not summed yet
    cumulative, total = a.result().ages[("M", "X")]
    assert cumulative == (0, 0, 0, 0, 0, 90_000)
    age = now - parse_time("1971-01-02T00:00:00Z")
    assert total == pytest.approx(45_000 * age + 45_000 * (age + 60), rel=1e-12)


def test_a_huge_page_of_old_devices_does_not_overflow():
    # 60 000 ages of ~50 years are more days than a timedelta holds: summed in rounds
    one = '{"deviceId":"%d","make":"M","model":"X","lastConnectionTime":"1972-01-01 00:00:00 +0000 UTC"}'
    body = '{"hasMoreData":false,"deviceList":[' + ",".join(one % i for i in range(60000)) + "]}"
    a = Aggregator(BUCKETS)
    a.add(decode_page(body.encode()).deviceList, NOW)
    cumulative, total = a.result().ages[("M", "X")]
    assert cumulative == (0, 0, 0, 0, 0, 60000)
    assert total == pytest.approx(60000 * (NOW - parse_time("1972-01-01T00:00:00Z")))


# --- the stalest devices --------------------------------------------------------------------


@given(
    st.lists(st.tuples(st.integers(0, 10**8), st.sampled_from(["t", "N/A", "zero", "go"])), min_size=0, max_size=120),
    st.integers(0, 12),
    st.integers(1, 5),
)
@settings(max_examples=200, deadline=None)
def test_the_stalest_devices_are_exactly_the_oldest_known_however_the_pages_split(rows, keep, parts):
    docs = []
    for i, (age, kind) in enumerate(rows):
        when = {"N/A": "N/A", "zero": "0001-01-01 00:00:00 +0000 UTC"}.get(kind, _go(NOW - age))
        if kind == "t":
            when = _go(NOW - age).replace(" +0000 UTC", "Z").replace(" ", "T")
        docs.append(device(f"{i:03d}", make="M", model=f"m{i % 3}", lastConnectionTime=when))
    # brute force: every known last connection, oldest first, ties by device id
    known = sorted((NOW - age, f"{i:03d}") for i, (age, kind) in enumerate(rows) if kind in ("t", "go"))
    want = [(when, ident) for when, ident in known[:keep]]
    # one aggregator per segment, merged, as parallel paging does
    chunks = [docs[k::parts] for k in range(parts)]
    total = Aggregator(BUCKETS, stalest=keep)
    for chunk in chunks:
        agg = Aggregator(BUCKETS, stalest=keep)
        for start in range(0, len(chunk), 7):  # several pages per segment
            agg.add(devs(*chunk[start : start + 7]), NOW)
        total.merge(agg)
    got = total.result().stalest
    assert [(round(when, 3), ident) for when, ident, _, _ in got] == [(round(w, 3), i) for w, i in want]
    assert all(make == "M" for _, _, make, _ in got)


def test_no_stalest_devices_kept_when_switched_off():
    agg = Aggregator(BUCKETS)
    agg.add(devs(device("1")), NOW)
    assert agg.result().stalest == () and agg.oldest == []
