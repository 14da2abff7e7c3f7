"""Pure catalog logic: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from omnihub.catalog import errors
from omnihub.core.money import parse_amount


def normalise_price_list(prices: Sequence[tuple[str, Decimal]], currency: str) -> list[tuple[str, Decimal]]:
    """Validate a price list as a whole (all-or-nothing): one price per SKU, amounts valid in the currency."""
    seen: set[str] = set()
    result = []
    for index, (sku, amount) in enumerate(prices):
        if sku in seen:
            raise errors.duplicate_sku_in_request(sku, index)
        seen.add(sku)
        result.append((sku, parse_amount(amount, currency, field=f"{index}.amount")))
    return result


def missing(requested: Sequence[str], existing: set[str]) -> list[str]:
    """The requested codes that do not exist, in request order, without repeats."""
    return list(dict.fromkeys(code for code in requested if code not in existing))
