"""Trying a failed provider notification again, by hand: the worker gave up on it after its attempts (a bug, an
order in a state the notification could not move, a provider call that kept failing) and someone fixed the cause.
It goes back to the queue as it was stored; applying it stays exactly-once (billing/notifications.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import errors, queries
from omnihub.billing.models import provider_notifications
from omnihub.core.clock import Clock

N = provider_notifications.c


def retry_notification(conn: Connection, clock: Clock, notification_id: str) -> dict[str, Any]:
    """`failed` → `pending`, due now, its attempts counted afresh (the error stays until it is applied).
    Idempotent: one already pending is left as it is; one applied is a 409 (nothing to do)."""
    row = conn.execute(sa.select(N.status).where(N.id == notification_id).with_for_update()).first()
    if row is None:
        raise errors.notification_not_found(notification_id)
    if row.status == "done":
        raise errors.notification_applied(notification_id)
    if row.status == "failed":
        conn.execute(provider_notifications.update().where(N.id == notification_id, N.status == "failed").values(
            status="pending", attempts=0, next_attempt_at=clock.now(), processed_at=None))
    return queries.get_notification(conn, notification_id)
