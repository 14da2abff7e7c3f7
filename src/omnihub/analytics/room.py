"""Analytics as a room of the house: its router only (it owns no table, writes nothing, handles no event)."""

from __future__ import annotations

from omnihub.core.rooms import Room

ROOM = Room(name="analytics", router="omnihub.analytics.api:router")
