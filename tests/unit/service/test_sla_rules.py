"""SLA rules without a database: targets per priority, due times, which targets a conversation has missed,
and the CSAT score a bare reply gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from omnihub.service import sla_rules
from omnihub.service.csat import score_in

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OPEN = sla_rules.Clocked(status="open", priority="normal", created_at=T0, started_at=T0, first_response_at=None,
                         resolved_at=None, first_response_breached_at=None, resolution_breached_at=None)
POLICY = sla_rules.Policy(10, 60)


def test_policies_default_by_priority_and_stored_ones_win() -> None:
    assert sla_rules.policy_for("urgent", {}) == sla_rules.Policy(30, 240, 30)
    assert sla_rules.policy_for("unknown", {}) == sla_rules.Policy(240, 1440, 240)
    assert sla_rules.policy_for("high", {"high": POLICY}) == POLICY
    assert sla_rules.check_policy(10, 60) is None
    assert sla_rules.check_policy(61, 60) and sla_rules.check_policy(0, 60)


def test_due_times_and_the_next_check() -> None:
    due = sla_rules.due(OPEN, POLICY)
    assert due.first_response_due_at == T0 + timedelta(minutes=10)
    assert due.resolution_due_at == T0 + timedelta(minutes=60)
    assert due.check_at == due.first_response_due_at
    answered = sla_rules.due(replace(OPEN, first_response_at=T0 + timedelta(minutes=4)), POLICY)
    assert answered.first_response_seconds == 240 and answered.check_at == T0 + timedelta(minutes=60)
    reopened = sla_rules.due(replace(OPEN, started_at=T0 + timedelta(hours=5)), POLICY)
    assert reopened.resolution_due_at == T0 + timedelta(hours=6)
    assert reopened.first_response_due_at == T0 + timedelta(minutes=10)  # measured from the opening
    done = sla_rules.due(replace(OPEN, status="resolved", resolved_at=T0 + timedelta(minutes=50)), POLICY)
    assert done.resolution_seconds == 3000 and done.check_at is None


def test_breaches_are_reported_once() -> None:
    due = sla_rules.due(OPEN, POLICY)
    assert sla_rules.breaches(OPEN, due, T0 + timedelta(minutes=9)) == []
    assert sla_rules.breaches(OPEN, due, T0 + timedelta(minutes=10)) == ["first_response"]
    assert sla_rules.breaches(OPEN, due, T0 + timedelta(hours=2)) == ["first_response", "resolution"]
    flagged = replace(OPEN, first_response_breached_at=T0 + timedelta(minutes=10))
    assert sla_rules.breaches(flagged, sla_rules.due(flagged, POLICY), T0 + timedelta(minutes=30)) == []
    resolved = replace(OPEN, status="resolved", resolved_at=T0)
    assert sla_rules.breaches(resolved, due, T0 + timedelta(days=3)) == []


def test_a_bare_score_is_an_answer() -> None:
    assert [score_in(t) for t in ("4", " 5 ", "3/5", "2.", "1!")] == [4, 5, 3, 2, 1]
    assert [score_in(t) for t in ("6", "0", "4 stars please", "1 2", "", "cinco")] == [None] * 6


def test_next_response_is_due_after_the_customer_message_that_follows_a_reply() -> None:
    answered = replace(OPEN, first_response_at=T0 + timedelta(minutes=5))
    assert sla_rules.due(answered, POLICY).next_response_due_at is None  # nothing awaited
    waiting = replace(answered, next_response_started_at=T0 + timedelta(minutes=20))
    d = sla_rules.due(waiting, sla_rules.Policy(10, 60, 15))
    assert d.next_response_due_at == T0 + timedelta(minutes=35) and d.check_at == d.next_response_due_at
    assert sla_rules.due(waiting, POLICY).next_response_due_at == T0 + timedelta(minutes=30)  # default: first's
    assert sla_rules.breaches(waiting, d, T0 + timedelta(minutes=34)) == []
    assert sla_rules.breaches(waiting, d, T0 + timedelta(minutes=35)) == ["next_response"]
    flagged = replace(waiting, next_response_breached_at=T0 + timedelta(minutes=35))
    assert sla_rules.breaches(flagged, d, T0 + timedelta(minutes=40)) == []  # once per wait
    assert sla_rules.due(flagged, POLICY).check_at == T0 + timedelta(minutes=60)
    assert sla_rules.check_policy(10, 60, 61) and sla_rules.check_policy(10, 60, 0)
    assert sla_rules.check_policy(10, 60, 60) is None


def test_the_clock_stops_while_pending_and_due_times_shift_by_the_pause() -> None:
    start, paused_sec = sla_rules.pause("pending", None, 0, T0 + timedelta(minutes=5))
    assert (start, paused_sec) == (T0 + timedelta(minutes=5), 0)
    assert sla_rules.pause("pending", start, 0, T0 + timedelta(hours=1)) == (start, 0)  # still paused
    assert sla_rules.pause("open", start, 0, T0 + timedelta(minutes=35)) == (None, 1800)
    assert sla_rules.pause("open", None, 1800, T0 + timedelta(hours=2)) == (None, 1800)
    paused = replace(OPEN, status="pending", paused_at=start)
    d = sla_rules.due(paused, POLICY)
    assert d.check_at is None  # nothing breaches while paused
    assert sla_rules.breaches(paused, d, T0 + timedelta(days=1)) == []
    resumed = replace(OPEN, paused_seconds=1800)
    d = sla_rules.due(resumed, POLICY)
    assert d.first_response_due_at == T0 + timedelta(minutes=40)
    assert d.resolution_due_at == T0 + timedelta(minutes=90)
    assert sla_rules.breaches(resumed, d, T0 + timedelta(minutes=89)) == ["first_response"]
    # a pause before a wait began does not shift it: each target counts the pauses since its own start
    later = replace(resumed, started_at=T0 + timedelta(hours=3), resolution_paused_base=1800,
                    first_response_at=T0, next_response_started_at=T0 + timedelta(hours=3),
                    next_response_paused_base=1200)
    d = sla_rules.due(later, POLICY)
    assert d.resolution_due_at == T0 + timedelta(hours=4)
    assert d.next_response_due_at == T0 + timedelta(hours=3, minutes=20)
