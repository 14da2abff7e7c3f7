"""One way to turn what the rooms hold into plain JSON values, for event data, JSON columns and exports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """Decimals become fixed-point strings (money: never an exponent, never a float), dates and times ISO 8601,
    tuples lists, keys strings; everything else is returned as it is."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
