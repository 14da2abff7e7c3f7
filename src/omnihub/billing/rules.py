"""Pure billing logic: no I/O. Taxes per line, refund allocation, split-tender status, document numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal, NamedTuple

from omnihub.billing import errors
from omnihub.core.money import minor_units

PaymentStatus = Literal["paid", "partially_paid", "unpaid"]
SERIES_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
NUMBER_DIGITS = 6


class TaxedAmount(NamedTuple):
    net: Decimal
    tax: Decimal
    gross: Decimal


class PaymentShare(NamedTuple):
    """What allocate_refund needs to know about one payment of an order."""

    payment_id: str
    method: str
    paid: Decimal
    already_refunded: Decimal


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-even (banker's) rounding to the currency's minor units."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def parse_percent(value: Decimal | str | int | float) -> Decimal:
    """A tax rate as people write it ("21.00"): 0 to 100, at most 4 decimals."""
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise errors.invalid_tax_rate() from None
    if not percent.is_finite() or not 0 <= percent <= 100 or percent != percent.quantize(Decimal("0.0001")):
        raise errors.invalid_tax_rate()
    return percent


def percent_to_rate(percent: Decimal) -> Decimal:
    """`21.00` (how people and the API write it) → `0.21` (what tax_line takes)."""
    return Decimal(percent) / Decimal(100)


def tax_line(amount: Decimal, rate: Decimal, prices_include_tax: bool, currency: str) -> TaxedAmount:
    """Tax for one line, rounded half-even per line to the currency's minor units. `rate` is a fraction (0.21).

    Net prices: the amount is the net; tax = net * rate. Gross prices: the amount is the gross;
    tax = gross - gross / (1 + rate). Either way net + tax == gross exactly."""
    if rate < 0:
        raise ValueError("a tax rate cannot be negative")
    if prices_include_tax:
        gross = round_money(amount, currency)
        tax = round_money(gross - gross / (1 + rate), currency)
        return TaxedAmount(net=gross - tax, tax=tax, gross=gross)
    net = round_money(amount, currency)
    tax = round_money(net * rate, currency)
    return TaxedAmount(net=net, tax=tax, gross=net + tax)


def allocate_refund(payments: Sequence[tuple[str, str, Decimal, Decimal]], amount: Decimal
                    ) -> list[tuple[str, Decimal]]:
    """Spread a refund over an order's payments, given oldest first as (payment_id, method, paid,
    already_refunded): the most recent payment is refunded first, and no payment gives back more than it took.

    Raises `refund_exceeds_paid` when the payments cannot cover the amount."""
    if amount < 0:
        raise ValueError("a refund amount cannot be negative")
    refundable = sum((Decimal(paid) - Decimal(done) for _, _, paid, done in payments), Decimal(0))
    if amount > refundable:
        raise errors.refund_exceeds_paid(refundable, amount)
    result: list[tuple[str, Decimal]] = []
    left = Decimal(amount)
    for payment_id, _method, paid, done in reversed(payments):
        if left <= 0:
            break
        take = min(left, Decimal(paid) - Decimal(done))
        if take > 0:
            result.append((payment_id, take))
            left -= take
    return result


def split_tender_status(total: Decimal, payments_sum: Decimal) -> PaymentStatus:
    """Nothing due (or all of it paid) is paid; some of it is partially paid; none is unpaid."""
    if payments_sum >= total:
        return "paid"
    if payments_sum > 0:
        return "partially_paid"
    return "unpaid"


def check_series(series: str) -> str:
    if not SERIES_PATTERN.fullmatch(series):
        raise errors.invalid_series(series)
    return series


def next_document_number(series: str, n: int) -> str:
    """`("INV-2026", 123)` → `"INV-2026-000123"`; numbers beyond six digits simply grow wider."""
    if n < 1:
        raise ValueError("document numbers start at 1")
    return f"{check_series(series)}-{n:0{NUMBER_DIGITS}d}"


# ---- payments at providers (billing.flow) ----------------------------------------------------------------------

PROVIDER_OPEN = ("pending", "started")  # waiting for the customer or the provider
PROVIDER_GAVE_UP = ("expired", "failed", "cancelled")


def provider_step(status: str, outcome: str, *, short: bool = False) -> str:
    """What a verified notice with `outcome` does to a provider payment in `status` — statuses only move forward:

    `pay` (money in: record it, authorised or captured), `capture` (authorised → captured), `short` (less than
    asked arrived: failed), `late` (money for a payment the hub gave up on: give it back), `fail`, `authorize`
    (the buyer approved: the hub authorises), `note` (underpaid: stays open with the reason), `refunded`,
    `unchanged` (a notice that comes after the fact: a failure after the success…), `ignored`."""
    if outcome in ("authorized", "captured"):
        if short:
            return "short" if status in PROVIDER_OPEN else "unchanged"
        if status in PROVIDER_OPEN:
            return "pay"
        if status == "authorized" and outcome == "captured":
            return "capture"
        return "late" if status in PROVIDER_GAVE_UP else "unchanged"
    if outcome == "failed":
        return "fail" if status in PROVIDER_OPEN else "unchanged"
    if outcome == "approved":
        return "authorize" if status in PROVIDER_OPEN else "unchanged"
    if outcome == "underpaid":
        return "note" if status in PROVIDER_OPEN else "unchanged"
    return "refunded" if outcome == "refunded" else "ignored"
