"""Orders credited to automations: the coupon a run issued, else the last message sent to the person within the
rule's window (last touch). One conversion per order, so a redelivered `order.created` counts once. A purchase
also stops the runs whose goal is a purchase."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from omnihub.automation import rules
from omnihub.automation.models import (
    automation_conversions,
    automation_coupons,
    automation_log,
    automation_messages,
    automation_rules,
    automation_runs,
)
from omnihub.core.clock import Clock, as_utc

MSG, RUN = automation_messages.c, automation_runs.c


def _codes(order: dict[str, Any]) -> list[str]:
    return [str(p["code"]).upper() for p in order.get("promotions") or [] if isinstance(p, dict) and p.get("code")]


def credit_order(conn: Connection, clock: Clock, order: dict[str, Any]) -> str | None:
    """The rule credited with this order (None: no automation touched it)."""
    customer = order.get("customer_id")
    at = as_utc(order["created_at"]) if isinstance(order.get("created_at"), type(clock.now())) else clock.now()
    if isinstance(order.get("created_at"), str):
        from datetime import datetime

        at = as_utc(datetime.fromisoformat(order["created_at"]))
    credit: tuple[str, str | None, str] | None = None
    codes = _codes(order)
    if codes:
        row = conn.execute(sa.select(automation_coupons.c.rule_id, automation_coupons.c.run_id)
                           .where(automation_coupons.c.code.in_(codes))).first()
        if row is not None:
            message = conn.execute(sa.select(MSG.id).where(MSG.run_id == row.run_id).order_by(MSG.created_at.desc())
                                   .limit(1)).scalar()
            credit = (row.rule_id, message, "coupon")
    if credit is None and customer:
        candidates = conn.execute(
            sa.select(MSG.id, MSG.rule_id, MSG.sent_at, automation_rules.c.options)
            .join(automation_rules, automation_rules.c.id == MSG.rule_id)
            .where(MSG.customer_id == customer, MSG.status == "sent", MSG.sent_at <= at,
                   MSG.sent_at >= at - timedelta(days=90))
            .order_by(MSG.sent_at.desc()).limit(20)).all()
        for row in candidates:
            if as_utc(row.sent_at) >= at - timedelta(seconds=rules.attribution_window(row.options or {})):
                credit = (row.rule_id, row.id, "last_touch")
                break
    _stop_purchase_goals(conn, clock, customer)
    if credit is None:
        return None
    totals = order.get("totals") or {}
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(automation_conversions)
    conn.execute(insert.values(order_id=order["id"], rule_id=credit[0], message_id=credit[1], customer_id=customer,
                               channel=order.get("channel"), revenue=Decimal(str(totals.get("total", "0"))),
                               currency=totals.get("currency"), via=credit[2], at=clock.now())
                 .on_conflict_do_nothing())
    return credit[0]


def _stop_purchase_goals(conn: Connection, clock: Clock, customer: str | None) -> None:
    if not customer:
        return
    rows = conn.execute(sa.select(RUN.id, RUN.rule_id, automation_rules.c.options)
                        .join(automation_rules, automation_rules.c.id == RUN.rule_id)
                        .where(RUN.customer_id == customer, RUN.status == "waiting")).all()
    now = clock.now()
    for row in rows:
        if (row.options or {}).get("goal") == "purchase":
            conn.execute(automation_runs.update().where(RUN.id == row.id).values(
                status="stopped", reason="goal reached: the customer bought", updated_at=now))
            conn.execute(automation_log.insert(), dict(rule_id=row.rule_id, run_id=row.id, customer_id=customer,
                                                       action="run", outcome="stopped",
                                                       reason="goal reached: the customer bought", at=now))
