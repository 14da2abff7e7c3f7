"""Writing rules: create, change, switch on and off, delete. Validation is rules.validate_rule (it names the bad
field); deleting a rule stops its waiting runs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import errors, queries, rules
from omnihub.automation.models import automation_rules, automation_runs
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit

R = automation_rules.c


def _validated(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        return rules.validate_rule(doc)
    except rules.RuleInvalid as exc:
        raise errors.invalid_rule(exc.field, exc.detail) from None


def create_rule(conn: Connection, clock: Clock, doc: dict[str, Any]) -> dict[str, Any]:
    rule = _validated(doc)
    now = clock.now()
    rule_id = new_id("rule")
    conn.execute(automation_rules.insert(), dict(id=rule_id, trigger_type=rules.trigger_type(rule["trigger"]),
                                                 created_at=now, updated_at=now, **rule))
    emit(conn, clock, "automation.created", {"id": rule_id, "name": rule["name"], "active": rule["active"]})
    return queries.get_rule(conn, rule_id)


def update_rule(conn: Connection, clock: Clock, rule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A partial change, validated as the whole rule it makes."""
    current = queries.get_rule(conn, rule_id)
    merged = {k: current[k] for k in ("name", "trigger", "conditions", "steps", "active", "options")}
    merged.update({k: v for k, v in changes.items() if v is not None or k == "options"})
    rule = _validated(merged)
    conn.execute(automation_rules.update().where(R.id == rule_id).values(
        trigger_type=rules.trigger_type(rule["trigger"]), updated_at=clock.now(), **rule))
    emit(conn, clock, "automation.updated", {"id": rule_id, "active": rule["active"]})
    return queries.get_rule(conn, rule_id)


def delete_rule(conn: Connection, clock: Clock, rule_id: str) -> None:
    queries.get_rule(conn, rule_id)
    conn.execute(automation_runs.update().where(automation_runs.c.rule_id == rule_id,
                                                automation_runs.c.status == "waiting")
                 .values(status="stopped", reason="rule deleted", updated_at=clock.now()))
    conn.execute(automation_rules.delete().where(R.id == rule_id))
    emit(conn, clock, "automation.deleted", {"id": rule_id})


def set_active(conn: Connection, clock: Clock, recipe_or_id: str, active: bool) -> None:
    """The demo switches recipes on by key."""
    conn.execute(automation_rules.update().where(sa.or_(R.id == recipe_or_id, R.recipe == recipe_or_id))
                 .values(active=active, updated_at=clock.now()))
