"""exposition: text and OpenMetrics bodies parse back, gzip decompresses to the same text."""

import gzip
import json
import zlib

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as text_parse
from thingspace_exporter.collection.rendering import render
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors.device_aggregation import Aggregator
from thingspace_exporter.collectors.device_pages import decode_page
from thingspace_exporter.collectors.lastconnection import parse_time
from thingspace_exporter.web.exposition import OPENMETRICS as OM_TYPE
from thingspace_exporter.web.exposition import body, gzip_member, negotiate
from ts_builders import device, page

NOW = parse_time("2021-09-29T07:43:08Z")
BUCKETS = (3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)


def snapshot(account, docs, fetched_at=NOW):
    a = Aggregator(BUCKETS)
    a.add(decode_page(json.dumps(page(docs)).encode()).deviceList, fetched_at)
    return Snapshot(account, a.result(), NOW, "devices")


@pytest.fixture
def snaps():
    return {
        ("devices", "0000123456-00001"): snapshot(
            "0000123456-00001",
            [
                device("1", lastConnectionTime="2021-09-29T07:43:08Z"),
                device(
                    "2",
                    status="suspended",
                    protocol="HTTP,LWM2M",
                    lastConnectionTime="2021-09-28T07:43:08Z",
                    softwareList=[{"name": 'App "quoted"\\', "version": "1.0"}],
                ),
                device("3", make='we"ird\nmake', model="m/1", lastConnectionTime="N/A"),
            ],
        ),
        ("devices", "acc two"): snapshot(
            "acc two",
            [device("4", lastConnectTime="2021-09-29 06:43:08 +0000 UTC", lastConnectionTime=None)],
            fetched_at=NOW + 10,
        ),
    }


@pytest.fixture
def live(metrics):
    metrics.up.labels("0000123456-00001").set(1)
    metrics.requests.labels("devices").inc(3)
    metrics.latency.labels("devices").observe(0.2)
    return metrics.registry


def by_name(fams):
    return {f.name: f for f in fams}


def values(fam, suffix=""):
    return {tuple(sorted(s.labels.items())): s.value for s in fam.samples if s.name == fam.name + suffix}


def check_device_families(fams):
    devices = values(fams["thingspace_devices"])
    assert sum(devices.values()) == 4
    weird = [dict(k) for k in devices if dict(k)["make"] == 'we"ird\nmake']
    assert weird and weird[0]["model"] == "m/1"
    protos = {
        dict(k)["protocol"]: v
        for k, v in values(fams["thingspace_devices_by_protocol"]).items()
        if dict(k)["account"] == "0000123456-00001"
    }
    assert protos == {"LWM2M": 3, "HTTP": 1}
    sw = values(fams["thingspace_device_software"])
    assert [dict(k)["name"] for k in sw] == ['App "quoted"\\']
    hist = fams["thingspace_device_last_connection_age_seconds"]
    buckets = {
        (dict(k)["account"], dict(k)["le"]): v
        for k, v in values(hist, "_bucket").items()
        if dict(k)["model"] == "NRF9160" and dict(k)["make"] == "NORDIC SEMICONDUCTOR ASA"
    }
    assert buckets[("0000123456-00001", "3600.0")] == 1
    assert buckets[("0000123456-00001", "86400.0")] == 2  # exactly one day old: inclusive
    assert buckets[("0000123456-00001", "+Inf")] == 2
    assert buckets[("acc two", "3600.0")] == 0 and buckets[("acc two", "21600.0")] == 1
    # OpenMetrics keeps _gcount in the gauge histogram; the text format renders it as its own gauge
    name = "thingspace_device_last_connection_age_seconds_gcount"
    gcount = {
        s.labels["account"]: s.value
        for f in fams.values()
        for s in f.samples
        if s.name == name and s.labels["model"] == "NRF9160"
    }
    assert gcount == {"0000123456-00001": 2, "acc two": 1}
    unknown = values(fams["thingspace_devices_last_connection_unknown"])
    assert list(unknown.values()) == [1]


def test_text_format_parses_back(snaps, live):
    data, headers = body(render(snaps), live)
    assert dict(headers)["Content-Type"].startswith("text/plain")
    fams = by_name(text_parse(data.decode()))
    check_device_families(fams)
    assert values(fams["thingspace_up"]) == {(("account", "0000123456-00001"),): 1}
    assert "thingspace_exporter_build" in fams or "thingspace_exporter_build_info" in fams
    assert all("background" in fams[n].documentation for n in fams if n.startswith("thingspace_devices"))


