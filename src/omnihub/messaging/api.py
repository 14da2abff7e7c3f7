"""`GET /outbox/messages`: what was sent to whom, by which provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, requires
from omnihub.messaging import queries
from omnihub.messaging.schemas import MessageOut

router = APIRouter(tags=["messaging"])


@router.get("/outbox/messages", response_model=Page[MessageOut])
def list_messages(limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT), cursor: str | None = None,
                  customer: str | None = None, reference: str | None = None,
                  ctx: Context = Depends(requires(Role.AGENT, Role.MARKETER))) -> dict[str, Any]:
    """Pickup codes in the messages are masked for every role but admin: agents and marketers read the log, but
    may not hand goods over (the associates who may see the code on the order itself)."""
    with ctx.db.read() as conn:
        return queries.list_messages(conn, limit=limit, cursor=cursor, customer_id=customer, reference=reference,
                                     show_secrets=ctx.principal.is_admin)
