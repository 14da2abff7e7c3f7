"""An order paid at an external provider (Stripe, Redsys, BTCPay…): which of its payments wait for a provider,
and opening them in the order's transaction. The order is written `awaiting_payment` with its stock held;
nothing is asked of the provider here — billing's driver starts the payment after commit
(`billing.flow.drive`), and `payment_outcomes` moves the order when the provider's notification arrives."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.billing import flow as billing_flow
from omnihub.billing import provider_accounts
from omnihub.commerce import errors
from omnihub.commerce.pricing import Pricing
from omnihub.core.clock import Clock
from omnihub.core.errors import ValidationFailed
from omnihub.core.money import parse_amount

DEFAULT_HOLD_MINUTES = 30  # how long stock is held for a payment nobody completes (per account: hold_minutes)


def split_tenders(conn: Connection, payments: Sequence[dict[str, Any]], *, currency: str, counter_sale: bool
                  ) -> tuple[list[dict[str, Any]], list[tuple[int, str, str, Decimal]]]:
    """(payments taken now, payments at providers as (index, method, provider, amount))."""
    now_paid, at_provider = [], []
    for index, payment in enumerate(payments):
        method = payment["method"]
        provider = billing_flow.provider_of_method(conn, method) if isinstance(method, str) else None
        if provider is None:
            now_paid.append({"method": method, "amount": payment["amount"],
                             **({"code": payment["code"]} if payment.get("code") else {})})
            continue
        if counter_sale:
            raise ValidationFailed("payment_method_not_here", f"'{method}' is paid at an external provider, not "
                                   "at a counter sale.", field=f"payments.{index}.method", method=method)
        amount = parse_amount(payment["amount"], currency, field=f"payments.{index}.amount")
        if amount <= 0:
            raise ValidationFailed("invalid_amount", "A payment amount must be greater than zero.",
                                   field=f"payments.{index}.amount")
        at_provider.append((index, method, provider, amount))
    return now_paid, at_provider


def open_at_providers(conn: Connection, clock: Clock, order: dict[str, Any], *, pricing: Pricing,
                      paid: dict[str, Any], tenders: list[tuple[int, str, str, Decimal]]) -> None:
    """The order will be paid at providers: what is owed after the payments taken now must be covered (no
    more, no less), and each payment waits as long as its account's `hold_minutes`."""
    owed = Decimal(pricing.total) - Decimal(paid["paid"])
    asked = sum((amount for *_, amount in tenders), Decimal(0))
    if asked != owed:
        raise errors.payment_required(str(owed), str(asked)) if asked < owed else ValidationFailed(
            "payment_exceeds_total", f"The payments add up to more than the {owed} {pricing.currency} owed.",
            field="payments")
    holds = []
    for _, _, provider, _ in tenders:
        account = provider_accounts.account_config(conn, order["channel_code"], provider)
        holds.append(int((account or {}).get("hold_minutes") or DEFAULT_HOLD_MINUTES))
    billing_flow.open_payments(conn, clock, order_id=order["id"], channel=order["channel_code"],
                               customer_id=order["customer_id"], currency=pricing.currency, tenders=tenders,
                               expires_in=timedelta(minutes=min(holds)))