def test_openmetrics_parses_back_with_one_eof(snaps, live):
    data, headers = body(render(snaps), live, accept="application/openmetrics-text; version=1.0.0; q=0.9, */*")
    assert dict(headers)["Content-Type"].startswith("application/openmetrics-text")
    text = data.decode()
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    fams = by_name(om_parse(text))
    check_device_families(fams)
    assert fams["thingspace_device_last_connection_age_seconds"].type == "gaugehistogram"
    assert fams["thingspace_api_requests"].type == "counter"
    assert fams["thingspace_exporter_build"].type == "info"


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text"])
def test_gzip_bodies_decompress_to_the_same_text(snaps, live, accept):
    rendered = render(snaps)
    plain, plain_headers = body(rendered, live, accept, "")
    zipped, headers = body(rendered, live, accept, "deflate, gzip;q=1.0, br")
    assert ("Content-Encoding", "gzip") in headers and ("Content-Encoding", "gzip") not in plain_headers
    assert gzip.decompress(zipped) == plain


def test_empty_store_still_parses(live):
    data, _ = body(render({}), live)
    fams = by_name(text_parse(data.decode()))
    assert fams["thingspace_devices"].samples == []
    om, _ = body(render({}), live, "application/openmetrics-text")
    assert "thingspace_up" in by_name(om_parse(om.decode()))


def test_rendered_text_is_cached_and_live_part_is_fresh(snaps, metrics):
    rendered = render(snaps)
    first, _ = body(rendered, metrics.registry)
    metrics.up.labels("x").set(1)
    second, _ = body(rendered, metrics.registry)
    assert first != second and second.startswith(rendered.text)


T004, T100, OM = "text/plain; version=0.0.4; charset=utf-8", "text/plain; version=1.0.0; charset=utf-8", OM_TYPE


@pytest.mark.parametrize(
    "accept,encoding,expected",
    [
        ("", "", (False, T004, False)),
        ("text/plain", "gzip", (False, T004, True)),
        ("text/plain;version=0.0.4", "", (False, T004, False)),
        ("text/plain;version=1.0.0", "", (False, T100 + "; escaping=underscores", False)),
        ("text/plain; version=1.0.0; escaping=allow-utf-8", "", (False, T100 + "; escaping=allow-utf-8", False)),
        ("application/openmetrics-text;version=1.0.0,text/plain;q=0.5", "br, gzip", (True, OM, True)),
        ("application/openmetrics-text; version=0.0.1", "identity", (True, OM, False)),
        ("text/html", "gzipper", (False, T004, False)),
        ("*/*", "GZIP", (False, T004, True)),
    ],
)
def test_negotiate_answers_0_0_4_text_unless_more_is_asked_for(accept, encoding, expected):
    assert negotiate(accept, encoding) == expected


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text"])
def test_gzip_body_is_one_member_with_the_whole_exposition(snaps, metrics, accept):
    rendered = render(snaps)
    plain, _ = body(rendered, metrics.registry, accept)
    packed, headers = body(rendered, metrics.registry, accept, "gzip")
    assert ("Content-Encoding", "gzip") in headers
    one = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert one.decompress(packed) == plain and one.eof and one.unused_data == b""  # a single member
    assert gzip.decompress(packed) == plain


def test_renderer_reuses_unchanged_accounts_and_matches_a_full_render(snaps, monkeypatch):
    import thingspace_exporter.collection.rendering as rendering
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.openmetrics import exposition as om
    from thingspace_exporter.collectors import devices

    calls = []

    def counted(snapshots):
        calls.extend(s.account for s in snapshots)
        return devices.DevicesCollector.families(snapshots)

    renderer = rendering.Renderer({"devices": counted})
    first, second = sorted(snaps)
    renderer({first: snaps[first]})
    renderer(dict(snaps))
    changed = {**snaps, first: snapshot(first[1], [device("9", lastConnectionTime="2021-09-29T07:00:00Z")])}
    rendered = renderer(changed)
    assert calls == [first[1], second[1], first[1]]  # each snapshot rendered once

    class All:
        def collect(self):
            return devices.DevicesCollector.families([changed[k] for k in sorted(changed, key=lambda k: k[1])])

    registry = CollectorRegistry(auto_describe=False)
    registry.register(All())
    by_family = lambda text: sorted(text_parse(text), key=lambda f: f.name)  # noqa: E731
    assert by_family(rendered.text.decode()) == by_family(generate_latest(registry).decode())
    full_om = om.generate_latest(registry).decode()
    assert list(om_parse(rendered.openmetrics.decode() + "# EOF\n")) == list(om_parse(full_om))
    assert gzip.decompress(gzip_member(rendered.text, rendered.text_gz, b"")) == rendered.text
    assert gzip.decompress(gzip_member(rendered.openmetrics, rendered.openmetrics_gz, b"")) == rendered.openmetrics
    helps = [line for line in rendered.text.decode().splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps))  # one header per family, whatever the number of accounts


