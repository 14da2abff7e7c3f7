"""The connector hub as a room: connections, dead letters and the stock push queue every shop connector shares.
Its handler turns committed stock changes into push rows (after the projections); its job sends them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Job, Room


def _handlers(clock: Clock, _settings: Settings) -> Sequence[EventHandler]:
    from omnihub.connectors.hub.service import PushEnqueuer

    return [PushEnqueuer(clock)]


def _push(conn: Connection, clock: Clock, settings: Settings) -> int:
    from omnihub.connectors.hub.service import push_due
    from omnihub.core.outbound import OutboundGuard

    return push_due(conn, clock, settings.secret_key, OutboundGuard(settings.outbound_allow))


ROOM = Room(name="connectors", router="omnihub.connectors.hub.api:router", handlers=_handlers, handler_order=200,
            jobs=[Job("connectors.push_stock", _push, batch=50)])
