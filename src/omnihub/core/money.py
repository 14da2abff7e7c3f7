"""Money is Decimal with an ISO 4217 currency; amounts travel as decimal strings."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from omnihub.core.errors import ValidationFailed

# Money columns are NUMERIC(18, 4): below 10**14. One amount sent to us stays far below that, so a total of
# many lines of many units still fits.
MAX_AMOUNT = Decimal(10) ** 9

@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (EUR 2, JPY 0, KWD 3), from Babel's copy of the Unicode
    CLDR."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency.upper()))


@lru_cache(maxsize=1)
def _currencies_in_use() -> frozenset[str]:
    """Currencies that are legal tender in some territory today, from Babel's copy of the Unicode CLDR (a
    maintained list: not XXX, XTS, precious metals or withdrawn codes)."""
    from babel import Locale
    from babel.numbers import get_territory_currencies

    today = date.today()
    codes: set[str] = set()
    for territory in Locale("en").territories:
        if len(territory) == 2 and territory.isalpha():
            codes.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(codes)


def is_currency(code: str) -> bool:
    return code in _currencies_in_use()


def parse_amount(value: str | int | float | Decimal, currency: str, *, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("invalid_amount", f"'{value}' is not a decimal amount.", field=field) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed("invalid_amount", "Amounts must be finite and not negative.", field=field)
    if amount >= MAX_AMOUNT:
        raise ValidationFailed("invalid_amount", f"Amounts must be less than {MAX_AMOUNT:,}.", field=field)
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
