"""state: atomic JSON files, and the rejected-login count that reads as nothing when unusable."""

from __future__ import annotations

import json

import pytest
from thingspace_exporter.statefile import read, write
from thingspace_exporter.thingspace.login_failures import LoginFailures


def test_write_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "s.json"
    write(path, {"a": 1})
    write(path, {"b": [2]})
    assert read(path, "test") == {"b": [2]}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "s.json"
    write(path, {"a": 1})
    with pytest.raises(TypeError):
        write(path, {"a": object()})
    assert read(path, "test") == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_login_failures_round_trip_and_reset(tmp_path):
    store = LoginFailures(str(tmp_path), "m2m-user")
    assert store.load() == (0, 0.0)
    store.save(3, 1_800_000_000.5)
    assert LoginFailures(str(tmp_path), "m2m-user").load() == (3, 1_800_000_000.5)
    assert LoginFailures(str(tmp_path), "another-user").load() == (0, 0.0)  # keyed by user name
    assert store.reset() is True and store.reset() is False
    assert store.load() == (0, 0.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        "null",
        '{"username": "u", "failures": "3", "retry_at": 1}',
        '{"username": "u", "failures": -1, "retry_at": 1}',
        '{"username": "u", "failures": true, "retry_at": 1}',
        '{"username": "u", "failures": 2, "retry_at": "soon"}',
        '{"username": "other", "failures": 2, "retry_at": 1}',
    ],
)
def test_an_unusable_file_reads_as_no_failures(tmp_path, text):
    store = LoginFailures(str(tmp_path), "u")
    store.path.write_text(text)
    assert store.load() == (0, 0.0)


def test_the_file_names_the_user_but_holds_no_secret(tmp_path):
    store = LoginFailures(str(tmp_path), "m2m-user")
    store.save(1, 5.0)
    assert json.loads(store.path.read_text()) == {"username": "m2m-user", "failures": 1, "retry_at": 5.0}
    assert "m2m-user" not in store.path.name


def test_boundaries_round_trip_per_account_and_protocol(tmp_path):
    from thingspace_exporter.collectors.device_boundaries import Boundaries, Listing

    listing = Listing(("350000000001000", "350000000002000"), 3, 0.25, True)
    Boundaries(str(tmp_path), "acc", "LWM2M").save(listing)
    assert Boundaries(str(tmp_path), "acc", "LWM2M").load() == listing
    assert Boundaries(str(tmp_path), "acc", "HTTP").load() is None  # another listing altogether
    assert Boundaries(str(tmp_path), "other", "LWM2M").load() is None


@pytest.mark.parametrize(
    "doc",
    [
        "{",
        "[]",
        '{"account": "acc", "protocol": "LWM2M"}',
        '{"account": "acc", "protocol": "LWM2M", "bounds": [1], "pages": 1, "page_seconds": 0.1, "complete": true}',
        '{"account": "acc", "protocol": "LWM2M", "bounds": [""], "pages": 1, "page_seconds": 0.1, "complete": true}',
        '{"account": "acc", "protocol": "LWM2M", "bounds": [], "pages": -1, "page_seconds": 0.1, "complete": true}',
        '{"account": "acc", "protocol": "LWM2M", "bounds": [], "pages": 1, "page_seconds": "x", "complete": true}',
        '{"account": "acc", "protocol": "LWM2M", "bounds": [], "pages": 1, "page_seconds": 0.1, "complete": 1}',
    ],
)
def test_unusable_boundaries_read_as_none(tmp_path, doc):
    from thingspace_exporter.collectors.device_boundaries import Boundaries

    store = Boundaries(str(tmp_path), "acc", "LWM2M")
    store.path.write_text(doc)
    assert store.load() is None


@pytest.mark.parametrize("content", [b'{"account": "acc", "bou', b"\x9c\xff\x00random", b"[1, 2]"])
def test_a_corrupt_file_is_said_once_by_kind_and_account_then_replaced(tmp_path, content):
    from structlog.testing import capture_logs
    from thingspace_exporter.collectors.device_boundaries import Boundaries, Listing

    store = Boundaries(str(tmp_path), "acc", "LWM2M")
    store.path.write_bytes(content)
    with capture_logs() as logs:
        assert store.load() is None and store.load() is None
    assert [(e["log_level"], e["event"], e["state"], e["account"]) for e in logs] == [
        ("warning", "state_lost", "device-list boundaries", "acc")
    ]
    assert str(tmp_path) not in repr(logs)
    listing = Listing(("350000000001000",), 2, 0.1, True)
    store.save(listing)
    assert store.load() == listing


def test_a_login_failures_file_that_is_not_json_is_said(tmp_path):
    from structlog.testing import capture_logs

    store = LoginFailures(str(tmp_path), "m2m-user")
    store.path.write_text("not json at all")
    with capture_logs() as logs:
        assert store.load() == (0, 0.0)
    assert [(e["event"], e["state"]) for e in logs] == [("state_lost", "rejected logins")]
    assert "m2m-user" not in repr(logs) and str(tmp_path) not in repr(logs)


def test_a_state_dir_that_stops_being_writable_logs_an_error_once_and_goes_on(tmp_path):
    from structlog.testing import capture_logs
    from thingspace_exporter.collectors.device_boundaries import Boundaries, Listing

    state = tmp_path / "state"
    state.mkdir()
    store = Boundaries(str(state), "acc", "LWM2M")
    listing = Listing(("350000000001000",), 2, 0.1, True)
    state.rmdir()  # as unwritable as it gets, for root too
    with capture_logs() as logs:
        store.save(listing)
        store.save(listing)
        LoginFailures(str(state), "m2m-user").save(2, 1.0)
    assert [(e["log_level"], e["event"], e["state"], e["account"]) for e in logs] == [
        ("error", "state_not_saved", "device-list boundaries", "acc"),
        ("error", "state_not_saved", "rejected logins", None),
    ]
    state.mkdir()
    with capture_logs() as logs:
        store.save(listing)  # writable again: saved, and a later failure is said again
    assert logs == [] and store.load() == listing
