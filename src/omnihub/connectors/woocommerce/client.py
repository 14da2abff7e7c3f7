"""Telling WooCommerce the hub's stock: `PUT {site_url}/wp-json/wc/v3/products/{id}` (or the variation) with
`{manage_stock: true, stock_quantity}`, HTTP Basic authentication with the REST API consumer key and secret
(WooCommerce's documented method over HTTPS)."""

from __future__ import annotations

import base64
from typing import Any

from omnihub.connectors.hub.http import send_json
from omnihub.connectors.hub.service import Link
from omnihub.connectors.woocommerce import rules
from omnihub.core.outbound import OutboundGuard


def send(link: Link, sku: str, quantities: dict[str, Any], guard: OutboundGuard) -> None:
    path, body = rules.stock_request(quantities["product_id"], quantities.get("variation_id"),
                                     quantities["stock_quantity"])
    token = base64.b64encode(f"{link.secrets['consumer_key']}:{link.secrets['consumer_secret']}".encode()).decode()
    send_json(guard, "PUT", str(link.config["site_url"]), path, body, {"Authorization": f"Basic {token}"})
