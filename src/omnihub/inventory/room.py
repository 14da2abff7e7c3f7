"""Inventory as a room of the house: its router, the availability projection (the first event handler: the
outlets then carry the `availability.changed` it emits) and its jobs — expired holds go back on sale, and every
OMNIHUB_RECONCILE_EVERY_SECONDS stock is compared with its ledger (drift is reported, never fixed)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Job, Room

log = logging.getLogger("omnihub.worker")
EXPIRY_BATCH = 500


def _handlers(clock: Clock, _settings: Settings) -> Sequence[EventHandler]:
    from omnihub.inventory.availability import AvailabilityProjector

    return [AvailabilityProjector(clock)]


def _release_expired(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.inventory.reservations import release_expired_reservations

    return release_expired_reservations(conn, clock, limit=EXPIRY_BATCH)


def _reconcile(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.inventory.stock import check_inventory

    drifts = check_inventory(conn, clock)
    for drift in drifts:
        log.warning("inventory drift: %s", drift)
    return len(drifts)


ROOM = Room(
    name="inventory",
    router="omnihub.inventory.api:router",
    handlers=_handlers,
    handler_order=10,
    jobs=[Job("inventory.release_expired", _release_expired, batch=EXPIRY_BATCH, paced=True),
          Job("inventory.reconcile", _reconcile, every=lambda settings: settings.reconcile_every_seconds,
              counts_as_work=False)],
)
