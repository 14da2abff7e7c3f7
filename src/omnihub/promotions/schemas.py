"""The promotions room's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StringConstraints

from omnihub.core.schemas import AmountIn, Code, Currency, Instant, MoneyStr, Sku, Strict

Kind = Literal["percent", "fixed", "free_shipping"]
PromotionCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{3,40}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class PromotionCreate(Strict):
    code: PromotionCode | None = Field(default=None, description="Case-insensitive; leave out for an automatic "
                                       "promotion.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Kind
    value: AmountIn | None = Field(default=None, description="percent: 0 < value <= 100; fixed: the amount off "
                                  "(decimal string); free_shipping: none.")
    currency: Currency | None = Field(default=None, description="Required by `fixed` and `min_subtotal`; the "
                                      "promotion is then valid in that currency only.")
    channels: list[Code] = Field(default_factory=list, max_length=100, description="Empty: every channel.")
    customer_ids: list[Label] = Field(default_factory=list, max_length=10_000)
    customer_tags: list[Label] = Field(default_factory=list, max_length=100,
                                       description="Segments. With customer_ids empty too: every customer.")
    skus: list[Sku] = Field(default_factory=list, max_length=10_000)
    categories: list[Label] = Field(default_factory=list, max_length=100,
                                    description="With skus empty too: the whole basket.")
    starts_at: Instant | None = Field(default=None, description="Default: now.")
    ends_at: Instant | None = None
    min_subtotal: AmountIn | None = Field(default=None, description="Of the eligible lines, before discounts.")
    usage_limit: StrictInt | None = Field(default=None, ge=1, le=2_000_000_000)
    per_customer_limit: StrictInt | None = Field(default=None, ge=1, le=2_000_000_000)
    priority: StrictInt = Field(default=0, ge=-1_000_000, le=1_000_000, description="Higher applies first.")
    exclusive: bool = Field(default=False, description="Applies alone: no other promotion with it.")
    stackable: bool = Field(default=False, description="This code may be combined with other stackable codes.")
    active: bool = True


class PromotionUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = Field(default=None, description="null: no end.")
    usage_limit: StrictInt | None = Field(default=None, ge=1, le=2_000_000_000, description="null: no limit.")
    per_customer_limit: StrictInt | None = Field(default=None, ge=1, le=2_000_000_000, description="null: no limit.")
    priority: StrictInt | None = Field(default=None, ge=-1_000_000, le=1_000_000)


class PromotionOut(BaseModel):
    id: str
    code: str | None
    name: str
    kind: Kind
    value: MoneyStr
    currency: str | None
    channels: list[str]
    customer_ids: list[str]
    customer_tags: list[str]
    skus: list[str]
    categories: list[str]
    starts_at: datetime
    ends_at: datetime | None
    min_subtotal: MoneyStr | None
    usage_limit: int | None
    per_customer_limit: int | None
    used: int
    priority: int
    exclusive: bool
    stackable: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class EvaluateLine(Strict):
    sku: Sku
    category: str = Field(min_length=1, max_length=120)
    quantity: StrictInt = Field(ge=1, le=1_000_000)
    unit_price: AmountIn = Field(ge=0, description="Decimal string in the basket's currency.")


class EvaluateIn(Strict):
    channel: Code
    currency: Currency | None = Field(default=None, description="Default: the channel's currency.")
    customer_id: str | None = Field(default=None, min_length=1, max_length=40)
    customer_tags: list[Label] = Field(default_factory=list, max_length=100)
    lines: list[EvaluateLine] = Field(min_length=1, max_length=1000)
    shipping: AmountIn = Field(default=Decimal(0), ge=0)
    codes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(default_factory=list, max_length=10)


class AppliedOut(BaseModel):
    promotion_id: str
    code: str | None
    kind: Kind
    amount: MoneyStr


class DiscountsOut(BaseModel):
    currency: str
    lines: dict[str, MoneyStr] = Field(description="Discount per SKU line.")
    shipping: MoneyStr
    total: MoneyStr
    applied: list[AppliedOut]
