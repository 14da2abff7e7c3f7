"""Automation as a room of the house: its router, its event handler (runs start from events; orders are credited)
and its jobs: the abandoned-cart scan, moving due runs by the injected clock, and delivering messages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Job, Room


def _wire() -> None:
    from omnihub.automation.runs import erasure_participant
    from omnihub.customers.participants import register_erasure_participant

    register_erasure_participant("automation", erasure_participant())


def _handlers(clock: Clock, settings: Settings) -> Sequence[EventHandler]:
    from omnihub.automation.runs import AutomationHandler
    from omnihub.automation.segment_events import SegmentHandler
    from omnihub.automation.stock import StockHandler

    return [AutomationHandler(clock, settings), SegmentHandler(clock), StockHandler(clock)]


def _scan(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.automation.carts import scan

    return scan(conn, clock)


def _advance(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.automation.runs import advance

    return advance(conn, clock, settings)


def _schedules(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.automation.schedule import run_schedules

    return run_schedules(conn, clock)


def _segments(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.automation.segments import recompute_all

    return recompute_all(conn, clock)


def _predictions(db: Database, clock: Clock, settings: Settings) -> int:
    from omnihub.automation.predictions import refresh

    return refresh(db, clock, settings)


def _deliver(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.automation.delivery import deliver

    return deliver(conn, clock, settings)


ROOM = Room(
    name="automation",
    router="omnihub.automation.api:router",
    wire=_wire,
    handlers=_handlers,
    handler_order=60,
    jobs=[Job("automation.abandoned_carts", _scan, batch=5000, paced=True),  # carts.SCAN_BATCH
          Job("automation.schedules", _schedules, every=lambda _settings: 60.0),
          Job("automation.segments", _segments, every=lambda _settings: 300.0),
          Job("automation.predictions", _predictions, every=lambda s: s.automation_predictions_every_seconds,
              transaction=False),  # the fit holds no transaction
          Job("automation.advance", _advance, batch=200, paced=True),
          Job("automation.deliver", _deliver, batch=400)],  # delivery.DELIVER_BATCH
)
