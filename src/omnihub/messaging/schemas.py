"""The messaging room's I/O shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MessageOut(BaseModel):
    id: str
    customer_id: str | None
    kind: str
    to: str
    subject: str | None
    body: str
    template: str | None
    reference: str | None
    provider: str
    status: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None
