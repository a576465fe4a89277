"""Fuzzing device-list pages through the real collection path (decode, paging, aggregation,
snapshot, exposition) with a stub client instead of HTTP.

Properties, for every generated sequence of page bodies:
- `Runner.run_account` never raises and returns a bool;
- a failure is counted exactly once in `thingspace_collection_errors_total{account,reason}`,
  logged as `collection_finished` with `outcome: failure` and that reason, and the reason is a
  page-level one (never `internal_error`, which would be a crash in our code);
- a success publishes a snapshot whose device count is what an independent reading of the
  JSON (`json.loads`) says, and only for a listing that ends on hasMoreData=false;
- the rendered exposition, text and OpenMetrics, always parses back, and string label values
  (odd unicode, quotes, backslashes, newlines, NUL) round-trip exactly.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from thingspace_exporter import logs
from thingspace_exporter.app import Exporter
from thingspace_exporter.collection.rendering import EOF_LINE
from thingspace_exporter.config import load
from thingspace_exporter.metrics import ExporterMetrics

ACCOUNT = "0000123456-00001"
FINAL = b'{"hasMoreData": false, "deviceList": []}'
PAGE_REASONS = {"bad_page", "bad_json", "empty_page", "missing_cursor", "stuck_cursor"}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# --- strategies: values ----------------------------------------------------------------------

ODD = [
    "\x00",
    "\n",
    "\r",
    "\t",
    '"',
    "\\",
    '\\"',
    "\\n",
    "\u202e",
    "\u200f",
    "\u061c",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\x85",
    "\x1c",
    "\x7f",
    "\U0001f600",
    "\U0001f469\u200d\U0001f467",
    "e\u0301",
    "\u0130",
    "\ufffd",
    "\U0010ffff",
    "{",
    "}",
    "=",
    ",",
    "#",
    " ",
    "le",
    "+Inf",
    "# EOF",
    "\u0663",
    "\u00b2",
]
LONE_SURROGATE = "@@LONE@@"  # replaced by the JSON escape \ud800 after serialising
DEEP_MARK = "@@DEEP{}{}@@"  # replaced by an array or object nested n levels deep
DEEP_RE = re.compile(r'"@@DEEP([ao])(\d+)@@"')


def _maybe(strategy: st.SearchStrategy, typical: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the typical value, sometimes the hostile one."""
    return st.one_of(typical, typical, typical, strategy)


odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.characters(codec="utf-8")), max_size=12).map("".join)
huge_text = st.builds(
    lambda s, n: (s or "x") * (n // max(1, len(s or "x"))),
    st.sampled_from(["x", "\U0001f600", '"\\', "\n", "ab\x00"]),
    st.integers(10_000, 100_000),
)
deep = st.builds(
    lambda kind, n: DEEP_MARK.format(kind, n),
    st.sampled_from("ao"),
    st.one_of(st.integers(1, 40), st.integers(1_500, 4_000)),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 1e308, 2**64, 10**30]),
)
clean_scalars = st.one_of(odd_text, numbers, st.booleans(), st.none())
scalars = st.one_of(clean_scalars, st.just(LONE_SURROGATE))
# anything JSON can hold, but no markers: fine in a field the exporter does not read
clean_hostile = st.one_of(
    clean_scalars,
    st.lists(clean_scalars, max_size=3),
    st.dictionaries(odd_text, clean_scalars, max_size=3),
    st.integers(1, 40).map(lambda n: DEEP_MARK.format("ao"[n % 2], n)),
)
hostile = st.one_of(
    scalars, huge_text, deep, st.lists(scalars, max_size=3), st.dictionaries(odd_text, scalars, max_size=3)
)
good_times = st.sampled_from(
    [
        "2021-09-29 07:43:08.181 +0000 UTC",
        "2021-09-29T07:43:08Z",
        "N/A",
        "",
        "0001-01-01 00:00:00 +0000 UTC",
        "1900-01-01 00:00:00 +0000 UTC",
        "9999-12-31 23:59:59 -2359 UTC",
        "2021-09-29 07:43:08 +0000 UTC m=+1.5",
        "2999-01-01T00:00:00+14:00",
        "2021-02-30T00:00:00Z",
        "2021-09-29 07:43:08.181 +0000",
    ]
)
times = st.one_of(good_times, good_times, hostile)
software_obj = st.fixed_dictionaries(
    {}, optional={"name": _maybe(hostile, odd_text), "version": _maybe(hostile, odd_text), "upgradeTime": hostile}
)
software_list = st.one_of(
    st.lists(software_obj, max_size=3),
    st.lists(software_obj, max_size=3),
    st.lists(st.one_of(software_obj, hostile), max_size=3),
    hostile,
)
device_obj = st.fixed_dictionaries(
    {},
    optional={
        "deviceId": _maybe(hostile, st.integers(10**14, 10**15 - 1).map(str)),
        "make": _maybe(hostile, odd_text),
        "model": _maybe(hostile, odd_text),
        "firmware": _maybe(hostile, odd_text),
        "status": _maybe(hostile, st.sampled_from(["Active", "suspended", "PENDING", "ACT\u0130VE"])),
        "protocol": _maybe(hostile, st.sampled_from(["LWM2M", "HTTP,LWM2M", " , ,", ",", "OMA-DM"])),
        "fotaEligible": _maybe(hostile, st.sampled_from([True, False, "true", " TRUE ", "false"])),
        "licenseAssigned": _maybe(hostile, st.sampled_from([True, False, "true", "yes"])),
        "softwareList": software_list,
        "lastConnectionTime": times,
        "lastConnectTime": times,
        "mdn": hostile,
        "filesList": hostile,
        "extra\u202e": hostile,
    },
)
device_list = st.one_of(
    st.lists(device_obj, max_size=6),
    st.lists(device_obj, max_size=6),
    st.lists(st.one_of(device_obj, hostile), max_size=4),
    hostile,
)  # sometimes not objects
more_values = _maybe(st.one_of(st.sampled_from(["true", "FALSE", "True", "yes", ""]), hostile), st.booleans())


