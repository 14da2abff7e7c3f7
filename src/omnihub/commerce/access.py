"""Who may see and act on which cart, order and return: the commerce room's scope rules. Pure (no I/O): the
routes read what they need and ask here, so every route asks the same questions the same way.

- A **channel key** acts for its own channel: it sells, checks out and submits drafts there, and sees that
  channel's orders and returns only (another channel's look like they do not exist: 404).
- An **associate key** acts for its location and for the *store* channels that sell from it: counter sales,
  pickups and ship-from-store there, never a web or marketplace order held on the warehouse's stock. It
  sees the orders that touch its location (a line sourced there, or picked up there) and the returns taken
  there or made against such an order.
- Admins act everywhere; agents read orders and returns (support); marketers do neither.
"""

from __future__ import annotations

from typing import Any

from omnihub.commerce import errors
from omnihub.core.security import Principal, Role

STORE_KIND = "store"


def order_places(order: dict[str, Any]) -> set[str]:
    """The locations an order touches: where its lines are held or were sourced, and its pickup store."""
    places = {line.get("location") for line in order.get("lines") or []}
    places.add((order.get("fulfilment") or {}).get("location"))
    return {p for p in places if p}


def can_see_order(principal: Principal, order: dict[str, Any]) -> bool:
    if principal.role is Role.CHANNEL:
        return order["channel"] == principal.channel
    if principal.role is Role.ASSOCIATE:
        return principal.location in order_places(order)
    return True


def check_order(principal: Principal, order: dict[str, Any]) -> None:
    """Out of scope reads as unknown (404), so a key cannot even learn that another channel's order exists."""
    if not can_see_order(principal, order):
        raise errors.order_not_found(order["id"])


def check_return(principal: Principal, returned: dict[str, Any], order: dict[str, Any]) -> None:
    """A return is seen with its order's scope; an associate also sees what came back at its own store."""
    if principal.role is Role.ASSOCIATE and returned["location"] == principal.location:
        return
    if not can_see_order(principal, order):
        raise errors.return_not_found(returned["id"])


def acts_for(principal: Principal, channel: dict[str, Any]) -> bool:
    """Whether the key may sell in this channel: a channel key in its own; an associate in a store channel
    that sells from its location."""
    if principal.role is Role.CHANNEL:
        return channel["code"] == principal.channel
    if principal.role is Role.ASSOCIATE:
        return channel.get("kind") == STORE_KIND and principal.location in (channel.get("locations") or [])
    return principal.role is Role.ADMIN


def check_sells_in(principal: Principal, channel: dict[str, Any], *, field: str = "channel") -> None:
    if acts_for(principal, channel):
        return
    if principal.role is Role.ASSOCIATE:
        raise errors.associate_channel_not_allowed(principal.location or "", channel["code"], field)
    principal.ensure_channel(channel["code"], field=field)
    principal.require()  # any other role: role_not_allowed


def checkout_channel(principal: Principal, requested: str | None, cart_channel: str | None) -> str | None:
    """The channel a checkout sells in: the one asked for, else the channel key's own (a cart follows its
    customer, the sale happens where the caller is), else the cart's (None: the service takes the cart's)."""
    if requested:
        return requested
    if principal.role is Role.CHANNEL and principal.channel:
        return principal.channel
    return cart_channel


def needs_channel_check(principal: Principal) -> bool:
    """Only associates need the channel's kind and locations read to decide; a channel key compares codes."""
    return principal.role is Role.ASSOCIATE


def may_see_pickup_code(principal: Principal, pickup_location: str | None) -> bool:
    """The pickup code hands goods over: admins and the associates of that store only."""
    return principal.is_admin or (principal.role is Role.ASSOCIATE and principal.location == pickup_location)


def show(principal: Principal, order: dict[str, Any]) -> dict[str, Any]:
    pickup = order.get("pickup")
    if pickup and not may_see_pickup_code(principal, pickup.get("location")):
        order = {**order, "pickup": {**pickup, "code": None}}
    return order
