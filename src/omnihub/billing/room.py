"""Billing as a room of the house: a router; commerce takes payments and issues documents through its service.
Its job expires payments at providers nobody completed in time (the order is told: its stock is released)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _expire_payments(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.billing.flow import expire_due

    return expire_due(conn, clock, limit=200)


def _expire_gift_cards(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.billing.gift_cards import expire_due

    return expire_due(conn, clock)


ROOM = Room(name="billing", router="omnihub.billing.api:router",
            jobs=[Job("billing.expire_payments", _expire_payments, batch=200, paced=True),
                  Job("billing.expire_gift_cards", _expire_gift_cards, batch=500, paced=True)])
