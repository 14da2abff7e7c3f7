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
    assert sla_rules.policy_for("urgent", {}) == sla_rules.Policy(30, 240)
    assert sla_rules.policy_for("unknown", {}) == sla_rules.Policy(240, 1440)
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
