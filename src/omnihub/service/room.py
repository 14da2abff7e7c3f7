"""The service desk as a room of the house: its router; conversations follow customer merges, unmerges and
erasure; the 360 view shows the support hold and CSAT; snoozed conversations wake and missed SLA targets are
flagged when their time comes. Replies are sent by the worker itself (`Worker.send_replies`): a send must not run
inside a job's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.rooms import Job, Room


def _wire() -> None:
    from omnihub.customers import participants
    from omnihub.customers import queries as customers_queries
    from omnihub.service import desk_queries, queries, service

    participants.register_merge_participant("service", service.conversation_merge_participant())
    participants.register_erasure_participant("service", service.conversation_erasure_participant())
    customers_queries.register_view_section("support_hold", queries.SUPPORT_HOLD_SECTION)
    customers_queries.register_view_section("csat", desk_queries.CSAT_SECTION)


def _wake_snoozed(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.service.service import wake_snoozed

    return wake_snoozed(conn, clock, limit=500)


def _handlers(clock: Clock, settings: Settings) -> list[Any]:
    from omnihub.service.bot import BotHandler
    from omnihub.service.media import MediaHandler
    from omnihub.service.routing import RoutingHandler

    # Routing first: a conversation that opens is in its team's queue before the bot's turn (the bot speaks only
    # while nobody has it, so routing picks the agent at the handoff then).
    # Media descriptions (WhatsApp media ids → Graph metadata) are their own step.
    return [RoutingHandler(clock, settings), BotHandler(clock, settings), MediaHandler(clock, settings)]


def _ingest_meta(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.service.ingest import BATCH, drain

    return drain(conn, clock, settings, limit=BATCH)


def _purge_inbound(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.service.ingest import purge

    return purge(conn, clock, settings)


def _check_sla(conn: Connection, clock: Clock, _settings: Settings) -> int:
    from omnihub.service.sla import check_breaches

    return check_breaches(conn, clock, limit=500)


ROOM = Room(
    name="service",
    router="omnihub.service.api:router",
    first_router="omnihub.service.api:webhooks",  # Meta's webhook: matched before the rooms' routes
    wire=_wire,
    handlers=_handlers,
    handler_order=50,
    # Meta webhooks stored by the API (service/ingest.py): a few batches per worker step, then the events they made
    # go to the bot and routing before more are threaded (the step's dispatch), so neither backlog runs away.
    jobs=[Job("service.ingest_meta", _ingest_meta, batch=100, runs=5),
          Job("service.wake_snoozed", _wake_snoozed, batch=500, paced=True),
          Job("service.check_sla", _check_sla, batch=500, paced=True),
          Job("service.purge_inbound", _purge_inbound, batch=1000, every=lambda _settings: 600.0,
              counts_as_work=False)],
)
