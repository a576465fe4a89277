"""sharding: the shards partition any account list exactly, the same way everywhere."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from thingspace_exporter.collection.sharding import ordinal, owned, share

names = st.lists(st.text(min_size=1, max_size=20), max_size=40, unique=True)


@settings(max_examples=300, deadline=None)
@given(names, st.integers(1, 8))
def test_shards_partition_any_account_list(accounts, count):
    shards = [owned(accounts, i, count) for i in range(count)]
    assert sorted(a for shard in shards for a in shard) == sorted(accounts)  # each exactly once
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    for shard in shards:  # in the order given
        assert shard == [a for a in accounts if a in shard]


@settings(max_examples=100, deadline=None)
@given(names, st.integers(1, 8), st.randoms(use_true_random=False))
def test_the_owner_does_not_depend_on_the_order_of_the_list(accounts, count, rnd):
    shuffled = list(accounts)
    rnd.shuffle(shuffled)
    for i in range(count):
        assert set(owned(accounts, i, count)) == set(owned(shuffled, i, count))


def test_the_same_on_every_run_and_machine():
    """Pinned: SHA-256 of the names, not Python's per-process salted hash(). The expected shards
    were worked out with coreutils: `printf %s NAME | sha256sum`, sorted, dealt to 3 in turn."""
    accounts = [f"0000123456-{n:05d}" for n in range(1, 9)]
    assert [owned(accounts, i, 3) for i in range(3)] == [
        ["0000123456-00003", "0000123456-00004", "0000123456-00006"],
        ["0000123456-00001", "0000123456-00005", "0000123456-00007"],
        ["0000123456-00002", "0000123456-00008"],
    ]


def test_one_shard_owns_everything():
    assert owned(["b", "a"], 0, 1) == ["b", "a"]


def test_statefulset_ordinals():
    assert ordinal("thingspace-exporter-0") == 0
    assert ordinal("thingspace-exporter-12.thingspace-exporter-headless.ns.svc") == 12
    assert ordinal("vm") is None and ordinal("host-") is None and ordinal("a-b") is None


@given(st.integers(0, 100), st.integers(1, 10))
def test_shares_add_up_and_differ_by_one_at_most(total, count):
    parts = [share(total, i, count) for i in range(count)]
    assert sum(parts) == total and max(parts) - min(parts) <= 1
