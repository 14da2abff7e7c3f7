"""The commerce room's I/O shapes (docs/contract.md: fields may be added, never renamed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from omnihub.core.schemas import AmountIn, Code, JsonObject, MoneyStr, Sku, Strict, ZonedInstant


class LineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(gt=0, le=100_000)


class AddressIn(Strict):
    line1: str = Field(min_length=1, max_length=300)
    city: str = Field(min_length=1, max_length=120)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class FulfilmentIn(Strict):
    type: Literal["ship", "pickup", "in_store"] = Field(
        description="ship: home delivery; pickup: click & collect at `location`; in_store: a counter sale.")
    location: Code | None = None
    address: AddressIn | None = None
    slot: str | None = Field(default=None, description="Pickup slot id (optional).")


class PaymentIn(Strict):
    method: str = Field(min_length=1, max_length=32)
    amount: AmountIn = Field(ge=0)
    code: str | None = Field(default=None, min_length=4, max_length=40,
                             description="A gift card's code (method `gift_card`).")


class OrderCreate(Strict):
    channel: Code
    customer: JsonObject | list[JsonObject] | None = Field(
        default=None, description="Identity hints: {email|phone|handle|loyalty|anonymous_id} or typed identities.")
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    fulfilment: FulfilmentIn | None = None
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)
    promotion_codes: list[str] = Field(default_factory=list, max_length=10)
    expected_total: AmountIn | None = Field(default=None, description="Refuse (409) if the total differs.")
    draft: bool = Field(default=False, description="Save as a draft (wholesale): priced, not allocated.")

    @model_validator(mode="after")
    def _fulfilment_unless_draft(self) -> OrderCreate:
        if not self.draft and self.fulfilment is None:
            raise ValueError("fulfilment is required unless the order is a draft")
        return self


class DraftLines(Strict):
    lines: list[LineIn] = Field(min_length=1, max_length=500)


class DraftSubmit(Strict):
    channel: Code | None = Field(default=None, description="The channel completing the draft (default: its own).")
    fulfilment: FulfilmentIn
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)
    promotion_codes: list[str] = Field(default_factory=list, max_length=10)
    expected_total: AmountIn | None = None


class OrderLineOut(BaseModel):
    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price: MoneyStr
    discount: MoneyStr
    tax: MoneyStr
    total: MoneyStr
    location: str | None
    fulfilled: int
    returned: int


class TotalsOut(BaseModel):
    subtotal: MoneyStr
    discount: MoneyStr = Field(description="Line discounts plus any discount on shipping.")
    shipping: MoneyStr = Field(description="The delivery fee before discounts.")
    shipping_tax: MoneyStr = Field(description="Tax on the delivery charge (at the highest rate of the goods); "
                                               "included in `tax`.")
    tax: MoneyStr
    total: MoneyStr
    currency: str


class PickupOut(BaseModel):
    location: str
    code: str | None = Field(default=None, description="Shown to admin and to associates of that store only.")
    status: str
    expires_at: datetime | None
    slot: str | None = None
    locked_until: datetime | None = Field(default=None, description="Too many wrong codes: collection is locked "
                                          "until then (an admin can unlock it: DELETE /orders/{id}/pickup/lock).")


class StatusChangeOut(BaseModel):
    """One move along the order's state machine."""

    from_: str | None = Field(alias="from", description="None for the order's first status.")
    to: str
    actor: str | None = Field(description="The API key that made the move (None: the hub itself, e.g. expiry).")
    note: str | None
    at: datetime

    model_config = {"populate_by_name": True}


class OrderOut(BaseModel):
    id: str
    number: str
    status: str
    payment_status: str
    channel: str
    customer_id: str | None
    lines: list[OrderLineOut]
    totals: TotalsOut
    fulfilment: dict[str, Any]
    pickup: PickupOut | None = None
    promised_at: datetime | None
    sourcing: dict[str, Any]
    promotions: list[dict[str, Any]]
    invoice_number: str | None
    price_list: str | None
    contact: dict[str, str] | None = Field(
        default=None, description="Identifiers given with the order that identify no one (block-listed "
                                  "placeholders such as no@email.com): kept here, never used to find or join "
                                  "a profile.")
    external: dict[str, Any] | None = Field(
        default=None, description="An order a shop sold itself (Shopify, WooCommerce): its system, id and number "
                                  "there, and units the hub did not have (`oversold`).")
    created_at: datetime
    updated_at: datetime


class CartCreate(Strict):
    channel: Code
    identity: JsonObject | list[JsonObject] = Field(default_factory=dict)


class CartLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: MoneyStr
    price_changed: bool = Field(description="The channel's price moved since the line was added.")


class CartOut(BaseModel):
    id: str
    channel: str
    customer_id: str | None
    status: str
    lines: list[CartLineOut]
    subtotal: MoneyStr
    currency: str
    hold: dict[str, Any] | None
    order_id: str | None
    updated_at: datetime


class CheckoutIn(Strict):
    channel: Code | None = Field(default=None, description="Where the checkout happens (default: the cart's).")
    customer: JsonObject | list[JsonObject] | None = None
    fulfilment: FulfilmentIn
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)
    promotion_codes: list[str] = Field(default_factory=list, max_length=10)
    expected_total: AmountIn | None = None
    accept_price_changes: bool = False


class CollectIn(Strict):
    code: str = Field(min_length=1, max_length=12)


class ShipmentCreate(Strict):
    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=120)
    location: Code | None = None
    lines: list[LineIn] | None = Field(default=None, description="Default: everything waiting at that location.")


class ShipmentOut(BaseModel):
    id: str
    order_id: str
    location: str
    carrier: str
    tracking_number: str
    lines: list[dict[str, Any]]
    status: str
    shipped_at: datetime
    delivered_at: datetime | None


class ExchangeIn(Strict):
    channel: Code | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    payments: list[PaymentIn] = Field(default_factory=list, max_length=10)


class ReturnCreate(Strict):
    order: str
    lines: list[LineIn] = Field(min_length=1, max_length=500)
    location: Code
    condition: Literal["resellable", "damaged"]
    refund_method: str = Field(default="original", min_length=1, max_length=32,
                               description='"original", "store_credit" or a payment method code')
    exchange: ExchangeIn | None = Field(default=None, description="A new order in the same step, at the counter.")


class ReturnOut(BaseModel):
    id: str
    order: str
    location: str
    condition: str
    lines: list[dict[str, Any]]
    refund: dict[str, Any]
    credit_note: str | None
    exchange_order: OrderOut | None = None
    created_at: datetime


class PaymentCreate(Strict):
    method: str = Field(min_length=1, max_length=32)
    amount: AmountIn = Field(gt=0)


class SlotCreate(Strict):
    location: Code
    starts_at: ZonedInstant = Field(description="With its UTC offset: the store's wall clock is no guess.")
    ends_at: ZonedInstant
    capacity: StrictInt = Field(gt=0, le=10_000)


class SlotOut(BaseModel):
    id: str
    location: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int


class CapacitySet(Strict):
    daily_orders: StrictInt = Field(ge=0, le=1_000_000, description="Orders this location may take per day (0: none).")
