"""Billing as a room of the house: a router; commerce takes payments and issues documents through its service.
Its jobs apply the providers' notifications the webhooks stored (billing/notifications.py), purge the applied
ones after a week, and expire payments at providers nobody completed in time (the order is told: its stock is
released)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _expire_payments(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.billing.flow import expire_due

    return expire_due(conn, clock, limit=200)


def _apply_notifications(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.billing.notifications import BATCH, drain

    return drain(conn, clock, settings, limit=BATCH)


def _purge_notifications(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.billing.notifications import purge

    return purge(conn, clock, settings)


def _expire_gift_cards(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.billing.gift_cards import expire_due

    return expire_due(conn, clock)


ROOM = Room(name="billing", router="omnihub.billing.api:router", first_router="omnihub.billing.api:webhooks",
            jobs=[Job("billing.apply_notifications", _apply_notifications, batch=200),  # stored by the webhooks
                  Job("billing.purge_notifications", _purge_notifications, batch=1000,
                      every=lambda _settings: 600.0, counts_as_work=False),
                  Job("billing.expire_payments", _expire_payments, batch=200, paced=True),
                  Job("billing.expire_gift_cards", _expire_gift_cards, batch=500, paced=True)])
