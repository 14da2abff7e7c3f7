"""Payment gateways: how money actually moves for a payment method. A method names its gateway; the registry
maps gateway names to implementations. Gateways run inside the caller's transaction, so a failure anywhere
in the use case rolls their bookkeeping back too.

Shipped: `manual` (offline tender — cash, card terminal, bank transfer…: records only) and `store_credit`
(the customer's wallet, spent and credited atomically). An online provider (card acquirer, PayPal…) is one
more class with the same two methods, registered under its name."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from sqlalchemy.engine import Connection

from omnihub.billing import errors
from omnihub.core.clock import Clock
from omnihub.customers import activity as customer_activity


class PaymentGateway(Protocol):
    name: str

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        """Take `amount`; return the gateway's reference for it. Raise a DomainError to refuse."""
        ...

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        """Give `amount` back against payment `payment_id`; return the gateway's reference."""
        ...


class ManualGateway:
    """Offline tender settled outside the hub (cash drawer, card terminal, bank transfer): records only."""

    name = "manual"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        return f"manual:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        return f"manual-refund:{payment_id}"


class StoreCreditGateway:
    """The wallet on the customer profile, usable in every channel."""

    name = "store_credit"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        if customer_id is None:
            raise errors.customer_required("customer_id")
        # The customers room locks the profile row (FOR UPDATE on PostgreSQL; SQLite writers are already
        # exclusive), sums the ledger and refuses with 409 insufficient_store_credit: never below zero.
        customer_activity.spend_store_credit(conn, clock, customer_id, amount, currency,
                                             reason=f"payment {payment_id}")
        return f"store_credit:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
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
               amount: Decimal, currency: str) -> str:
        raise errors.payment_not_async(self.name, "payments")

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        from omnihub.billing import flow  # flow builds on service, which builds on this module

        return flow.owe_refund(conn, clock, payment_id=payment_id, amount=amount, currency=currency)


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
for _provider in ("stripe", "redsys", "btcpay", "paypal"):
    register_gateway(ProviderGateway(_provider))
