"""External payment providers behind one interface. Each speaks its provider's documented protocol over HTTP
(through the SSRF guard) and knows nothing of the database: `billing.flow` decides when to call them —
always after the order's transaction committed, never inside it — and records what they answered.

A provider module registers one `Provider`; `provider_for(name)` finds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class ProviderFailed(Exception):
    """The provider refused or could not be reached. `permanent`: asking again will not help (a declined
    card, a bad key); otherwise the driver tries again later."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class NotVerified(Exception):
    """A notification whose signature does not check out (forged, replayed too late, wrong secret)."""


@dataclass(frozen=True)
class Account:
    """A channel's account at a provider: public settings and the unsealed secrets (in memory only)."""

    channel: str
    provider: str
    config: Mapping[str, Any]
    secrets: Mapping[str, str] = field(repr=False)  # never in a log line or a traceback's locals

    def base(self, default: str) -> str:
        return str(self.config.get("api_base") or default).rstrip("/")


@dataclass(frozen=True)
class PaymentAsk:
    """What the hub asks a provider to take: ours is `payment_id` (the provider keeps it as metadata / order
    reference, so a notification names it), in the currency's minor units as `minor`."""

    payment_id: str
    order_id: str
    method: str
    amount: Decimal
    minor: int
    currency: str
    reference: str | None = None  # the provider's, once started
    details: Mapping[str, Any] = field(default_factory=dict)  # the provider's further ids (authorization, capture)
    capture_minor: int | None = None  # what a capture takes: `minor` less what refunds released before it

    @property
    def to_capture(self) -> int:
        return self.minor if self.capture_minor is None else self.capture_minor


@dataclass(frozen=True)
class Started:
    """The provider's reference for the payment and what the front end needs next (client_secret, an approve
    link, a form to post, a checkout link)."""

    reference: str
    next_action: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """A verified notification, in the hub's words. `outcome`: authorized (money reserved, capture later),
    captured (money taken), failed, refunded, or ignored (an event the hub does not act on). `payment_id` is
    ours when the provider echoes it; else `reference` (the provider's) finds the payment."""

    event_id: str
    kind: str
    outcome: str
    payment_id: str | None = None
    reference: str | None = None
    amount_minor: int | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str
    secret_fields: tuple[str, ...]  # sealed, never returned
    public_fields: tuple[str, ...]  # returned as configured
    required_fields: tuple[str, ...]
    authorises: bool  # authorise now, capture on shipment or pickup

    def start(self, account: Account, ask: PaymentAsk, guard: Any) -> Started: ...

    def capture(self, account: Account, ask: PaymentAsk, guard: Any) -> dict[str, Any] | None: ...

    def cancel(self, account: Account, ask: PaymentAsk, guard: Any) -> None: ...

    def refund(self, account: Account, ask: PaymentAsk, minor: int, refund_id: str, guard: Any) -> str: ...

    def verify(self, raw: bytes, headers: Mapping[str, str], accounts: list[Account], guard: Any) -> Notice: ...

    def list_payments(self, account: Account, since: int, until: int, guard: Any) -> list[dict[str, Any]]: ...


_registry: dict[str, Provider] = {}

# The providers `_load` brings in. Asking whether a gateway is one of them must not import them: the `stripe`
# library alone takes a second to import, and every order asks (a stall for the first orders of each process).
BUILT_IN = frozenset({"stripe", "paypal", "redsys", "btcpay"})


def is_provider(name: str) -> bool:
    return name in BUILT_IN or name in _registry


def register(provider: Provider) -> Provider:
    _registry[provider.name] = provider
    return provider


def provider_for(name: str) -> Provider | None:
    _load()
    return _registry.get(name)


def provider_names() -> list[str]:
    _load()
    return sorted(_registry)


def _load() -> None:
    from omnihub.billing.providers import btcpay, paypal, redsys, stripe_provider  # noqa: F401  (they register)
