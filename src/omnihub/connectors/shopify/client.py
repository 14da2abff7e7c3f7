"""Telling Shopify the hub's stock: the GraphQL Admin API's `inventorySetQuantities`, authenticated with the
app's access token in `X-Shopify-Access-Token`, at `{api_base}/admin/api/{version}/graphql.json`."""

from __future__ import annotations

from typing import Any

from omnihub.connectors.hub.http import send_json
from omnihub.connectors.hub.service import Link, PushFailed
from omnihub.connectors.shopify import rules
from omnihub.core.outbound import OutboundGuard


def api_base(link: Link) -> str:
    return str(link.config.get("api_base") or f"https://{link.config['shop_domain']}")


def send(link: Link, sku: str, quantities: dict[str, Any], guard: OutboundGuard) -> None:
    body = rules.inventory_request(quantities["inventory_item_id"], quantities["locations"],
                                   f"omnihub://stock/{link.channel}/{sku}")
    _, answer = send_json(guard, "POST", api_base(link), f"/admin/api/{rules.API_VERSION}/graphql.json", body,
                          {"X-Shopify-Access-Token": link.secrets["access_token"]})
    problem, retryable = rules.inventory_errors(answer)
    if problem:
        raise PushFailed(problem, permanent=not retryable)
