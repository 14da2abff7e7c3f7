"""The catalog's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator

from omnihub.core.durations import format_duration, parse_duration
from omnihub.core.schemas import AmountIn, Code, Currency, JsonObject, MoneyStr, Sku, Strict

ChannelKind = Literal["web", "app", "store", "marketplace", "social", "wholesale"]


class ProductCreate(Strict):
    sku: Sku
    name: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=120)
    barcode: str | None = Field(default=None, min_length=1, max_length=64)
    group: str | None = Field(default=None, min_length=1, max_length=64, description="Variants share a group.")
    attributes: JsonObject = Field(default_factory=dict, description="Variant attributes, e.g. size, colour.")
    tax_class: str = Field(default="standard", pattern=r"^[a-z0-9_]{1,32}$", description="Selects the tax rate.")


class ProductUpdate(Strict):
    name: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=120)
    barcode: str | None = Field(default=None, min_length=1, max_length=64)
    group: str | None = Field(default=None, min_length=1, max_length=64)
    attributes: JsonObject = Field(default_factory=dict)
    tax_class: str = Field(default="standard", pattern=r"^[a-z0-9_]{1,32}$")


class ProductOut(BaseModel):
    sku: str
    name: str
    category: str
    barcode: str | None
    group: str | None
    attributes: dict[str, Any]
    tax_class: str
    created_at: datetime
    updated_at: datetime


class ChannelCreate(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    currency: Currency = Field(description="ISO 4217")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                                description="ISO 3166 alpha-2: default region for phones and taxes")
    locations: list[Code] = Field(default_factory=list, description="Locations that fulfil this channel, in order.")
    stock_buffer: StrictInt = Field(default=0, ge=0, le=1_000_000, description="Units held back from this channel.")
    prices_include_tax: bool = Field(default=True, description="Channel prices are gross (B2C) or net (B2B).")
    shipping_fee: AmountIn = Field(default=Decimal(0), ge=0, description="Flat home-delivery fee.")
    cart_hold_minutes: StrictInt = Field(default=0, ge=0, le=24 * 60,
                                         description="Carts hold stock this long (0: no hold).")
    cart_abandoned_after: str | None = Field(
        default=None, max_length=40, description="ISO 8601 duration (`PT4H`, seconds allowed): a cart with a known "
        "customer and items untouched this long is abandoned (`cart.abandoned`). Null: never.")

    @field_validator("cart_abandoned_after")
    @classmethod
    def _abandoned_after(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # the service stores it as seconds
        return value


class ChannelUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    locations: list[Code] | None = None
    stock_buffer: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    prices_include_tax: bool | None = None
    shipping_fee: AmountIn | None = Field(default=None, ge=0)
    cart_hold_minutes: StrictInt | None = Field(default=None, ge=0, le=24 * 60)
    cart_abandoned_after: str | None = Field(default=None, max_length=40, description="ISO 8601 duration; null: "
                                             "no abandoned-cart scan for this channel.")

    @field_validator("cart_abandoned_after")
    @classmethod
    def _abandoned_after(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # the service stores it as seconds
        return value


class ChannelOut(BaseModel):
    code: str
    name: str
    kind: ChannelKind
    currency: str
    country: str | None
    locations: list[str]
    stock_buffer: int
    prices_include_tax: bool
    shipping_fee: MoneyStr
    cart_hold_minutes: int
    cart_abandoned_after: str | None = None

    @field_validator("cart_abandoned_after", mode="before")
    @classmethod
    def _as_duration(cls, value: object) -> str | None:
        return format_duration(value) if isinstance(value, int) else value  # type: ignore[return-value]


class PriceIn(Strict):
    sku: Sku
    amount: AmountIn = Field(description="Decimal string in the channel's currency, e.g. \"19.90\".")


class PriceOut(BaseModel):
    sku: str
    amount: MoneyStr
    currency: str


class PriceListCreate(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    currency: Currency = Field()


class PriceListPriceIn(Strict):
    sku: Sku
    amount: AmountIn
    min_quantity: StrictInt = Field(default=1, ge=1, le=1_000_000)


class PriceListPriceOut(BaseModel):
    sku: str
    amount: MoneyStr
    min_quantity: int


class PriceListOut(BaseModel):
    code: str
    name: str
    currency: str
    prices: list[PriceListPriceOut]
    customers: list[str]
