"""WooCommerce routes: the channel's connection (admin) and the webhooks the shop posts (no key: signed with the
webhook secret, `X-WC-Webhook-Signature`, checked before anything is parsed or stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from omnihub.connectors.hub import service as hub
from omnihub.connectors.hub.errors import too_large
from omnihub.connectors.hub.schemas import WebhookReceipt
from omnihub.connectors.woocommerce import rules, service
from omnihub.connectors.woocommerce.schemas import WooConnectionIn, WooConnectionOut
from omnihub.core.http import read_limited_body
from omnihub.core.outbound import OutboundGuard
from omnihub.deps import Context, requires

router = APIRouter(tags=["connectors"])
# The shop's webhooks, matched before every other route (`Room.first_router`): a sale brings them in storms.
webhooks = APIRouter(tags=["connectors"])
Channel = Path(max_length=64)
MAX_WEBHOOK_BYTES = 1024 * 1024
SIGNATURE = "X-WC-Webhook-Signature"


@router.put("/connectors/woocommerce/{channel}", response_model=WooConnectionOut)
def put_woocommerce(body: WooConnectionIn, response: Response, channel: str = Channel,
                    ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Connect a channel to a WooCommerce shop. The secrets are sealed and never shown again."""
    with ctx.db.transaction() as conn:
        out, created = service.configure(conn, ctx.clock, ctx.settings.secret_key, channel, body.model_dump(),
                                         OutboundGuard(ctx.settings.outbound_allow))
    response.status_code = 201 if created else 200
    return out


@router.get("/connectors/woocommerce/{channel}", response_model=WooConnectionOut)
def get_woocommerce(channel: str = Channel, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return hub.get_connection(conn, service.KIND, channel)


@webhooks.post("/connectors/woocommerce/{channel}/webhooks", response_model=WebhookReceipt)
async def woocommerce_webhook(request: Request, channel: str = Channel,
                              signature: str | None = Header(None, alias=SIGNATURE, max_length=200),
                              topic: str = Header("", alias="X-WC-Webhook-Topic", max_length=64),
                              delivery_id: str | None = Header(None, alias="X-WC-Webhook-Delivery-ID",
                                                               max_length=120)) -> dict[str, Any]:
    """A WooCommerce webhook (order.*, customer.*, product.*). Its ping when the webhook is saved (a form body
    `webhook_id=N`) answers 200 and changes nothing; anything else must be signed or is 401 with nothing stored."""
    raw = await read_limited_body(request, MAX_WEBHOOK_BYTES, too_large)
    state = request.app.state
    if not topic and rules.is_ping(raw):
        return {"outcome": "ignored", "duplicate": False, "detail": "ping"}

    def work() -> dict[str, Any]:
        link = hub.authenticate(state.db, state.settings.secret_key, kind=service.KIND, channel=channel, raw=raw,
                                signature=signature, header=SIGNATURE)
        return hub.receive(state.db, state.clock, link, topic=topic, delivery_id=delivery_id, raw=raw)

    return await run_in_threadpool(work)
