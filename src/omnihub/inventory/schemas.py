"""The inventory room's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator

from omnihub.core.schemas import Code, Sku, Strict


class LocationCreate(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["warehouse", "store"]
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    pickup: bool = Field(default=False, description="Customers may collect orders here.")


class LocationOut(BaseModel):
    code: str
    name: str
    kind: Literal["warehouse", "store"]
    lat: float | None
    lon: float | None
    pickup: bool


class StockSet(Strict):
    on_hand: StrictInt = Field(ge=0, le=100_000_000, description="Counted units on hand.")
    safety_stock: StrictInt | None = Field(default=None, ge=0, le=100_000_000,
                                     description="Units never offered to any channel.")
    reason: str | None = Field(default=None, max_length=300)


class LevelOut(BaseModel):
    location: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int = Field(description="on_hand - reserved - safety_stock, never negative.")
    ring_fenced: int = Field(description="Units held for particular channels (see quotas).")
    quarantined: int = Field(description="Returned damaged: here, but never sold.")
    quotas: dict[str, int]
    updated_at: datetime


class StockOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    available: int
    locations: list[LevelOut]


class Receipt(Strict):
    kind: Literal["receipt"]
    location: Code
    sku: Sku
    quantity: StrictInt = Field(gt=0, le=100_000_000)
    reference: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=300)


class Adjustment(Strict):
    kind: Literal["adjustment"]
    location: Code
    sku: Sku
    delta: StrictInt = Field(ge=-100_000_000, le=100_000_000,
                             description="Units added (+) or written off (-); never 0 (that changes nothing).")

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment of 0 units changes nothing; send a positive or negative delta")
        return value
    reason: str = Field(min_length=1, max_length=300)
    reference: str | None = Field(default=None, max_length=64)


class Transfer(Strict):
    kind: Literal["transfer"]
    from_location: Code
    to_location: Code
    sku: Sku
    quantity: StrictInt = Field(gt=0, le=100_000_000)
    reference: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=300)


Movement = Annotated[Receipt | Adjustment | Transfer, Field(discriminator="kind")]


class MovementBatch(Strict):
    movements: list[Movement] = Field(min_length=1, max_length=500)


class QuotaSet(Strict):
    units: StrictInt = Field(ge=0, le=100_000_000, description="Units ring-fenced for the channel; 0 removes it.")


class ReservationLineIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(gt=0, le=100_000)


class ReservationCreate(Strict):
    channel: Code
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=200)
    location: Code | None = Field(default=None, description="Hold at this location only.")
    ttl_seconds: StrictInt = Field(default=900, description="Released automatically after this many seconds.")
    reference: str | None = Field(default=None, max_length=64, description="Your checkout or cart id.")


class ReservationLineOut(BaseModel):
    sku: str
    quantity: int
    location: str


class ReservationOut(BaseModel):
    id: str
    channel: str
    status: Literal["active", "released", "expired", "committed"]
    reference: str | None
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None
    lines: list[ReservationLineOut]


class LocationAvailability(BaseModel):
    code: str
    available: int


class AvailabilityOut(BaseModel):
    sku: str
    channel: str
    available: int
    reason: str | None = Field(default=None, description="Why nothing is available whatever the stock: "
                                                         "`price_missing` (no price in this channel).")
    locations: list[LocationAvailability]


class LedgerEntryOut(BaseModel):
    id: int
    kind: str
    on_hand_delta: int
    reserved_delta: int
    quarantined_delta: int
    on_hand_after: int
    reserved_after: int
    reference: str | None
    actor: str | None
    reason: str | None
    at: datetime


class DriftOut(BaseModel):
    location: str
    sku: str
    check: str
    expected: int
    actual: int
    rows: list[str]
