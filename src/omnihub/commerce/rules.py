"""Pure commerce logic: the order state machine, money splitting and totals. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from omnihub.commerce import errors
from omnihub.core.money import minor_units

# Every status an order can be in, and where it may go next.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"pending_payment", "awaiting_payment", "paid", "cancelled"}),
    "pending_payment": frozenset({"awaiting_payment", "paid", "cancelled"}),
    # Paid at an external provider: its verified notification makes it paid; failure or expiry cancels it.
    "awaiting_payment": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"ready_for_pickup", "partially_shipped", "shipped", "collected", "cancelled"}),
    "ready_for_pickup": frozenset({"collected", "cancelled"}),
    "partially_shipped": frozenset({"partially_shipped", "shipped"}),
    "shipped": frozenset({"delivered", "partially_returned", "returned"}),
    "delivered": frozenset({"partially_returned", "returned"}),
    "collected": frozenset({"partially_returned", "returned"}),
    "partially_returned": frozenset({"partially_returned", "returned"}),
    "returned": frozenset(),
    "cancelled": frozenset(),
}
STATUSES = tuple(TRANSITIONS)


def transition(order_id: str, current: str, wanted: str) -> str:
    """The next status, or a 409 `illegal_transition`."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise errors.illegal_transition(order_id, current, wanted)
    return wanted


def after_fulfilment(quantities: Sequence[tuple[int, int]]) -> str:
    """(ordered, fulfilled) per line → shipped when everything left, else partially shipped."""
    return "shipped" if all(done >= ordered for ordered, done in quantities) else "partially_shipped"


def after_return(quantities: Sequence[tuple[int, int]]) -> str:
    """(ordered, returned) per line."""
    return "returned" if all(back >= ordered for ordered, back in quantities) else "partially_returned"


def quantize(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def split_amount(amount: Decimal, weights: Sequence[int], currency: str) -> list[Decimal]:
    """Share an amount by weights in the currency's minor units; the parts add up exactly."""
    total = sum(weights)
    if total == 0:
        return [Decimal(0)] * len(weights)
    parts = [quantize(amount * w / total, currency) for w in weights]
    parts[max(range(len(weights)), key=lambda i: weights[i])] += amount - sum(parts)
    return parts


@dataclass(frozen=True)
class LineAmounts:
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_amounts(unit_price: Decimal, quantity: int, discount: Decimal, rate: Decimal, prices_include_tax: bool,
                 currency: str) -> LineAmounts:
    """One line's tax and total. `rate` is a percentage (21 for 21 %)."""
    amount = quantize(unit_price * quantity - discount, currency)
    fraction = rate / Decimal(100)
    if prices_include_tax:
        net = quantize(amount / (1 + fraction), currency)
        return LineAmounts(net=net, tax=amount - net, gross=amount)
    tax = quantize(amount * fraction, currency)
    return LineAmounts(net=amount, tax=tax, gross=amount + tax)


def shipping_amounts(fee: Decimal, discount: Decimal, line_rates: Sequence[Decimal], prices_include_tax: bool,
                     currency: str) -> tuple[Decimal, LineAmounts]:
    """The delivery charge's tax rate and amounts. Shipping follows the goods it carries; with goods at several
    rates it takes the highest of them (the conservative reading: never under-taxed). No goods, no rate."""
    rate = max(line_rates, default=Decimal(0))
    return rate, line_amounts(fee, 1, min(discount, fee), rate, prices_include_tax, currency)


def refund_for(line_total: Decimal, quantity: int, returned: int, already_returned: int, currency: str) -> Decimal:
    """What `returned` units of a line are worth, discounts and tax included. Cumulative, so the refunds of
    several partial returns add up to exactly the line's total."""
    def worth(units: int) -> Decimal:
        return line_total if units >= quantity else quantize(line_total * units / quantity, currency)

    return worth(already_returned + returned) - worth(already_returned)


def order_number(channel: str, number: int) -> str:
    return f"{channel.upper()}-{number:06d}"
