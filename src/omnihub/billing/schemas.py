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
