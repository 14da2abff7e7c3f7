"""Webhook routes (admin only): thin — parse, call the service or a query, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from omnihub.connectors.webhooks import queries, service
from omnihub.connectors.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatusName,
    ReplayOut,
    ReplayRequest,
    SecretRotation,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from omnihub.core.outbound import OutboundGuard
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.deps import Context, requires

router = APIRouter(tags=["webhooks"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_webhook(conn, ctx.clock, body.model_dump(), OutboundGuard(ctx.settings.outbound_allow),
                                      secret_key=ctx.settings.secret_key)


@router.get("/webhooks", response_model=Page[WebhookOut])
def list_webhooks(limit: int = Limit, cursor: str | None = None, active: bool | None = None,
                  ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_webhooks(conn, limit=limit, cursor=cursor, active=active)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_webhook(conn, webhook_id)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
def update_webhook(webhook_id: str, body: WebhookUpdate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.update_webhook(conn, ctx.clock, webhook_id, body.model_dump(exclude_unset=True),
                                      OutboundGuard(ctx.settings.outbound_allow))


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookCreated)
def rotate_secret(webhook_id: str, body: SecretRotation, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """A new signing secret (shown once); the old one also signs for `grace_seconds`."""
    with ctx.db.transaction() as conn:
        return service.rotate_secret(conn, ctx.clock, webhook_id, secret_key=ctx.settings.secret_key,
                                     secret=body.secret, grace_seconds=body.grace_seconds)


@router.post("/webhooks/{webhook_id}/replay", response_model=ReplayOut)
def replay(webhook_id: str, body: ReplayRequest, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Send again everything since a time (as far back as the outbox keeps events)."""
    with ctx.db.transaction() as conn:
        return service.replay(conn, ctx.clock, webhook_id, body.since)


@router.delete("/webhooks/{webhook_id}", response_model=WebhookOut)
def deactivate_webhook(webhook_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.deactivate_webhook(conn, ctx.clock, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(webhook_id: str, status: DeliveryStatusName | None = None, limit: int = Limit,
                    cursor: str | None = None, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_deliveries(conn, webhook_id, limit=limit, cursor=cursor, status=status)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def redeliver(webhook_id: str, delivery_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.redeliver(conn, ctx.clock, webhook_id, delivery_id)
