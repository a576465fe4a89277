"""collectors.firmware: upgrade paths, and the devices each applies to from the listing's counts."""

from __future__ import annotations

import pytest
from api_fixtures import FOTA, calls
from hypothesis import given
from hypothesis import strategies as st
from thingspace_exporter.collection.snapshots import Snapshot
from thingspace_exporter.collectors import Tools
from thingspace_exporter.collectors.device_aggregation import AccountData
from thingspace_exporter.collectors.firmware import FirmwareCollector, upgradable
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import ACCOUNT

PATHS = [
    {
        "firmwareName": "fw-2",
        "firmwareFrom": "fw-1",
        "firmwareTo": "fw-2",
        "launchDate": "2026-10-01",
        "releaseNote": "",
        "model": "NRF9160",
        "make": "NORDIC SEMICONDUCTOR ASA",
        "protocol": "LWM2M",
    },
    {
        "firmwareName": "fw-2",
        "firmwareFrom": "fw-0",
        "firmwareTo": "fw-2",
        "model": "NRF9160",
        "make": "NORDIC SEMICONDUCTOR ASA",
        "protocol": "LWM2M",
    },
    {
        "firmwareName": "BG96_R2",
        "firmwareFrom": "BG96_R1",
        "firmwareTo": "BG96_R2",
        "model": "BG96",
        "make": "QUECTEL",
        "protocol": "LWM2M",
    },
]
N = "NORDIC SEMICONDUCTOR ASA"


def devices(counts: dict) -> AccountData:
    return AccountData(devices=counts, protocols={}, software={}, ages={}, unknown={}, buckets=(), count=0)


def test_paths_and_the_devices_they_apply_to(rsps, client, settings_factory, log, stop):
    rsps.get(f"{FOTA}/firmware/{ACCOUNT}", json=PATHS)
    listing = devices(
        {
            (N, "NRF9160", "fw-1", "active", "true", "true"): 7,
            (N, "NRF9160", "fw-1", "suspended", "false", "true"): 2,
            (N, "NRF9160", "fw-2", "active", "true", "true"): 40,  # already on the newest
            ("QUECTEL", "BG96", "BG96_R1", "active", "true", "false"): 3,
            ("QUECTEL", "BG96-NA", "BG96_R1", "active", "true", "false"): 5,  # another model: no path
        }
    )
    data = FirmwareCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(
        ACCOUNT, 1e18, {"devices": listing}
    )
    assert data.paths == (
        (N, "NRF9160", "fw-0", "fw-2"),
        (N, "NRF9160", "fw-1", "fw-2"),
        ("QUECTEL", "BG96", "BG96_R1", "BG96_R2"),
    )
    assert data.upgradable == {(N, "NRF9160", "fw-1"): 9, ("QUECTEL", "BG96", "BG96_R1"): 3}
    request = rsps.calls[-1].request
    assert request.url.endswith("?protocol=LWM2M") and request.headers["VZ-M2M-Token"] == "sess-1"
    fams = {f.name: f for f in FirmwareCollector.families([Snapshot(ACCOUNT, data, 1.0, "firmware")])}
    assert [(s.labels, s.value) for s in fams["thingspace_devices_upgradable"].samples][0] == (
        {"account": ACCOUNT, "make": N, "model": "NRF9160", "firmware": "fw-1"},
        9,
    )
    assert len(fams["thingspace_firmware_upgrade_info"].samples) == 3


def test_accounts_paths_share_one_copy_of_each_make_model_and_firmware(rsps, client, settings_factory, log, stop):
    collector = FirmwareCollector(Tools(client, settings_factory(), stop, log, client.metrics))
    found = []
    for account in ("0000123456-00001", "0000123456-00002"):
        rsps.get(f"{FOTA}/firmware/{account}", json=PATHS)
        found.append(collector.collect(account, 1e18, {}).paths)
    first, second = found
    assert first == second and all(
        a is b for x, y in zip(first, second, strict=True) for a, b in zip(x, y, strict=True)
    )


def test_without_a_listing_the_paths_alone(rsps, client, settings_factory, log, stop):
    rsps.get(f"{FOTA}/firmware/{ACCOUNT}", body=b"null")  # no paths at all
    data = FirmwareCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(ACCOUNT, 1e18, {})
    assert data.paths == () and data.upgradable is None


@pytest.mark.parametrize("body", [b'{"a": 1}', b'[{"make": ["x"]}]', b"[1]"])
def test_a_response_of_the_wrong_shape_is_a_bad_page(rsps, client, settings_factory, log, stop, body):
    rsps.get(f"{FOTA}/firmware/{ACCOUNT}", body=body)
    with pytest.raises(ApiError) as e:
        FirmwareCollector(Tools(client, settings_factory(), stop, log, client.metrics)).collect(ACCOUNT, 1e18, {})
    assert e.value.reason == "bad_page" and e.value.endpoint == "firmware"
    assert calls(rsps, f"/firmware/{ACCOUNT}") == 1


keys = st.tuples(
    st.sampled_from("AB"),
    st.sampled_from("XY"),
    st.sampled_from(["1", "2", "3"]),
    st.sampled_from(["active", "pending"]),
    st.sampled_from(["true", "false"]),
    st.just("true"),
)


@given(
    st.dictionaries(keys, st.integers(1, 50)),
    st.sets(st.tuples(st.sampled_from("AB"), st.sampled_from("XY"), st.sampled_from(["1", "2", "3"]), st.just("9"))),
)
def test_upgradable_counts_equal_a_device_by_device_count(counts, paths):
    starts = {(make, model, start) for make, model, start, _ in paths}
    by_device = {}
    for key, n in counts.items():
        for _ in range(n):  # one by one, as if each device were looked at
            if key[:3] in starts:
                by_device[key[:3]] = by_device.get(key[:3], 0) + 1
    assert upgradable(counts, sorted(paths)) == by_device