def test_each_collector_is_rendered_from_its_own_snapshots_and_only_enabled_ones(snaps):
    from thingspace_exporter.collection.rendering import Renderer
    from thingspace_exporter.collection.snapshots import Snapshot
    from thingspace_exporter.collectors.licenses import LicenseData

    both = {**snaps, ("licenses", "acc two"): Snapshot("acc two", LicenseData(100, 42), NOW, "licenses")}
    text = Renderer()(both).text.decode()
    assert 'thingspace_licenses{account="acc two"} 100.0' in text
    assert 'thingspace_licenses_used{account="acc two"} 42.0' in text
    assert "# HELP thingspace_campaigns " in text  # an enabled collector without data still has its headers
    only_devices = Renderer({"devices": Renderer().families["devices"]})(both).text.decode()
    assert "thingspace_licenses" not in only_devices and "thingspace_devices{" in only_devices


def test_text_only_renderer_gives_the_same_text_and_nothing_else(snaps):
    from thingspace_exporter.collection.rendering import Renderer

    full, text_only = Renderer()(snaps), Renderer(text_only=True)(snaps)
    assert text_only.text == full.text
    assert (text_only.text_gz, text_only.openmetrics, text_only.openmetrics_gz) == (b"", b"", b"")


def test_the_exposition_is_the_accounts_pieces_themselves_not_copies(snaps):
    """What a renderer keeps per account is its share of the published exposition, once: the
    published pieces are the very objects kept per account, and samples that read alike in both
    formats are one object."""
    from thingspace_exporter.collection.rendering import Renderer

    renderer = Renderer()
    for snap in snaps.values():
        renderer.prepare(snap)
    rendered = renderer(dict(snaps))
    kept = [
        part
        for _, (text, openmetrics) in renderer._cache.values()
        for blocks in (text, openmetrics)
        for _, samples, gzipped in blocks.values()
        for part in (samples, gzipped)
        if part
    ]
    published = {
        id(p)
        for form in ("text", "text_gz", "openmetrics", "openmetrics_gz")
        for p in getattr(rendered, f"{form}_parts")
    }
    assert kept and all(id(p) in published for p in kept)
    shared = [
        name
        for _, (text, openmetrics) in renderer._cache.values()
        for name in text
        if name in openmetrics and text[name][1] and text[name][1] is openmetrics[name][1]
    ]
    assert shared  # the gauges
    assert renderer(dict(snaps)).text == rendered.text  # and they render the same again


def test_a_store_derives_once_per_change_when_read():
    from thingspace_exporter.collection.snapshots import Snapshot, SnapshotStore
    from thingspace_exporter.collectors.licenses import LicenseData

    derived, prepared = [], []
    store = SnapshotStore(lambda s: derived.append(len(s)) or len(s), prepared.append)
    for i in range(50):
        store.publish(Snapshot(f"a{i}", LicenseData(i, 0), NOW, "licenses"))
    assert len(prepared) == 50 and derived == [0]  # the empty state's, at construction
    assert store.derived == 50 and store.derived == 50 and derived == [0, 50]


def test_live_metrics_render_a_family_at_a_time_to_what_the_registry_renders_at_once(metrics):
    import tracemalloc

    from prometheus_client import generate_latest
    from prometheus_client.openmetrics import exposition as om
    from thingspace_exporter.web.exposition import live_parts

    for i in range(500):
        account = f"0000123456-{i:05d}"
        metrics.up.labels(account).set(1)
        for reason in range(15):
            metrics.errors.labels(account, f"reason{reason}")
        for collector in ("devices", "firmware", "licenses", "campaigns"):
            for reason in range(4):
                metrics.collector_errors.labels(account, collector, f"reason{reason}").inc()

    def peak(render):
        tracemalloc.start()
        try:
            render()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    registry = metrics.registry
    assert b"".join(live_parts(registry)) == generate_latest(registry)
    assert b"".join(live_parts(registry, openmetrics=True)) == om.generate_latest(registry)
    # every line of every family alive at once, then the joined text and its bytes: well above
    # the pieces and one family's lines
    assert peak(lambda: live_parts(registry)) < 0.8 * peak(lambda: generate_latest(registry))


def test_accounts_renderings_share_one_copy_of_each_familys_name_and_header(snaps):
    from thingspace_exporter.collection.rendering import Renderer

    renderer = Renderer()
    for snap in snaps.values():
        renderer.prepare(snap)
    (_, first), (_, second) = renderer._cache.values()
    for a, b in zip(first, second, strict=True):  # text, then OpenMetrics
        names = {id(name) for name in a} & {id(name) for name in b}
        assert names and len(names) == len(a.keys() & b.keys())
        assert all(a[name][0] is b[name][0] for name in a.keys() & b.keys())
