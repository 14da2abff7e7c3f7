"""The catalog's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import Conflict, NotFound, ValidationFailed


def product_not_found(sku: str, field: str | None = None) -> NotFound:
    return NotFound("product_not_found", f"No product with SKU '{sku}'.", field=field, sku=sku)


def product_exists(sku: str) -> Conflict:
    return Conflict("product_exists", f"A product with SKU '{sku}' already exists.", field="sku", sku=sku)


def barcode_taken(barcode: str, sku: str) -> Conflict:
    return Conflict("barcode_taken", f"Barcode '{barcode}' already belongs to '{sku}'.", field="barcode",
                    barcode=barcode, sku=sku)


def channel_not_found(code: str, field: str | None = None) -> NotFound:
    return NotFound("channel_not_found", f"No channel '{code}'.", field=field, channel=code)


def channel_exists(code: str) -> Conflict:
    return Conflict("channel_exists", f"A channel '{code}' already exists.", field="code", channel=code)


def unknown_locations(codes: list[str]) -> ValidationFailed:
    return ValidationFailed("location_not_found", f"Unknown location(s): {', '.join(codes)}.", field="locations",
                            locations=codes)


def duplicate_sku_in_request(sku: str, index: int) -> ValidationFailed:
    return ValidationFailed("duplicate_sku", f"SKU '{sku}' appears more than once.", field=f"{index}.sku", sku=sku)


def price_list_not_found(code: str) -> NotFound:
    return NotFound("price_list_not_found", f"No price list '{code}'.", price_list=code)


def price_list_exists(code: str) -> Conflict:
    return Conflict("price_list_exists", f"A price list '{code}' already exists.", field="code", price_list=code)


def currency_mismatch(expected: str, got: str, field: str) -> ValidationFailed:
    return ValidationFailed("currency_mismatch", f"Expected {expected}, not {got}.", field=field)


def duplicate_location(field: str = "locations") -> ValidationFailed:
    return ValidationFailed("duplicate_location", "A location is listed twice.", field=field)
