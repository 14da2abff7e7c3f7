"""The billing room's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from omnihub.core.schemas import AmountIn, Code, MoneyStr, Strict


class PaymentMethodCreate(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    gateway: str = Field(default="manual", min_length=1, max_length=32,
                         description="Which gateway moves the money: `manual` (offline) or `store_credit`.")
    active: bool = True


class PaymentMethodUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class PaymentMethodOut(BaseModel):
    code: str
    name: str
    gateway: str
    active: bool


class TaxRateIn(Strict):
    rate: AmountIn = Field(description='Percentage as a decimal string, e.g. "21.00".')


class TaxRateOut(BaseModel):
    tax_class: str
    country: str
    rate: MoneyStr = Field(description='Percentage, e.g. "21.00".')


class PaymentOut(BaseModel):
    id: str
    method: str
    gateway: str
    customer_id: str | None
    amount: MoneyStr
    refunded: MoneyStr
    currency: str
    reference: str | None
    created_at: datetime


class PaymentListItemOut(PaymentOut):
    """A payment in `GET /payments` (without `order=`): which order it paid."""

    order_id: str


class RefundOut(BaseModel):
    id: str
    refund_id: str
    payment_id: str
    return_id: str | None
    method: str
    gateway: str
    amount: MoneyStr
    currency: str
    reason: str
    reference: str | None
    created_at: datetime


class OrderPaymentsOut(BaseModel):
    order_id: str
    currency: str | None
    total: MoneyStr | None
    status: Literal["paid", "partially_paid", "unpaid"]
    paid: MoneyStr
    refunded: MoneyStr
    payments: list[PaymentOut]
    refunds: list[RefundOut]


class DocumentOut(BaseModel):
    number: str
    kind: Literal["invoice", "credit_note"]
    series: str
    sequence: int
    order_id: str
    return_id: str | None
    invoice_number: str | None = Field(description="For a credit note: the invoice it corrects, if any.")
    currency: str
    lines: list[dict[str, Any]]
    totals: dict[str, Any]
    issued_at: datetime


# ---- external providers ------------------------------------------------------------------------------------------

Secret = Field(default=None, min_length=1, max_length=500)


class ProviderAccountIn(Strict):
    """A channel's account at one provider. Which fields a provider takes (and needs) is its own: Stripe
    `secret_key`, `webhook_secret`, `publishable_key`; Redsys `merchant_code`, `terminal`, `secret`; BTCPay
    `api_key`, `store_id`, `webhook_secret`; PayPal `client_id`, `client_secret`, `webhook_id`. Every provider
    takes `api_base` (its API's address; the default is the provider's production address) and `hold_minutes`
    (how long an order's stock is held for a payment nobody completes; default 30). Secrets are sealed at rest
    and never shown again."""

    secret_key: str | None = Secret
    webhook_secret: str | None = Secret
    publishable_key: str | None = Field(default=None, max_length=500)
    api_key: str | None = Secret
    client_id: str | None = Secret
    client_secret: str | None = Secret
    webhook_id: str | None = Field(default=None, max_length=200)
    store_id: str | None = Field(default=None, max_length=200)
    merchant_code: str | None = Field(default=None, max_length=32)
    terminal: str | None = Field(default=None, max_length=8)
    secret: str | None = Secret
    form_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    notify_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://",
                                   description="Where the provider posts its notifications (Redsys' MerchantURL).")
    url_ok: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    url_ko: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    redirect_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    api_base: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    hold_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)


class ProviderAccountOut(BaseModel):
    channel: str
    provider: str
    config: dict[str, Any]
    secrets_set: list[str] = Field(description="Names of the secrets stored (sealed); their values are never shown.")
    updated_at: datetime


class ProviderPaymentOut(BaseModel):
    id: str
    order_id: str
    provider: str
    method: str
    amount: MoneyStr
    currency: str
    status: str
    reference: str | None = Field(description="The provider's own id for the payment.")
    next_action: dict[str, Any] | None = Field(
        description="What the front end does next: Stripe's client_secret, Redsys' form, BTCPay's checkout link.")
    reason: str | None
    expires_at: datetime
    captured: MoneyStr


class ProviderRefundOut(BaseModel):
    id: str
    provider: str
    amount: MoneyStr
    currency: str
    status: str
    reference: str | None
    reason: str | None


class OrderProviderPaymentsOut(BaseModel):
    order_id: str
    payments: list[ProviderPaymentOut]
    refunds: list[ProviderRefundOut]


class NotificationAck(BaseModel):
    """A provider's notification, verified and stored: the worker applies it (`queued`), or that event was
    stored before (`duplicate`) and nothing was stored again."""

    duplicate: bool
    outcome: Literal["queued", "duplicate"]
    event_id: str


class NotificationOut(BaseModel):
    """A provider notification as stored: `pending` (the worker applies it at `next_attempt_at`), `done` (applied;
    `result` says what it did; kept a week) or `failed` (the worker gave up after its attempts; `error` says
    why — retry it once the cause is fixed)."""

    id: str
    provider: str
    event_id: str
    status: Literal["pending", "done", "failed"]
    attempts: int
    error: str | None
    notice: dict[str, Any]
    result: dict[str, Any] | None
    received_at: datetime
    processed_at: datetime | None
    next_attempt_at: datetime | None


class NotificationReceipt(BaseModel):
    duplicate: bool
    outcome: str
    payment_id: str | None
    status: str | None


class ReturnReceipt(NotificationReceipt):
    """The customer's return, verified with the provider: what it did (`duplicate` when the notification, or an
    earlier return, had already said it) and the order to show."""

    order_id: str


# ---- gift cards ----------------------------------------------------------------------------------------------


class GiftCardIn(Strict):
    amount: AmountIn = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    expires_at: datetime | None = None
    customer_id: str | None = Field(default=None, max_length=40)


class GiftCardTopUp(Strict):
    code: str = Field(min_length=4, max_length=40)
    amount: AmountIn = Field(gt=0)


class GiftCardCode(Strict):
    code: str = Field(min_length=4, max_length=40)


class GiftCardOut(BaseModel):
    id: str
    code: str | None = Field(description="Shown once, when the card is issued; never again.")
    last4: str
    currency: str
    balance: MoneyStr
    status: str
    expires_at: datetime | None
    issued_at: datetime
