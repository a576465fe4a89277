"""collectors.devices: metric families from snapshots, labels as the public contract names them."""

import json

from prometheus_client import CollectorRegistry
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors import devices as devices_collector
from thingspace_exporter.collectors.device_aggregation import Aggregator
from thingspace_exporter.collectors.device_pages import decode_page
from thingspace_exporter.collectors.lastconnection import parse_time
from ts_builders import device, page

NOW = parse_time("2021-09-29 07:43:08 +0000 UTC")
BUCKETS = (3600.0, 86400.0)


def snapshot(account, *docs, fetched_at=NOW):
    a = Aggregator(BUCKETS)
    a.add(decode_page(json.dumps(page(list(docs))).encode()).deviceList, fetched_at)
    return Snapshot(account, a.result(), 123.0, "devices")


def families(snaps):
    return {m.name: m for m in devices_collector.families([snaps[a] for a in sorted(snaps)])}


def test_family_names_types_and_help():
    fams = families({})
    assert {n: f.type for n, f in fams.items()} == {
        "thingspace_devices": "gauge",
        "thingspace_devices_by_protocol": "gauge",
        "thingspace_device_software": "gauge",
        "thingspace_devices_last_connection_unknown": "gauge",
        "thingspace_device_last_connection_age_seconds": "gaugehistogram",
        "thingspace_device_last_connection_timestamp_seconds": "gauge",
    }
    assert all("background" in f.documentation for f in fams.values())
    assert all(f.samples == [] for f in fams.values())


def test_samples_for_two_accounts():
    snaps = {
        "acc-b": snapshot(
            "acc-b",
            device(
                "1",
                status="Suspended",
                fotaEligible=None,
                protocol="HTTP,LWM2M",
                softwareList=[{"name": "App", "version": "1"}],
            ),
        ),
        "acc-a": snapshot("acc-a", device("2"), device("3", lastConnectionTime="N/A")),
    }
    fams = families(snaps)
    devices = {tuple(sorted(s.labels.items())): s.value for s in fams["thingspace_devices"].samples}
    assert devices == {
        tuple(
            sorted(
                dict(
                    account="acc-a",
                    make="NORDIC SEMICONDUCTOR ASA",
                    model="NRF9160",
                    firmware="fw-1",
                    status="active",
                    fota_eligible="true",
                    license_assigned="true",
                ).items()
            )
        ): 2,
        tuple(
            sorted(
                dict(
                    account="acc-b",
                    make="NORDIC SEMICONDUCTOR ASA",
                    model="NRF9160",
                    firmware="fw-1",
                    status="suspended",
                    fota_eligible="false",
                    license_assigned="true",
                ).items()
            )
        ): 1,
    }
    # accounts in sorted order
    assert [s.labels["account"] for s in fams["thingspace_devices"].samples] == ["acc-a", "acc-b"]
    protos = {
        (s.labels["account"], s.labels["protocol"]): s.value for s in fams["thingspace_devices_by_protocol"].samples
    }
    assert protos == {("acc-a", "LWM2M"): 2, ("acc-b", "HTTP"): 1, ("acc-b", "LWM2M"): 1}
    sw = [(s.labels, s.value) for s in fams["thingspace_device_software"].samples]
    assert sw == [({"account": "acc-b", "name": "App", "version": "1"}, 1)]
    unknown = [(s.labels, s.value) for s in fams["thingspace_devices_last_connection_unknown"].samples]
    assert unknown == [({"account": "acc-a", "make": "NORDIC SEMICONDUCTOR ASA", "model": "NRF9160"}, 1)]


def test_gauge_histogram_samples():
    snaps = {
        "a": snapshot(
            "a", device("1", make="M", model="X", lastConnectionTime="2021-09-29T07:43:08Z"), fetched_at=NOW + 7200
        )
    }
    samples = families(snaps)["thingspace_device_last_connection_age_seconds"].samples
    buckets = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")}
    assert buckets == {"3600.0": 0, "86400.0": 1, "+Inf": 1}
    assert [s.value for s in samples if s.name.endswith("_gcount")] == [1]
    assert [s.value for s in samples if s.name.endswith("_gsum")] == [7200.0]
    assert all(s.labels["account"] == "a" and s.labels["make"] == "M" for s in samples)


def test_families_render_through_a_registry():
    class One:
        def collect(self):
            return devices_collector.families([snapshot("a", device("1"))])

    reg = CollectorRegistry(auto_describe=False)
    reg.register(One())
    assert (
        reg.get_sample_value(
            "thingspace_devices",
            {
                "account": "a",
                "make": "NORDIC SEMICONDUCTOR ASA",
                "model": "NRF9160",
                "firmware": "fw-1",
                "status": "active",
                "fota_eligible": "true",
                "license_assigned": "true",
            },
        )
        == 1
    )


def test_the_stalest_devices_are_listed_with_their_last_connection():
    a = Aggregator(BUCKETS, stalest=2)
    a.add(
        decode_page(
            json.dumps(
                page(
                    [
                        device("1", lastConnectionTime="2021-09-29 06:43:08 +0000 UTC"),
                        device("2", lastConnectionTime="2021-09-20 07:43:08 +0000 UTC", make="M", model="X"),
                        device("3", lastConnectionTime="N/A"),
                        device("4", lastConnectionTime="2021-09-28 07:43:08 +0000 UTC"),
                    ]
                )
            ).encode()
        ).deviceList,
        NOW,
    )
    fams = families({"a": Snapshot("a", a.result(), 123.0, "devices")})
    samples = [(s.labels, s.value) for s in fams["thingspace_device_last_connection_timestamp_seconds"].samples]
    assert samples == [
        ({"account": "a", "device_id": "2", "make": "M", "model": "X"}, NOW - 9 * 86400),
        ({"account": "a", "device_id": "4", "make": "NORDIC SEMICONDUCTOR ASA", "model": "NRF9160"}, NOW - 86400),
    ]
