"""Shopify routes: the channel's connection (admin) and the webhooks Shopify posts (no key: authenticated by
the HMAC of the raw body, checked before anything is parsed or stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from omnihub.connectors.hub import service as hub
from omnihub.connectors.hub.errors import bad_signature
from omnihub.connectors.hub.schemas import WebhookReceipt
from omnihub.connectors.shopify import service
from omnihub.connectors.shopify.schemas import ShopifyConnectionIn, ShopifyConnectionOut
from omnihub.core.http import read_limited_body
from omnihub.core.outbound import OutboundGuard
from omnihub.deps import Context, requires

router = APIRouter(tags=["connectors"])
# The shop's webhooks, matched before every other route (`Room.first_router`): a sale brings them in storms.
webhooks = APIRouter(tags=["connectors"])
Channel = Path(max_length=64)
MAX_WEBHOOK_BYTES = 1024 * 1024
SIGNATURE = "X-Shopify-Hmac-Sha256"


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body (the signature is over these bytes), refused past `limit` without reading it all."""
    from omnihub.connectors.hub.errors import too_large

    return await read_limited_body(request, limit, too_large)


@router.put("/connectors/shopify/{channel}", response_model=ShopifyConnectionOut)
def put_shopify(body: ShopifyConnectionIn, response: Response, channel: str = Channel,
                ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Connect a channel to a Shopify store. The secrets are sealed and never shown again."""
    with ctx.db.transaction() as conn:
        out, created = service.configure(conn, ctx.clock, ctx.settings.secret_key, channel, body.model_dump(),
                                         OutboundGuard(ctx.settings.outbound_allow))
    response.status_code = 201 if created else 200
    return out


@router.get("/connectors/shopify/{channel}", response_model=ShopifyConnectionOut)
def get_shopify(channel: str = Channel, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return hub.get_connection(conn, service.KIND, channel)


@webhooks.post("/connectors/shopify/{channel}/webhooks", response_model=WebhookReceipt)
async def shopify_webhook(request: Request, channel: str = Channel,
                          signature: str | None = Header(None, alias=SIGNATURE, max_length=200),
                          topic: str = Header("", alias="X-Shopify-Topic", max_length=64),
                          webhook_id: str | None = Header(None, alias="X-Shopify-Webhook-Id", max_length=120),
                          shop: str | None = Header(None, alias="X-Shopify-Shop-Domain", max_length=255)
                          ) -> dict[str, Any]:
    """A Shopify webhook (orders, refunds, customers, checkouts, inventory levels, products). 401 and nothing
    stored unless signed with the connection's secret; 200 for anything else — applied, a duplicate, or a dead
    letter kept for replay — so Shopify does not send it again."""
    raw = await read_body(request, MAX_WEBHOOK_BYTES)
    state = request.app.state

    def work() -> dict[str, Any]:
        link = hub.authenticate(state.db, state.settings.secret_key, kind=service.KIND, channel=channel, raw=raw,
                                signature=signature, header=SIGNATURE)
        if shop and shop.lower() != str(link.config.get("shop_domain", "")).lower():
            raise bad_signature("X-Shopify-Shop-Domain")
        return hub.receive(state.db, state.clock, link, topic=topic, delivery_id=webhook_id, raw=raw)

    return await run_in_threadpool(work)
