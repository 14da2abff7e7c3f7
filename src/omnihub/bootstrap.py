"""The house: every room, read from its `room.py`, and the wiring between them — one place for every process.

The API, the worker, the CLI, the demo and the tests all call `bootstrap()` before they touch a room, so a merge
made by `omnihub demo` moves orders exactly like one made through the API. Adding a room is its folder (with a
`room.py` declaring `ROOM`), one line in `ROOMS` and its migration: see docs/architecture.md.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler
from omnihub.core.rooms import Job, Room

if TYPE_CHECKING:
    from omnihub.config import Settings

# Every room, in the order their routes appear in the API (and, within one `handler_order`, their event handlers
# run). One line per room.
ROOMS: tuple[str, ...] = (
    "omnihub.catalog",
    "omnihub.inventory",
    "omnihub.connectors.webhooks",
    "omnihub.commerce",
    "omnihub.customers",
    "omnihub.promotions",
    "omnihub.billing",
    "omnihub.messaging",
    "omnihub.service",
    "omnihub.automation",
    "omnihub.connectors.nats",
    "omnihub.connectors.hub",
    "omnihub.connectors.shopify",
    "omnihub.connectors.woocommerce",
    "omnihub.connectors.imports",
    "omnihub.connectors.erp",
    "omnihub.analytics",
    "omnihub.console",
)


@dataclass(frozen=True)
class House:
    """The rooms of this process, wired. Ask it for what the app and the worker need."""

    rooms: tuple[Room, ...]

    def routers(self) -> list[Any]:
        """Every room's FastAPI router, each room's `first_router` before them all (imported here, so only the
        web app loads the web layer)."""
        found = []
        for names in ([room.first_router for room in self.rooms], [room.router for room in self.rooms]):
            for name in names:
                if name:
                    module, _, attribute = name.partition(":")
                    found.append(getattr(importlib.import_module(module), attribute))
        return found

    def event_handlers(self, clock: Clock, settings: Settings) -> list[EventHandler]:
        """The dispatcher's handlers: projections first (they may emit follow-up events, dispatched in the next
        batch), then the outlets, the webhook fan-out last."""
        ordered = sorted((room for room in self.rooms if room.handlers), key=lambda room: room.handler_order)
        return [handler for room in ordered for handler in room.handlers(clock, settings)]  # type: ignore[misc]

    def jobs(self, settings: Settings) -> list[Job]:
        """The rooms' background jobs that are switched on by these settings, in room order."""
        return [job for room in self.rooms for job in room.jobs if job.enabled(settings)]


_lock = threading.Lock()
_houses: dict[tuple[str, ...], House] = {}


def bootstrap(rooms: Sequence[str] = ROOMS) -> House:
    """Read the rooms and wire them together. Idempotent and cheap after the first call: every entry point
    calls it."""
    key = tuple(rooms)
    with _lock:
        house = _houses.get(key)
        if house is None:
            loaded = tuple(_load(name) for name in key)
            for room in loaded:
                if room.wire:
                    room.wire()
            house = _houses[key] = House(loaded)
    return house


def _load(package: str) -> Room:
    room = getattr(importlib.import_module(f"{package}.room"), "ROOM", None)
    if not isinstance(room, Room):
        raise TypeError(f"{package}.room must define ROOM = Room(...)")
    return room
