"""NATS as a room of the house: when OMNIHUB_NATS_URL is set, every event goes to JetStream (an outlet: after
the projections, before the webhook fan-out)."""

from __future__ import annotations

from collections.abc import Sequence

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Room


def _handlers(_clock: Clock, settings: Settings) -> Sequence[EventHandler]:
    if not settings.nats_url:
        return []
    from omnihub.connectors.nats.publisher import NatsPublisher

    return [NatsPublisher(settings.nats_url)]


ROOM = Room(name="nats", handlers=_handlers, handler_order=500)
