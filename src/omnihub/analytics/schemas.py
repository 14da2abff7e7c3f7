"""The analytics room's response shapes (money as decimal strings, shares as decimal strings from 0 to 1)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Fresh(BaseModel):
    data_as_of: str = Field(description="When the rows these figures are made of were read (UTC).")


class SummaryItem(BaseModel):
    currency: str
    orders: int
    revenue: str = Field(description="Order totals net of discounts and of everything refunded on returns.")
    units: int = Field(description="Units sold net of units returned.")
    customers: int
    new_customers: int
    average_order_value: str | None
    repeat_customers: int
    repeat_rate: str | None
    omnichannel_customers: int
    omnichannel_share: str | None


class SummaryOut(Fresh):
    from_: str | None = Field(alias="from")
    to: str
    channel: str | None
    location: str | None
    items: list[SummaryItem] = Field(description="One entry per currency; figures are never summed across them.")

    model_config = {"populate_by_name": True}


class Point(BaseModel):
    period: str
    value: str | int


class Series(BaseModel):
    currency: str | None
    channel: str | None = None
    location: str | None = None
    points: list[Point]


class TimeseriesOut(Fresh):
    metric: str
    by: str
    split: str | None
    from_: str | None = Field(alias="from")
    to: str
    channel: str | None
    location: str | None
    series: list[Series]

    model_config = {"populate_by_name": True}


class CohortPeriod(BaseModel):
    offset: int
    customers: int
    share: str | None


class Cohort(BaseModel):
    cohort: str
    size: int
    periods: list[CohortPeriod]


class CohortsOut(Fresh):
    period: str
    to: str
    channel: str | None
    cohorts: list[Cohort]


class ChannelItem(BaseModel):
    channel: str
    currency: str
    orders: int
    revenue: str
    average_order_value: str | None
    customers: int
    sessions: int
    conversion: str | None
    started_elsewhere: int
    started_elsewhere_share: str | None


class ChannelsOut(Fresh):
    from_: str | None = Field(alias="from")
    to: str
    items: list[ChannelItem]

    model_config = {"populate_by_name": True}


class Group(BaseModel):
    customers: int
    orders: int
    spend: str | None
    average_order_value: str | None
    spend_per_customer: str | None
    orders_per_customer: str | None


class OmnichannelItem(BaseModel):
    currency: str
    one_channel: Group
    two_or_more_channels: Group


class OmnichannelOut(Fresh):
    from_: str | None = Field(alias="from")
    to: str
    items: list[OmnichannelItem]

    model_config = {"populate_by_name": True}


class ClvCustomer(BaseModel):
    customer_id: str
    orders: int
    first_order_on: str
    last_order_on: str
    historic_clv: str
    predicted_purchases: float | None
    probability_alive: float | None
    predicted_clv: str | None


class ClvItem(BaseModel):
    currency: str
    customers: int
    historic_clv: str
    predicted_clv: str | None
    model: dict[str, object]
    top: list[ClvCustomer]


class ClvOut(Fresh):
    as_of: str
    horizon_days: int
    items: list[ClvItem]


class StockItem(BaseModel):
    sku: str
    location: str
    on_hand: int
    sold: int
    average_on_hand: float
    turnover: float | None
    days_of_cover: float | None
    stock_out_days: float


class InventoryOut(Fresh):
    from_: str | None = Field(alias="from")
    to: str
    days: float
    items: list[StockItem]

    model_config = {"populate_by_name": True}


class Nps(BaseModel):
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None


class NpsChannel(Nps):
    channel: str


class NpsLocation(Nps):
    location: str


class NpsOut(Fresh):
    from_: str | None = Field(alias="from")
    to: str
    overall: Nps
    channels: list[NpsChannel]
    locations: list[NpsLocation]

    model_config = {"populate_by_name": True}
