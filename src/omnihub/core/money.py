"""Money is Decimal with an ISO 4217 currency; amounts travel as decimal strings."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from omnihub.core.errors import ValidationFailed

# Minor units for the currencies that are not the usual 2.
_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def parse_amount(value: str | int | float | Decimal, currency: str, *, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("invalid_amount", f"'{value}' is not a decimal amount.", field=field) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed("invalid_amount", "Amounts must be finite and not negative.", field=field)
    exponent = Decimal(1).scaleb(-minor_units(currency))
    if amount != amount.quantize(exponent):
        raise ValidationFailed(
            "invalid_amount",
            f"{currency} amounts have at most {minor_units(currency)} decimal places.",
            field=field,
        )
    return amount.quantize(exponent)


def format_amount(amount: Decimal, currency: str) -> str:
    return str(Decimal(amount).quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN))
