"""decode: page shape validated, scalars of any type kept for later normalisation."""

import json

import pytest
from thingspace_exporter.collectors.device_pages import decode_page
from thingspace_exporter.thingspace.errors import ApiError
from ts_builders import device, page


def enc(doc) -> bytes:
    return json.dumps(doc).encode()


def test_reference_page_decodes():
    p = decode_page(enc(page([device("015000000000001")], more=True)))
    assert p.hasMoreData is True and p.lastSeenDeviceId == "015000000000001"
    d = p.deviceList[0]
    assert d.deviceId == "015000000000001"  # leading zero kept: a string stays a string
    assert (d.make, d.model, d.status, d.protocol) == ("NORDIC SEMICONDUCTOR ASA", "NRF9160", "Active", "LWM2M")


def test_unknown_fields_are_ignored():
    doc = page([device(extra={"a": [1, 2]}, newField=3)], newTopLevel={"x": 1})
    assert decode_page(enc(doc)).deviceList[0].make == "NORDIC SEMICONDUCTOR ASA"


def test_null_and_absent_device_list():
    assert decode_page(enc({"hasMoreData": False, "deviceList": None})).deviceList is None
    assert decode_page(enc({"hasMoreData": False})).deviceList is None


def test_numbers_where_strings_belong_are_kept():
    d = decode_page(enc(page([device(350000000000001, make=12, model=3.5, firmware=7, status=1)]))).deviceList[0]
    assert (d.deviceId, d.make, d.model, d.firmware, d.status) == (350000000000001, 12, 3.5, 7, 1)


def test_numeric_cursor_is_kept():
    assert (
        decode_page(enc({"hasMoreData": True, "lastSeenDeviceId": 350000000000001, "deviceList": []})).lastSeenDeviceId
        == 350000000000001
    )


def test_both_last_connection_spellings():
    d = decode_page(enc(page([device(lastConnectionTime=None, lastConnectTime="2021-01-01T00:00:00Z")]))).deviceList[0]
    assert d.lastConnectionTime is None and d.lastConnectTime == "2021-01-01T00:00:00Z"


def test_software_list_items():
    d = decode_page(enc(page([device(softwareList=[{"name": "App", "version": "1", "upgradeTime": "x"}])]))).deviceList[
        0
    ]
    assert (d.softwareList[0].name, d.softwareList[0].version) == ("App", "1")
    assert decode_page(enc(page([device(softwareList=None)]))).deviceList[0].softwareList is None


@pytest.mark.parametrize(
    "doc",
    [
        {"hasMoreData": False, "deviceList": {"not": "a list"}},
        {"hasMoreData": False, "deviceList": [1, 2]},
        {"hasMoreData": False, "deviceList": [{"softwareList": "nope"}]},
        [1, 2, 3],
    ],
)
def test_bad_shapes_are_bad_page(doc):
    with pytest.raises(ApiError) as e:
        decode_page(enc(doc))
    assert e.value.reason == "bad_page" and e.value.endpoint == "devices"


@pytest.mark.parametrize("body", [b"<html>503</html>", b"", b'{"hasMoreData": tru'])
def test_non_json_is_bad_json(body):
    with pytest.raises(ApiError) as e:
        decode_page(body)
    assert e.value.reason == "bad_json"


def test_deeply_nested_body_fails_cleanly():
    with pytest.raises(ApiError) as e:
        decode_page(b'{"deviceList": ' + b"[" * 100000)
    assert e.value.reason in ("bad_json", "bad_page")
