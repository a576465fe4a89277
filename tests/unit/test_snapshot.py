"""snapshot: whole-snapshot swaps; readers never see a half-updated state."""

import dataclasses
import threading
from types import MappingProxyType

import pytest
from thingspace_exporter.collection.snapshots import Snapshot, SnapshotStore
from thingspace_exporter.collectors.device_aggregation import Aggregator


def data(n):
    a = Aggregator((60.0,))
    a.count = n
    return a.result()


def test_starts_empty_with_derived_state():
    store = SnapshotStore(lambda snaps: sorted(snaps))
    assert dict(store.snapshots) == {} and store.derived == []


def test_publish_replaces_and_derives_together():
    store = SnapshotStore(lambda snaps: {key: s.data.count for key, s in snaps.items()})
    store.publish(Snapshot("a", data(1), 1.0, "devices"))
    store.publish(Snapshot("b", data(2), 1.0, "devices"))
    store.publish(Snapshot("a", data(3), 2.0, "devices"))
    store.publish(Snapshot("a", data(4), 2.0, collector="licenses"))  # another collector, same account
    assert store.derived == {("devices", "a"): 3, ("devices", "b"): 2, ("licenses", "a"): 4}
    assert store.snapshots["devices", "a"].completed_at == 2.0
    assert store.get("licenses", "a").data.count == 4 and store.get("licenses", "b") is None


def test_published_mapping_is_read_only_and_old_views_do_not_change():
    store = SnapshotStore(lambda snaps: None)
    store.publish(Snapshot("a", data(1), 1.0, "devices"))
    old = store.snapshots
    assert isinstance(old, MappingProxyType)
    with pytest.raises(TypeError):
        old["b"] = None  # type: ignore[index]
    store.publish(Snapshot("b", data(2), 1.0, "devices"))
    assert list(old) == [("devices", "a")] and sorted(store.snapshots) == [("devices", "a"), ("devices", "b")]


def test_snapshot_is_immutable():
    snap = Snapshot("a", data(1), 1.0, "devices")
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.account = "b"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.data.count = 5  # type: ignore[misc]


def test_drop():
    store = SnapshotStore(lambda snaps: len(snaps))
    store.publish(Snapshot("a", data(1), 1.0, "devices"))
    store.publish(Snapshot("a", data(1), 1.0, collector="campaigns"))
    assert store.drop("devices", "a") is True and store.derived == 1
    assert store.drop("devices", "a") is False
    assert store.get("campaigns", "a") is not None  # one collector's drop leaves the others


def test_concurrent_publishes_lose_nothing_and_stay_consistent():
    store = SnapshotStore(lambda snaps: frozenset(snaps))

    def publish(prefix):
        for i in range(200):
            store.publish(Snapshot(f"{prefix}{i}", data(i), 1.0, "devices"))

    threads = [threading.Thread(target=publish, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.snapshots) == 800
    assert store.derived == frozenset(store.snapshots)
