"""Customers as a room of the house: a router. Other rooms join its extension points (merge and erasure
participants, 360-view sections) from their own `room.py`."""

from omnihub.core.rooms import Room

ROOM = Room(name="customers", router="omnihub.customers.api:router")
