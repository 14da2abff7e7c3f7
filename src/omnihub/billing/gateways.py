"""Payment gateways: how money actually moves for a payment method. A method names its gateway; the registry
maps gateway names to implementations. Gateways run inside the caller's transaction, so a failure anywhere
in the use case rolls their bookkeeping back too.

Shipped: `manual` (offline tender — cash, card terminal, bank transfer…: records only) and `store_credit`
(the customer's wallet, spent and credited atomically). An online provider (card acquirer, PayPal…) is one
more class with the same two methods, registered under its name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from omnihub.billing import errors
from omnihub.core.clock import Clock
from omnihub.customers import activity as customer_activity


class PaymentGateway(Protocol):
    name: str

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        """Take `amount`; return the gateway's reference for it. Raise a DomainError to refuse. `details`: what
        the tender carried besides method and amount (a gift card's `code`)."""
        ...

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        """Give `amount` back against payment `payment_id`; return the gateway's reference. `details`:
        `original` (back to that payment's own tender, not a newly chosen method), `reference` (the payment's)."""
        ...


class ManualGateway:
    """Offline tender settled outside the hub (cash drawer, card terminal, bank transfer): records only."""

    name = "manual"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        return f"manual:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        return f"manual-refund:{payment_id}"


class StoreCreditGateway:
    """The wallet on the customer profile, usable in every channel."""

    name = "store_credit"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        if customer_id is None:
            raise errors.customer_required("customer_id")
        # The customers room locks the profile row (FOR UPDATE on PostgreSQL; SQLite writers are already
        # exclusive), sums the ledger and refuses with 409 insufficient_store_credit: never below zero.
        customer_activity.spend_store_credit(conn, clock, customer_id, amount, currency,
                                             reason=f"payment {payment_id}")
        return f"store_credit:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        if customer_id is None:
            raise errors.customer_required("customer_id")
        customer_activity.add_store_credit(conn, clock, customer_id, amount, currency,
                                           reason=f"refund of payment {payment_id}")
        return f"store_credit-refund:{payment_id}"


class ProviderGateway:
    """An external provider (Stripe, Redsys, BTCPay…): the money moves at the provider, after the order's
    commit, and its verified notification records the payment (billing.flow). A refund is owed through the
    provider's API: recorded here, sent after commit."""

    def __init__(self, name: str) -> None:
        self.name = name

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        raise errors.payment_not_async(self.name, "payments")

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        from omnihub.billing import flow  # flow builds on service, which builds on this module

        return flow.owe_refund(conn, clock, payment_id=payment_id, amount=amount, currency=currency)


class GiftCardGateway:
    """Gift cards (billing.gift_cards): spent by code, part of a balance at a time. A refund to the original
    tender goes back onto the same card; a refund chosen as `gift_card` is a new card (its code in the refund's
    reference, to hand to the customer)."""

    name = "gift_card"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        from omnihub.billing import gift_cards

        card_id = gift_cards.redeem(conn, clock, details.get("code"), amount, currency,
                                    reference=f"payment {payment_id}", field=details.get("field", "code"))
        return f"gift_card:{card_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str, **details: Any) -> str:
        from omnihub.billing import gift_cards

        paid_with = str(details.get("reference") or "")
        if details.get("original") and paid_with.startswith("gift_card:gft"):
            card_id = paid_with.split(":", 1)[1]
            gift_cards.credit(conn, clock, card_id, amount, reference=f"refund of payment {payment_id}")
            return f"gift_card:{card_id}"
        card = gift_cards.issue(conn, clock, amount=amount, currency=currency, customer_id=customer_id,
                                reference=f"refund of payment {payment_id}")
        return f"gift_card-new:{card['code']}"


_registry: dict[str, PaymentGateway] = {}


def register_gateway(gateway: PaymentGateway) -> None:
    _registry[gateway.name] = gateway


def gateway_for(name: str) -> PaymentGateway:
    try:
        return _registry[name]
    except KeyError:
        raise errors.gateway_unknown(name, gateway_names()) from None


def gateway_names() -> list[str]:
    return sorted(_registry)


register_gateway(ManualGateway())
register_gateway(StoreCreditGateway())
register_gateway(GiftCardGateway())
for _provider in ("stripe", "redsys", "btcpay", "paypal"):
    register_gateway(ProviderGateway(_provider))