@st.composite
def page_docs(draw: Any, index: int = 0) -> dict:
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        doc["hasMoreData"] = draw(more_values)
    if draw(st.integers(0, 9)):
        doc["deviceList"] = draw(device_list)
    if draw(st.integers(0, 5)):
        # a plausible increasing cursor most of the time, anything at all otherwise
        doc["lastSeenDeviceId"] = draw(
            st.one_of(
                st.just(str(350000000000000 + 1000 * (index + 1))),
                st.just(350000000000000 + 1000 * (index + 1)),
                st.just(float(350000000000000 + 1000 * (index + 1))),
                hostile,
            )
        )
    for key, value in draw(
        st.dictionaries(st.sampled_from(["accountName", "maxPageSize", "x", "\u0000"]), hostile, max_size=2)
    ).items():
        doc[key] = value
    return doc


def serialise(doc: Any, ascii_only: bool) -> bytes:
    """JSON text for `doc`, with the lone-surrogate and deep-nesting markers expanded."""
    body = json.dumps(doc, ensure_ascii=ascii_only).replace(f'"{LONE_SURROGATE}"', '"a\\ud800b"')

    def nest(m: re.Match) -> str:
        n = int(m.group(2))
        return "[" * n + "1" + "]" * n if m.group(1) == "a" else '{"a":' * n + "1" + "}" * n

    return DEEP_RE.sub(nest, body).encode("utf-8")


@st.composite
def bodies(draw: Any) -> list[bytes]:
    """One to three page bodies: mostly JSON pages, sometimes garbage or a page cut short."""
    out = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["page"] * 6 + ["garbage", "truncated", "other_json"]))
        if kind == "garbage":
            out.append(draw(st.binary(max_size=200)))
            continue
        doc = draw(page_docs(i)) if kind != "other_json" else draw(hostile)
        body = serialise(doc, draw(st.booleans()))
        if kind == "truncated" and len(body) > 1:
            body = body[: draw(st.integers(0, len(body) - 1))]
        out.append(body)
    return out


# --- the code under test, with a stub client ------------------------------------------------


class StubClient:
    """`device_page` as the real client has it, minus HTTP: the bodies in order, then FINAL."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.queue = list(bodies)
        self.served: list[bytes] = []
        self.cursors: list[str] = []

    def fetch(self, endpoint: str, path: str, params: dict, deadline: float | None, parse):
        assert endpoint == "devices" and path.endswith("/" + ACCOUNT)
        self.cursors.append(params["lastSeenDeviceId"])
        body = self.queue.pop(0) if self.queue else FINAL
        self.served.append(body)
        return parse(body), time.time()


def run(bodies_: list[bytes]) -> tuple[Any, StubClient, Exporter, ExporterMetrics, list[dict]]:
    stream = io.StringIO()
    logs.configure(level="debug", stream=stream)
    try:
        cfg = load(
            {
                "client_id": "fuzz-client",
                "client_secret": "fuzz-secret-XYZZY-1",
                "username": "fuzz-user",
                "password": "fuzz-password-PLUGH-2",
                "accounts": ACCOUNT,
                "max_concurrency": 1,
                "base_url": "https://ts.test",
                "collectors": "devices",
            }
        )
        client = StubClient(bodies_)
        metrics = ExporterMetrics(process=False)
        collection = Exporter(cfg, metrics, threading.Event(), client=client)  # type: ignore[arg-type]
        result = collection.runner.run_account(ACCOUNT)
    finally:
        logs.configure(level="info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return result, client, collection, metrics, lines


def errors_by_reason(metrics: ExporterMetrics) -> dict[str, float]:
    out = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "thingspace_collection_errors_total" and s.value:  # the exporter zeroes common ones
                assert s.labels["account"] == ACCOUNT
                out[s.labels["reason"]] = s.value
    return out


def read(body: bytes) -> Any:
    """An independent reading of a page body; None when JSON cannot read it."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def says_more(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def parse_both(collection: Exporter) -> tuple[list, list]:
    rendered = collection.store.derived
    text = list(parse_text(rendered.text.decode("utf-8")))
    om = list(parse_openmetrics((rendered.openmetrics + EOF_LINE).decode("utf-8")))
    return text, om


