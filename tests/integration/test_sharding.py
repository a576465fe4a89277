"""Sharding: replicas split the accounts exactly, and together stay within one user's lockout."""

from __future__ import annotations

from thingspace_exporter.app import Exporter
from thingspace_exporter.metrics import ExporterMetrics
from thingspace_exporter.thingspace.login_failures import LoginFailures

from .conftest import CREDS, assert_matches, exposition, settings_for, value

ACCOUNTS = {f"0000123456-{n:05d}": 1200 + 300 * n for n in range(1, 6)}


def replicas(sim, count, **overrides):
    return [
        Exporter(
            settings_for(sim, list(ACCOUNTS), shard_count=count, shard_index=i, **overrides),
            ExporterMetrics(process=False),
        )
        for i in range(count)
    ]


def test_replicas_collect_each_account_exactly_once(sim_factory, log_stream):
    sim = sim_factory(ACCOUNTS)
    shards = replicas(sim, 3)
    try:
        for exp in shards:
            assert exp.collection.run_cycle()
        owned = [sorted(a for c, a in exp.store.snapshots if c == "devices") for exp in shards]
        assert sorted(a for o in owned for a in o) == sorted(ACCOUNTS)
        assert all(owned)  # 5 accounts over 3 shards: 2, 2 and 1
        for i, exp in enumerate(shards):
            text = exposition(exp)
            assert_matches(text, sim, owned[i])
            assert value(text, "thingspace_shard_info", index=str(i), count="3") == 1
            assert value(text, "thingspace_shard_accounts") == len(owned[i])
            assert {a for a in ACCOUNTS if value(text, "thingspace_up", account=a) is not None} == set(owned[i])
            assert exp.transport.limiter.rate == exp.settings.max_requests_per_second / 3
    finally:
        for exp in shards:
            exp.close()


def test_replicas_with_a_wrong_password_never_lock_the_user_whatever_the_restarts(sim_factory, tmp_path, log_stream):
    sim = sim_factory(ACCOUNTS)
    dirs = [tmp_path / f"pod-{i}" for i in range(4)]  # each replica has its own state volume
    for d in dirs:
        d.mkdir()
    for _ in range(8):  # eight rounds of restarting every replica, with time passing in between
        for i in range(4):
            exp = Exporter(
                settings_for(
                    sim,
                    list(ACCOUNTS),
                    shard_count=4,
                    shard_index=i,
                    password="wrong-password-1f2e",
                    state_dir=str(dirs[i]),
                ),
                ExporterMetrics(process=False),
            )
            try:
                assert exp.collection.run_cycle() is False
            finally:
                exp.close()
        for d in dirs:  # the back-off has run out
            store = LoginFailures(str(d), CREDS["username"])
            store.save(store.load()[0], 0.0)
    assert sim.requests["login_failed"] == 4
    assert not sim.locked
    # the password is fixed and the counts reset: every replica logs in again
    for d in dirs:
        LoginFailures(str(d), CREDS["username"]).reset()
    for exp in replicas(sim, 4):
        try:
            assert exp.collection.run_cycle()
        finally:
            exp.close()
