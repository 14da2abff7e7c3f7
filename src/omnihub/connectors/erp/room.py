"""The ERP connector as a room of the house: its router and its event handler (billing documents become ERP
documents). Sending is a worker step (`Worker.send_erp`): the claim commits before anything leaves."""

from __future__ import annotations

from collections.abc import Sequence

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Room


def _handlers(clock: Clock, _settings: Settings) -> Sequence[EventHandler]:
    from omnihub.connectors.erp.service import ErpRecorder

    return [ErpRecorder(clock)]


ROOM = Room(name="erp", router="omnihub.connectors.erp.api:router", handlers=_handlers, handler_order=500)