def device_samples(families: list, name: str = "thingspace_devices") -> list:
    return [s for f in families for s in f.samples if s.name == name]


def note_event(text: str) -> None:
    try:
        event(text)
    except InvalidArgument:  # outside a hypothesis test
        pass


def check_invariants(bodies_: list[bytes]) -> tuple[bool, StubClient, Exporter, list[dict]]:
    result, client, collection, metrics, lines = run(bodies_)
    assert type(result) is bool
    note_event(
        "outcome: "
        + (
            "success"
            if result
            else next((ln.get("reason", "?") for ln in lines if ln.get("event") == "collection_finished"), "?")
        )
    )
    assert client.cursors and client.cursors[0] == "0"
    finished = [ln for ln in lines if ln.get("event") == "collection_finished"]
    assert len(finished) == 1, lines
    errors = errors_by_reason(metrics)
    assert not any(ln.get("event") == "collection_crashed" for ln in lines), lines
    if result:
        assert finished[0]["outcome"] == "success" and finished[0]["account"] == ACCOUNT
        assert not any(errors.values()), errors
        # independent reading: every served page is a JSON object whose deviceList is absent,
        # null or a list of objects; more data on every page but the last
        expected = 0
        for i, body in enumerate(client.served):
            doc = read(body)
            assert isinstance(doc, dict), body[:200]
            devices = doc.get("deviceList")
            assert devices is None or (isinstance(devices, list) and all(isinstance(d, dict) for d in devices))
            expected += len(devices or [])
            assert says_more(doc.get("hasMoreData")) is (i < len(client.served) - 1), doc.get("hasMoreData")
        snap = collection.store.get("devices", ACCOUNT)
        assert snap.data.count == expected == finished[0]["devices"]
        assert snap.data.pages == len(client.served)
        text, om = parse_both(collection)
        for families in (text, om):
            samples = device_samples(families)
            assert sum(s.value for s in samples) == expected
            assert all(s.labels["account"] == ACCOUNT for s in samples)
    else:
        reason = finished[0]["reason"]
        assert finished[0]["outcome"] == "failure" and finished[0]["level"] == "error"
        assert reason != "internal_error", lines
        assert reason in PAGE_REASONS, reason
        assert errors == {reason: 1.0}, errors
        assert reason in finished[0]["error"]
        assert ("devices", ACCOUNT) not in collection.store.snapshots
        parse_both(collection)  # the (empty) exposition still parses
    return result, client, collection, lines


# --- properties -------------------------------------------------------------------------------


@settings(FUZZ, max_examples=300)
@given(bodies())
def test_any_page_sequence_is_collected_or_counted_as_one_failure(bodies_):
    check_invariants(bodies_)


def clean_device(firmware: st.SearchStrategy = odd_text) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {
            "deviceId": st.integers(10**14, 10**15 - 1).map(str),
            "make": odd_text,
            "model": odd_text,
            "firmware": firmware,
            "status": clean_scalars,
            "protocol": clean_scalars,
            "fotaEligible": clean_scalars,
            "licenseAssigned": clean_scalars,
            "softwareList": st.lists(
                st.fixed_dictionaries({"name": odd_text, "version": st.one_of(odd_text, numbers)}), max_size=3
            ),
            "lastConnectionTime": st.one_of(good_times, clean_scalars),
            "lastConnectTime": st.one_of(good_times, clean_scalars),
        },
        optional={"mdn": clean_hostile, "unknownField": clean_hostile},
    )


