"""The connector hub's I/O shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

Connector = Literal["shopify", "woocommerce"]


class HealthOut(BaseModel):
    status: Literal["ok", "attention", "error"]
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    lag_seconds: float
    failed_pushes: int
    open_dead_letters: int
    received: int
    pushed: int


class ConnectionHealthOut(BaseModel):
    kind: str
    channel: str
    health: HealthOut


class DeadLetterOut(BaseModel):
    id: str
    connector: str
    channel: str
    topic: str
    delivery_id: str | None
    external_id: str | None
    code: str
    reason: str
    status: Literal["open", "replayed"]
    attempts: int
    result: dict[str, Any] | None
    created_at: datetime
    replayed_at: datetime | None
    payload: Any = None


class PushOut(BaseModel):
    sku: str
    status: str
    attempts: int
    last_error: str | None
    pushed: dict[str, Any] | None
    due_at: datetime
    pushed_at: datetime | None


class WebhookReceipt(BaseModel):
    """What the shop gets back: 200 whatever became of the payload (a dead letter is kept, so it must not
    retry), 401 only for a bad signature."""

    outcome: Literal["applied", "ignored", "duplicate", "dead_letter"]
    duplicate: bool
    order_id: str | None = None
    dead_letter: dict[str, Any] | None = None
    detail: str | None = None
