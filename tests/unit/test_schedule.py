"""The per-account schedule (collection.schedule), on an explicit clock."""

from __future__ import annotations

from thingspace_exporter.collection.schedule import Schedule


def taken(schedule: Schedule, now: float) -> list[str]:
    out = []
    while (account := schedule.take(now)) is not None:
        out.append(account)
    return out


def test_every_account_is_due_at_the_start_in_the_configured_order():
    s = Schedule(["b", "a", "c"], 60, now=100, took={})
    assert s.take(99) is None
    assert taken(s, 100) == ["b", "a", "c"]
    assert s.next_due() is None and s.round == 1


def test_accounts_due_together_start_longest_running_first():
    assert taken(Schedule(["a", "b", "c"], 60, now=0, took={"c": 9.0, "b": 2.0}), 0) == ["c", "b", "a"]


def test_an_account_is_due_one_interval_after_its_run_started_or_at_once_after_an_overrun():
    s = Schedule(["a", "b"], 60, now=0, took={})
    assert taken(s, 0) == ["a", "b"]
    s.done("a", started=0, finished=5)
    assert s.next_due() == 60
    assert taken(s, 59) == []
    assert taken(s, 60) == ["a"] and s.round == 2
    s.done("b", started=0, finished=75)  # longer than the interval: due at once
    assert taken(s, 75) == ["b"]


def test_a_long_run_holds_back_no_other_account():
    """While `big` runs for 10 intervals, `small` runs every interval."""
    s = Schedule(["big", "small"], 60, now=0, took={})
    assert taken(s, 0) == ["big", "small"]
    for t in range(0, 600, 60):
        if t:
            assert taken(s, t) == ["small"]
        s.done("small", started=t, finished=t + 1)
    assert s.runs == {"big": 1, "small": 10}
    assert s.unfinished == {"big"}


def test_the_first_round_reaches_every_account_before_any_second():
    """One worker, runs longer than the interval: every first run comes before any second one."""
    s = Schedule(["a", "b", "c"], 1, now=0, took={})
    order, t = [], 0.0
    for _ in range(6):
        account = s.take(t)
        assert account is not None
        order.append(account)
        s.done(account, started=t, finished=t + 5)
        t += 5
    assert order[:3] == ["a", "b", "c"] and sorted(order[3:]) == ["a", "b", "c"]
