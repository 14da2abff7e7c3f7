"""Outbound webhooks as a room of the house: its router, the fan-out of events into deliveries (the last event
handler: it takes the outbox positions lock, held until the dispatch commits), and its delivery log follows
events that erasure rewrites. Sending runs in the worker itself (its own thread), as does the outbox purge that
respects the streams' cursors."""

from __future__ import annotations

from collections.abc import Sequence

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Room


def _wire() -> None:
    from omnihub.connectors.webhooks.service import follow_rewritten_events
    from omnihub.core.events import register_rewrite_listener

    register_rewrite_listener("webhooks", follow_rewritten_events)


def _handlers(clock: Clock, _settings: Settings) -> Sequence[EventHandler]:
    from omnihub.connectors.webhooks.service import WebhookFanout

    return [WebhookFanout(clock)]


ROOM = Room(name="webhooks", router="omnihub.connectors.webhooks.api:router", wire=_wire, handlers=_handlers,
            handler_order=1000)