@settings(FUZZ, max_examples=80)
@given(
    st.lists(clean_device(st.one_of(odd_text, odd_text, odd_text, huge_text)), max_size=6),
    st.booleans(),
    st.sampled_from([False, "false", "False"]),
)
def test_well_shaped_page_with_hostile_values_always_succeeds_and_labels_round_trip(devices, ascii_only, more):
    body = serialise({"hasMoreData": more, "lastSeenDeviceId": "0", "deviceList": devices}, ascii_only)
    result, client, collection, _ = check_invariants([body])
    assert result is True  # strings, numbers, bools and nulls in scalar fields never fail a page
    assert len(client.served) == 1
    text, om = parse_both(collection)
    for families in (text, om):
        pairs = {(s.labels["make"], s.labels["model"]) for s in device_samples(families)}
        assert pairs == {(d["make"], d["model"]) for d in devices}
        firmwares = {s.labels["firmware"] for s in device_samples(families)}
        assert firmwares == {d["firmware"] for d in devices}
        software = {
            (s.labels["name"], s.labels["version"]) for s in device_samples(families, "thingspace_device_software")
        }
        assert {n for n, _ in software} == {s["name"] for d in devices for s in d["softwareList"]}


@FUZZ
@given(st.lists(st.lists(clean_device(), min_size=1, max_size=3), min_size=2, max_size=4), st.booleans())
def test_well_formed_multi_page_listing_counts_every_page(pages, ascii_only):
    served = []
    base = 350000000000000
    for i, devices in enumerate(pages):
        last = i == len(pages) - 1
        for j, d in enumerate(devices):
            d["deviceId"] = str(base + 1000 * i + j + 1)
        served.append(
            serialise(
                {
                    "hasMoreData": "false" if last else True,
                    "lastSeenDeviceId": devices[-1]["deviceId"],
                    "deviceList": devices,
                },
                ascii_only,
            )
        )
    result, client, collection, _ = check_invariants(served)
    assert result is True
    assert client.cursors == ["0", *(p[-1]["deviceId"] for p in pages[:-1])]
    assert collection.store.get("devices", ACCOUNT).data.count == sum(map(len, pages))


READ_FIELDS = (
    "make",
    "model",
    "firmware",
    "status",
    "protocol",
    "fotaEligible",
    "licenseAssigned",
    "lastConnectionTime",
    "lastConnectTime",
)


@settings(FUZZ, max_examples=60)
@given(
    st.sampled_from(READ_FIELDS),
    st.one_of(st.lists(clean_scalars, max_size=3), st.dictionaries(odd_text, clean_scalars, max_size=3), deep),
)
def test_a_list_or_object_in_a_read_field_is_a_bad_page(field, value):
    """Not a label value at any depth, whatever the Python version's recursion limits."""
    body = serialise(
        {
            "hasMoreData": False,
            "lastSeenDeviceId": "1",
            "deviceList": [{"deviceId": "1", "make": "m"}, {"deviceId": "2", field: value}],
        },
        False,
    )
    result, _, _, lines = check_invariants([body])
    assert result is False
    assert [ln["reason"] for ln in lines if ln.get("event") == "collection_finished"] == ["bad_page"]


def test_known_hostile_pages_fail_with_their_reason():
    """Pinned cases from the strategies, so the main reasons stay covered whatever is drawn."""
    cases = {
        b"": "bad_json",
        b'{"hasMoreData": false, "deviceList": [{"make": "a\\ud800"}]}': "bad_json",
        # a list or object where a label value belongs: the wrong shape at any depth, on every Python
        b'{"hasMoreData": false, "deviceList": [{"make": ' + b"[" * 3000 + b"]" * 3000 + b"}]}": "bad_page",
        b'{"hasMoreData": false, "deviceList": [{"make": 7, "model": ["BG96"]}]}': "bad_page",
        b'{"hasMoreData": false, "deviceList": [{"firmware": {"v": "1"}}]}': "bad_page",
        b'{"hasMoreData": false, "deviceList": [{"softwareList": [{"name": [[["x"]]]}]}]}': "bad_page",
        b'{"hasMoreData": false, "deviceList": {"a": 1}}': "bad_page",
        b'{"hasMoreData": false, "deviceList": [1, "x"]}': "bad_page",
        b'{"hasMoreData": false, "deviceList": [{"softwareList": "x"}]}': "bad_page",
        b'{"hasMoreData": null, "deviceList": []}': "bad_page",
        b'{"hasMoreData": 1, "deviceList": []}': "bad_page",
        b'{"hasMoreData": true, "deviceList": []}': "empty_page",
        b'{"hasMoreData": true, "deviceList": [{}]}': "missing_cursor",
        b'{"hasMoreData": true, "lastSeenDeviceId": [], "deviceList": [{}]}': "missing_cursor",
        b'{"hasMoreData": true, "lastSeenDeviceId": "0", "deviceList": [{}]}': "stuck_cursor",
        b'{"hasMoreData": true, "lastSeenDeviceId": "", "deviceList": [{}]}': "missing_cursor",
        b"[1, 2]": "bad_page",
    }
    for body, reason in cases.items():
        result, _, _, lines = check_invariants([body])
        assert result is False
        assert [ln["reason"] for ln in lines if ln.get("event") == "collection_finished"] == [reason], body[:80]
