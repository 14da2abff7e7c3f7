"""The customers room's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from omnihub.core.schemas import Checked, Code, Instant, JsonObject, MoneyStr, Strict

IdentityKind = Literal["email", "phone", "handle", "loyalty", "anonymous_id", "external"]
Purpose = Literal["email_marketing", "sms", "whatsapp", "ads_audiences", "profiling"]


class IdentityIn(Strict):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    network: str | None = Field(default=None, description="For handles: instagram, facebook, tiktok, whatsapp…")
    system: str | None = Field(default=None, description="For external ids: shopify, erp…")
    verified: bool = Field(default=False, description="E-mail only: a verified e-mail is a strong identifier.")


class IdentityShorthand(Strict):
    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    loyalty: str | None = None
    anonymous_id: str | None = None
    network: str | None = Field(default=None, description="The handle's network.")
    verified: bool = Field(default=False, description="Whether the e-mail is verified.")


class CustomerCreate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    identities: list[IdentityIn] | IdentityShorthand
    channel: Code | None = Field(default=None, description="Where the customer was met: its country reads phones.")


class EventIn(Checked):
    """One behavioural event. `identity` is a typed identity, a list of them, or the shorthand object."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")
    channel: Code
    at: Instant | None = Field(default=None, description="When it happened (default: when received).")
    identity: JsonObject | list[JsonObject]
    properties: JsonObject = Field(default_factory=dict)


class IngestOut(BaseModel):
    accepted: int = Field(description="Events stored on a timeline.")
    ignored: int = Field(description="Events with no usable identity (blocked or erased): not stored.")
    customers_created: int
    merges: int
    suggestions: int
    customer_ids: list[str | None] = Field(description="The profile each event landed on, in request order.")


class IdentityOut(BaseModel):
    kind: str
    value: str
    network: str | None = None
    system: str | None = None
    verified: bool
    trust: Literal["strong", "weak"]
    channel: str | None = None
    created_at: datetime


class ConsentOut(BaseModel):
    granted: bool
    channel: str | None
    at: datetime
    proof: Any = None
    notice: str | None = Field(default=None, description="Only in the answer to a choice that does not count "
                                                         "(a later-dated choice stands): says so.")


class TagOut(BaseModel):
    tag: str
    source: Literal["manual", "auto"]
    score: float | None = None


class StatsOut(BaseModel):
    orders_count: int
    lifetime_value: MoneyStr
    average_ticket: MoneyStr | None
    first_order_at: datetime | None
    last_order_at: datetime | None
    purchase_frequency_days: float | None
    channels: list[str]
    preferred_channel: str | None
    events_count: int
    last_seen_at: datetime | None


class TimelineItem(BaseModel):
    id: int
    type: str
    channel: str | None
    at: datetime
    source: str
    custom: bool
    properties: dict[str, Any]


class CustomerOut(BaseModel):
    id: str
    status: Literal["active", "erased"]
    name: str | None
    created_at: datetime
    identities: list[IdentityOut]
    consents: dict[str, ConsentOut]
    tags: list[TagOut]
    store_credit: dict[str, MoneyStr]
    stats: StatsOut
    open_cart: dict[str, Any] | None = None
    purchases: dict[str, Any] | None = Field(default=None, description="From commerce: preferred store, "
                                             "carriers used, promotions received and redeemed.")
    last_nps: dict[str, Any] | None = None
    support: dict[str, Any] | None = Field(default=None, description="Support contacts and open problems.")
    support_hold: dict[str, Any] | None = Field(
        default=None, description="From the service desk: a live conversation with a complaint "
                                  "({conversation_id, since, reasons}); automations and marketing sends leave the "
                                  "customer alone while it is set.")
    csat: dict[str, Any] | None = Field(
        default=None, description="From the service desk: answered satisfaction surveys ({answered, average, "
                                  "last: {score, answered_at, conversation_id, via, comment}}).")
    recent_activity: list[TimelineItem]
    merged_ids: list[str]


class CustomerSummaryOut(BaseModel):
    """A profile as a list shows it (the whole 360 view is `GET /customers/{id}`)."""

    id: str
    status: Literal["active", "erased"]
    name: str | None
    created_at: datetime
    updated_at: datetime
    identities: list[IdentityOut]
    tags: list[str] = Field(description="Manual and behavioural tags the profile carries.")


class MergeIn(Strict):
    other: str = Field(min_length=1, max_length=40, description="The profile to absorb into this one.")


class MergeOut(BaseModel):
    id: str
    survivor_id: str
    merged_id: str
    reason: str
    actor: str | None
    absorbed_ids: list[str]
    evidence: dict[str, Any]
    fields: dict[str, Any]
    created_at: datetime
    undone_at: datetime | None


class SuggestionOut(BaseModel):
    id: str
    customer_a: str
    customer_b: str
    reason: str
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    merge_id: str | None


class ConsentIn(Strict):
    granted: bool
    channel: Code | None = Field(default=None, description="Where the choice was made.")
    at: Instant | None = Field(default=None, description="When the choice was made (default: now).")
    proof: JsonObject | Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Form id, IP, double opt-in token…")


class BlockIn(Strict):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    network: str | None = None
    system: str | None = None
    channel: Code | None = Field(default=None, description="Reads national phone numbers in its country.")
    note: str | None = Field(default=None, max_length=200)


class BlockOut(BaseModel):
    kind: str
    value: str
    namespace: str | None
    note: str | None
    created_at: datetime


class ErasureOut(BaseModel):
    id: str
    customer_id: str
    identities_blocked: int
    events_deleted: int
    at: datetime
