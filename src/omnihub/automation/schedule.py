"""Scheduled rules (a worker job): every `schedule` period, each active profile is checked against the rule's
conditions and a run starts for those that match. A person is reached once per rule until they buy again (the run's
trigger key is their last order), so a daily win-back does not chase the same lapse every day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.automation import facts, queries, rules
from omnihub.automation.models import automation_rules, automation_runs
from omnihub.automation.runs import insert_ignore, log
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.durations import parse_duration
from omnihub.customers import queries as customers_queries

PAGE = 200


def run_schedules(conn: Connection, clock: Clock) -> int:
    now = clock.now()
    started = 0
    for row in queries.scheduled_rules(conn):
        every = timedelta(seconds=parse_duration(row.trigger["schedule"]))
        if row.last_scheduled_at is not None and as_utc(row.last_scheduled_at) + every > now:
            continue
        rule = queries.get_rule(conn, row.id)
        cursor = None
        while True:
            found = customers_queries.list_customers(conn, limit=PAGE, cursor=cursor)
            for person in found["items"]:
                started += _maybe_start(conn, clock, rule, person["id"])
            cursor = found.get("next_cursor")
            if not cursor:
                break
        conn.execute(automation_rules.update().where(automation_rules.c.id == row.id)
                     .values(last_scheduled_at=now))
    return started


def _maybe_start(conn: Connection, clock: Clock, rule: dict[str, Any], customer_id: str) -> int:
    known = facts.facts(conn, clock, customer_id, {"schedule": rule["trigger"]["schedule"]})
    if known["customer"].get("status") != "active" or not rules.matches(rule["conditions"], known)[0]:
        return 0
    key = f"schedule@{known['customer'].get('last_order_at') or 'never'}"
    now = clock.now()
    run = {"id": new_id("run"), "rule_id": rule["id"], "subject": customer_id, "trigger_key": key[:120],
           "customer_id": customer_id, "status": "waiting", "step": 0, "due_at": now,
           "context": {"event": "schedule", "data": {"customer_id": customer_id}}, "created_at": now,
           "updated_at": now}
    inserted = conn.execute(insert_ignore(conn, automation_runs).values(**run)).rowcount
    if inserted:
        log(conn, clock, run, "trigger", "started", f"schedule {rule['trigger']['schedule']}")
    return int(inserted)

