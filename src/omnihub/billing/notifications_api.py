"""Provider notifications as people see them (admin): what the worker did with each stored notification, the
ones it gave up on with their error, and a retry once the cause is fixed — the payments' counterpart of the
connectors' dead letters."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from omnihub.billing import queries
from omnihub.billing.notification_retry import retry_notification
from omnihub.billing.schemas import NotificationOut
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.deps import Context, requires

router = APIRouter(tags=["billing"])
NotificationId = Path(max_length=40)


@router.get("/payment-notifications", response_model=Page[NotificationOut])
def list_notifications(provider: str | None = Query(None, max_length=32),
                       status: Literal["pending", "done", "failed"] | None = None,
                       limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                       cursor: str | None = Query(None, max_length=500),
                       ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Newest first; `status=failed`: the ones the worker gave up on, each with its error."""
    with ctx.db.read() as conn:
        return queries.list_notifications(conn, limit=limit, cursor=cursor, provider=provider, status=status)


@router.get("/payment-notifications/{notification_id}", response_model=NotificationOut)
def get_notification(notification_id: str = NotificationId, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_notification(conn, notification_id)


@router.post("/payment-notifications/{notification_id}/retry", response_model=NotificationOut)
def retry(notification_id: str = NotificationId, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """A failed notification back to the worker's queue, due now (idempotent: a pending one is left as it is;
    an applied one → 409)."""
    with ctx.db.transaction() as conn:
        return retry_notification(conn, ctx.clock, notification_id)
