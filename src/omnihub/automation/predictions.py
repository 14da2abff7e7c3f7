"""Predicted CLV for segments: the analytics room fits its models in DuckDB and gives every customer's prediction;
this job copies them into the automation room's own table, where `customer.predicted_clv` compiles to SQL.

It runs only while some segment uses the fact (the fit loads DuckDB and reads the whole order history), once per
`automation_predictions_every_seconds` (a day by default: the models are fitted per day). When analytics cannot
answer (DuckDB missing, no model for a currency) the last predictions stay and the reason is logged."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation.models import automation_predictions, automation_segments
from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError

log = logging.getLogger("omnihub.automation")

FACT = "customer.predicted_clv"
CHUNK = 1000


def wanted(conn: Connection) -> bool:
    """Whether any segment reads the fact (its conditions hold the path somewhere, however nested)."""
    text = sa.cast(automation_segments.c.conditions, sa.Text)
    return conn.execute(sa.select(sa.literal(1)).where(text.contains(FACT)).limit(1)).first() is not None


def refresh(db: Database, clock: Clock, settings: Settings) -> int:
    """Replace the stored predictions with the analytics room's current ones; returns how many were stored. The
    fit runs outside any transaction (it takes seconds on a long history: on SQLite a transaction would hold the
    write lock all that time); the copy is one short transaction."""
    with db.read() as conn:
        if not wanted(conn):
            return 0
    from omnihub.analytics.queries import customer_predictions

    try:
        answer = customer_predictions(settings.database_url, now=clock.now())
    except DomainError as exc:  # analytics unavailable: keep what we have, say why
        log.warning("predicted CLV not refreshed: %s", exc)
        return 0
    for currency, reason in answer["unfitted"].items():
        log.info("predicted CLV: no model for %s (%s)", currency, reason)
    with db.transaction() as conn:
        store(conn, clock, answer["items"], date.fromisoformat(answer["as_of"]))
        _recompute_users(conn, clock)
    return len(answer["items"])


def _recompute_users(conn: Connection, clock: Clock) -> None:
    """The segments reading the fact take the new predictions now, not at the next scheduled pass."""
    from omnihub.automation.segments import recompute

    text = sa.cast(automation_segments.c.conditions, sa.Text)
    for segment_id in conn.execute(sa.select(automation_segments.c.id).where(text.contains(FACT))
                                   .order_by(automation_segments.c.id)).scalars():
        recompute(conn, clock, segment_id)


def store(conn: Connection, clock: Clock, items: list[tuple[str, str, Any, float]], as_of: date) -> None:
    """One snapshot: every row replaced in the caller's transaction (a reader sees the old set or the new one)."""
    now = clock.now()
    conn.execute(automation_predictions.delete())
    rows = [{"customer_id": customer, "currency": currency, "predicted_clv": value, "probability_alive": alive,
             "as_of": as_of, "computed_at": now} for customer, currency, value, alive in items]
    for start in range(0, len(rows), CHUNK):
        conn.execute(automation_predictions.insert(), rows[start:start + CHUNK])


def per_profile() -> sa.Subquery:
    """Per person, the sum of their predictions over currencies (as `lifetime_value` sums its revenue)."""
    P = automation_predictions.c
    return (sa.select(P.customer_id.label("customer_id"), sa.func.sum(P.predicted_clv).label("predicted_clv"))
            .group_by(P.customer_id).subquery("predicted_clv_agg"))
