"""Billing as a room of the house: a router; commerce takes payments and issues documents through its service."""

from omnihub.core.rooms import Room

ROOM = Room(name="billing", router="omnihub.billing.api:router")
