"""The catalog as a room of the house: products, channels and prices. Only a router: the other rooms read it."""

from omnihub.core.rooms import Room

ROOM = Room(name="catalog", router="omnihub.catalog.api:router")
