"""Outbound webhooks as a room of the house: its router, the fan-out of events into deliveries (the last event
handler: it takes the outbox positions lock, held until the dispatch commits), and its delivery log follows
events that erasure rewrites; its log forgets deliveries that arrived, after a retention. Sending runs in the
worker itself (its own thread), as does the outbox purge that respects the streams' cursors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Job, Room


def _wire() -> None:
    from omnihub.connectors.webhooks.service import follow_rewritten_events
    from omnihub.core.events import register_rewrite_listener

    register_rewrite_listener("webhooks", follow_rewritten_events)


def _handlers(clock: Clock, _settings: Settings) -> Sequence[EventHandler]:
    from omnihub.connectors.webhooks.service import WebhookFanout

    return [WebhookFanout(clock)]


def _seal_plain_secrets(conn: Connection, _clock: Clock, settings: Settings) -> int:
    from omnihub.connectors.webhooks.service import seal_plain_secrets

    return seal_plain_secrets(conn, settings.secret_key)


def _purge_delivered(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.connectors.webhooks.service import purge_delivered

    return purge_delivered(conn, clock, settings.webhook_delivery_retention_days)


ROOM = Room(name="webhooks", router="omnihub.connectors.webhooks.api:router", wire=_wire, handlers=_handlers,
            handler_order=1000,
            # secrets stored in clear by earlier versions are sealed once the worker (holding the key) starts
            jobs=[Job("webhooks.seal_plain_secrets", _seal_plain_secrets, every=lambda _settings: 3600.0,
                      counts_as_work=False),
                  # the delivery log keeps what arrived for webhook_delivery_retention_days
                  Job("webhooks.purge_delivered", _purge_delivered, batch=1000, every=lambda _settings: 600.0,
                      counts_as_work=False)])
