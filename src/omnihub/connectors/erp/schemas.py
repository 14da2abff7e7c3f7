"""The ERP connector's request and response shapes (inputs reject unknown fields)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from omnihub.core.schemas import Instant, Strict

DocumentStatus = Literal["pending", "held", "sending", "sent", "failed"]
DocumentKind = Literal["contact", "invoice", "credit_note"]


class ErpConfigIn(Strict):
    endpoint: str = Field(min_length=1, max_length=500, description="The ERP's JSON API base URL (http/https).",
                          pattern=r"^https?://")
    token: str = Field(min_length=1, max_length=1000, description="Bearer token; sealed, never returned.")
    mapping: str = Field(min_length=1, max_length=1_000_000, description="The mapping, as YAML (docs/erp.md).")


class ErpConfigOut(BaseModel):
    endpoint: str
    token_set: bool
    mapping: str
    updated_at: Instant
    remapped: int | None = Field(default=None, description="Held documents the new mapping released.")


class ErpDocumentOut(BaseModel):
    id: str
    kind: DocumentKind
    source: str = Field(description="What the document comes from: the hub's billing document number; for an order a "
                        "shop sold, its order number (`<number>/refund/<shop refund id>`, `<number>/cancelled`).")
    status: DocumentStatus
    reason: str | None = Field(description="Why a held document cannot be sent yet.")
    idempotency_key: str
    document_date: date
    attempts: int
    next_attempt_at: Instant | None
    last_error: str | None
    payload: dict[str, Any] | None = Field(description="The body sent, in the ERP's codes.")
    created_at: Instant
    sent_at: Instant | None


MAX_INBOUND_LINES = 1000
ErpFieldName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ErpValue = Annotated[str, StringConstraints(max_length=200)] | int | float | None
ErpLine = Annotated[dict[ErpFieldName, ErpValue], Field(max_length=50)]
ErpLines = Annotated[list[ErpLine], Field(min_length=1, max_length=MAX_INBOUND_LINES)]


class InboundLineOut(BaseModel):
    line: int = Field(description="1-based position in the list (or the file's data row).")
    outcome: Literal["applied", "unchanged", "rejected"]
    reason: str | None = None
    sku: str | None = None
    location: str | None = None
    channel: str | None = Field(default=None, description="A price line: the channel its price was set for.")
    reference: str | None = Field(default=None, description="The ERP's reference the line carried.")


class InboundCounts(BaseModel):
    applied: int
    unchanged: int
    rejected: int


class InboundOut(BaseModel):
    kind: Literal["stock", "prices"]
    counts: InboundCounts
    lines: list[InboundLineOut]
