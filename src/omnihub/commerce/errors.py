"""The commerce room's errors, each with a stable code."""

from __future__ import annotations

import math
from datetime import datetime

from omnihub.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


def order_not_found(order_id: str) -> NotFound:
    return NotFound("order_not_found", f"No order '{order_id}'.", order=order_id)


def cart_not_found(cart_id: str) -> NotFound:
    return NotFound("cart_not_found", f"No cart '{cart_id}'.", cart=cart_id)


def cart_not_open(cart_id: str, status: str) -> Conflict:
    return Conflict("cart_not_open", f"Cart '{cart_id}' is {status}.", cart=cart_id, current_status=status)


def cart_empty(cart_id: str) -> ValidationFailed:
    return ValidationFailed("cart_empty", "The cart has no lines to check out.", field="lines", cart=cart_id)


def illegal_transition(order_id: str, current: str, wanted: str) -> Conflict:
    return Conflict("illegal_transition", f"Order '{order_id}' is {current}; it cannot become {wanted}.",
                    order=order_id, current_status=current, wanted_status=wanted)


def price_missing(sku: str, channel: str, index: int) -> ValidationFailed:
    return ValidationFailed("price_missing", f"'{sku}' has no price in channel '{channel}'.",
                            field=f"lines.{index}.sku", sku=sku, channel=channel)


def below_minimum_quantity(sku: str, minimum: int, index: int) -> ValidationFailed:
    return ValidationFailed("below_minimum_quantity", f"'{sku}' is sold from {minimum} units on your price list.",
                            field=f"lines.{index}.quantity", sku=sku, minimum=minimum)


def price_changed(changes: list[dict[str, str]]) -> Conflict:
    return Conflict("price_changed", "Prices changed since the cart was built; review and check out again.",
                    field="lines", changes=changes)


def total_changed(expected: str, actual: str) -> Conflict:
    return Conflict("total_changed", f"The total is now {actual}, not {expected}.", field="expected_total",
                    expected=expected, actual=actual)


def pickup_not_allowed(location: str) -> ValidationFailed:
    return ValidationFailed("pickup_not_allowed", f"Location '{location}' does not offer pickup.",
                            field="fulfilment.location", location=location)


def location_required(kind: str) -> ValidationFailed:
    return ValidationFailed("location_required", f"A {kind} order needs fulfilment.location.",
                            field="fulfilment.location")


def address_required() -> ValidationFailed:
    return ValidationFailed("address_required", "A ship order needs fulfilment.address.", field="fulfilment.address")


def wrong_pickup_code(order_id: str) -> ValidationFailed:
    return ValidationFailed("wrong_pickup_code", "That is not this order's pickup code.", field="code", order=order_id)


def pickup_locked(order_id: str, locked_until: datetime, now: datetime) -> Conflict:
    wait = max(1, math.ceil((locked_until - now).total_seconds()))
    return Conflict("pickup_locked", f"Too many wrong pickup codes for order '{order_id}': collection is locked until "
                    f"{locked_until.isoformat()} (an admin can unlock it sooner).", field="code", order=order_id,
                    locked_until=locked_until.isoformat(), retry_after=wait)


def not_a_pickup_order(order_id: str) -> Conflict:
    return Conflict("not_a_pickup_order", f"Order '{order_id}' is not a click & collect order.", order=order_id)


def slot_full(slot_id: str) -> Conflict:
    return Conflict("slot_full", f"Pickup slot '{slot_id}' is full.", field="fulfilment.slot", slot=slot_id)


def slot_not_found(slot_id: str) -> NotFound:
    return NotFound("slot_not_found", f"No pickup slot '{slot_id}' at that location.", field="fulfilment.slot",
                    slot=slot_id)


def nothing_to_ship(order_id: str, location: str | None) -> Conflict:
    where = f" at '{location}'" if location else ""
    return Conflict("nothing_to_ship", f"Order '{order_id}' has nothing left to ship{where}.", order=order_id)


def invalid_shipment_line(sku: str, index: int) -> ValidationFailed:
    return ValidationFailed("invalid_shipment_line", f"'{sku}' is not waiting to ship in that quantity.",
                            field=f"lines.{index}", sku=sku)


def invalid_return_line(sku: str, index: int, returnable: int) -> ValidationFailed:
    return ValidationFailed("invalid_return_line", f"Only {returnable} unit(s) of '{sku}' can be returned.",
                            field=f"lines.{index}.quantity", sku=sku, returnable=returnable)


def not_a_draft(order_id: str) -> Conflict:
    return Conflict("not_a_draft", f"Order '{order_id}' is not a draft.", order=order_id)


def customer_required(field: str = "customer") -> ValidationFailed:
    return ValidationFailed("customer_required", "This needs a customer (email, phone, handle or loyalty).",
                            field=field)


def shipment_not_found(shipment_id: str) -> NotFound:
    return NotFound("shipment_not_found", f"No shipment '{shipment_id}'.", shipment=shipment_id)


def return_not_found(return_id: str) -> NotFound:
    return NotFound("return_not_found", f"No return '{return_id}'.", return_id=return_id)


def payment_required(total: str, paid: str) -> Conflict:
    return Conflict("payment_required", "A counter sale must be paid in full.", field="payments", total=total,
                    paid=paid)


def invalid_slot() -> ValidationFailed:
    return ValidationFailed("invalid_slot", "ends_at must be after starts_at.", field="ends_at")


def location_at_capacity(code: str) -> Conflict:
    return Conflict("location_at_capacity", f"Location '{code}' has taken all its orders for today.", location=code)


def associate_channel_not_allowed(location: str, channel: str, field: str) -> Forbidden:
    return Forbidden("channel_not_allowed",
                     f"An associate of '{location}' sells in the store channels that sell from it, not in "
                     f"'{channel}'.", field=field, channel=channel)


def external_order_empty(external_id: str) -> ValidationFailed:
    return ValidationFailed("external_order_empty", f"The shop's order '{external_id}' has no line the hub can "
                            "record.", field="lines", external_id=external_id)
