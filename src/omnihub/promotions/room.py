"""Promotions as a room of the house: a router; commerce counts redemptions inside its own transaction."""

from omnihub.core.rooms import Room

ROOM = Room(name="promotions", router="omnihub.promotions.api:router")
