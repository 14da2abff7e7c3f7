"""The automation room's I/O shapes. The rule's trigger, conditions, steps and options are checked by
rules.validate_rule, which names the bad field (`steps.0.channel`); here only their size is bounded."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from omnihub.core.schemas import Strict


class AutomationIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    trigger: dict[str, Any] = Field(description="{\"event\": \"cart.abandoned\"} or {\"schedule\": \"P1D\"}")
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=30)
    steps: list[dict[str, Any]] = Field(min_length=1, max_length=20)
    active: bool = False
    options: dict[str, Any] = Field(default_factory=dict, description="goal, attribution_window, quiet_hours, "
                                    "frequency_cap")


class AutomationPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    trigger: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = Field(default=None, max_length=30)
    steps: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=20)
    active: bool | None = None
    options: dict[str, Any] | None = None


class AutomationOut(BaseModel):
    id: str
    name: str
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    options: dict[str, Any]
    active: bool
    recipe: str | None
    created_at: datetime
    updated_at: datetime


class LogEntryOut(BaseModel):
    id: int
    run_id: str
    customer_id: str | None
    step: int | None
    action: str
    outcome: str
    reason: str | None
    detail: dict[str, Any] | None
    at: datetime


class RunOut(BaseModel):
    id: str
    subject: str
    customer_id: str | None
    status: str
    step: int
    due_at: datetime | None
    reason: str | None
    created_at: datetime


class MessageOut(BaseModel):
    id: str
    run_id: str
    customer_id: str | None
    channel: str
    to: str
    subject: str | None
    body: str
    template: str | None
    status: str
    provider: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


class ResultsOut(BaseModel):
    rule_id: str
    sent: int
    opened: int
    clicked: int
    unsubscribed: int
    skipped: int
    converted: int
    revenue: dict[str, str]


class AudienceOut(BaseModel):
    name: str
    members: int


class ExportIn(Strict):
    format: Literal["meta", "google"] = Field(description="Meta Custom Audiences (EMAIL, PHONE) or Google "
                                              "Customer Match (Email, Phone) columns, SHA-256 hashed.")
    mode: Literal["full", "delta"] = "full"


class ExportOut(BaseModel):
    id: str
    audience: str
    format: str
    mode: str
    columns: list[str]
    at: datetime
    adds: list[dict[str, str]]
    removes: list[dict[str, str]]
    adds_csv: str
    removes_csv: str


class ExportSummaryOut(BaseModel):
    id: str
    format: str
    mode: str
    added: int
    removed: int
    at: datetime


class SuggestionOut(BaseModel):
    sku: str
    score: float
    available: int
    buy_again: bool = Field(False, description="The person bought it before (a customer's recommendations only)")


class SegmentIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    conditions: list[dict[str, Any]] = Field(max_length=30, description="Over customer.* facts (docs/automation.md)")


class SegmentOut(BaseModel):
    id: str
    name: str
    conditions: list[dict[str, Any]]
    members: int
    computed_at: datetime | None
    created_at: datetime


class MemberOut(BaseModel):
    customer_id: str
    since: datetime


class SegmentPreviewOut(BaseModel):
    count: int
    sample: list[str]


class IdentityRef(Strict):
    kind: Literal["email", "phone", "handle", "loyalty", "anonymous_id", "external"]
    value: str = Field(min_length=1, max_length=320)
    namespace: str | None = Field(default=None, max_length=64)


class BackInStockIn(Strict):
    customer_id: str | None = Field(default=None, min_length=1, max_length=40)
    identity: IdentityRef | None = Field(default=None, description="Who, when the caller knows an identifier rather "
                                         "than the profile id")
    channel: str | None = Field(default=None, min_length=1, max_length=64, description="The sales channel whose "
                                "availability counts (a channel key's own channel by default)")
    notify_by: Literal["email", "sms", "whatsapp"] = "email"


class BackInStockOut(BaseModel):
    id: str
    sku: str
    channel: str
    customer_id: str
    notify_by: str
    created_at: datetime
    fired_at: datetime | None
