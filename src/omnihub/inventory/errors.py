"""The inventory room's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import Conflict, NotFound, ValidationFailed


def location_not_found(code: str, field: str | None = None) -> NotFound:
    return NotFound("location_not_found", f"No location '{code}'.", field=field, location=code)


def location_exists(code: str) -> Conflict:
    return Conflict("location_exists", f"A location '{code}' already exists.", field="code", location=code)


def insufficient_stock(sku: str, requested: int, available: int, field: str | None = None) -> Conflict:
    return Conflict(
        "insufficient_stock",
        f"Only {available} of {requested} unit(s) of '{sku}' can be had.",
        field=field,
        sku=sku,
        requested=requested,
        available=available,
    )


def stock_below_reserved(location: str, sku: str, on_hand: int, reserved: int) -> Conflict:
    return Conflict(
        "stock_below_reserved",
        f"'{sku}' at '{location}' would have {on_hand} on hand but {reserved} are reserved; "
        "release reservations first.",
        field="on_hand",
        location=location,
        sku=sku,
        reserved=reserved,
    )


def reservation_not_found(reservation_id: str) -> NotFound:
    return NotFound("reservation_not_found", f"No reservation '{reservation_id}'.", reservation=reservation_id)


def reservation_not_active(reservation_id: str, status: str) -> Conflict:
    return Conflict(
        "reservation_not_active",
        f"Reservation '{reservation_id}' is {status}, not active.",
        reservation=reservation_id,
        current_status=status,
    )


def invalid_ttl(ttl: int, maximum: int) -> ValidationFailed:
    return ValidationFailed("invalid_ttl", f"ttl_seconds must be between 1 and {maximum}, not {ttl}.",
                            field="ttl_seconds")


def invalid_quantity(sku: str, quantity: int) -> ValidationFailed:
    return ValidationFailed("invalid_quantity", f"Quantity for '{sku}' must be positive, not {quantity}.",
                            field="lines", sku=sku)


def location_not_in_channel(location: str, channel: str) -> ValidationFailed:
    return ValidationFailed(
        "location_not_in_channel",
        f"Location '{location}' does not fulfil channel '{channel}'.",
        field="location",
        location=location,
        channel=channel,
    )


def same_location_transfer(location: str) -> ValidationFailed:
    return ValidationFailed("same_location_transfer", "A transfer needs two different locations.",
                            field="to_location", location=location)


def no_stock_level(location: str, sku: str) -> NotFound:
    return NotFound("stock_level_not_found", f"No stock of '{sku}' is recorded at '{location}'.",
                    location=location, sku=sku)


def nothing_left_to_fulfil(reservation_id: str, sku: str, location: str) -> Conflict:
    return Conflict("nothing_left_to_fulfil", f"No held units of '{sku}' at '{location}' remain to fulfil.",
                    reservation=reservation_id, sku=sku, location=location)


def channel_required() -> ValidationFailed:
    return ValidationFailed("channel_required", "Say which channel: ?channel=CODE.", field="channel")
