"""Every room's router under /api/v1, and the wiring between rooms that must not import each other."""

from __future__ import annotations

from fastapi import FastAPI

PREFIX = "/api/v1"


def wire_rooms() -> None:
    """Commerce and messaging join the customer room's extension points: orders and carts follow merges,
    erasure anonymises addresses (in the orders and in their events), cart hints and messages, and the 360
    view shows the open cart; the webhook delivery log follows events that erasure rewrites. Idempotent, so
    every app and worker may call it."""
    from omnihub.commerce import merging as commerce
    from omnihub.commerce import queries as commerce_queries
    from omnihub.connectors.webhooks import service as webhooks
    from omnihub.core import events
    from omnihub.customers import participants as customers
    from omnihub.customers import queries as customers_queries
    from omnihub.messaging import service as messaging

    customers.register_merge_participant("commerce", commerce.order_merge_participant())
    customers.register_erasure_participant("commerce", commerce.order_erasure_participant())
    customers.register_erasure_participant("messaging", messaging.message_erasure_participant())
    events.register_rewrite_listener("webhooks", webhooks.follow_rewritten_events)
    customers_queries.register_view_section("open_cart", commerce_queries.open_cart_of)
    customers_queries.register_view_section("purchases", commerce_queries.purchases_of)


def include_routers(app: FastAPI) -> None:
    from omnihub.billing.api import router as billing
    from omnihub.catalog.api import router as catalog
    from omnihub.commerce.api import router as commerce
    from omnihub.connectors.webhooks.api import router as webhooks
    from omnihub.customers.api import router as customers
    from omnihub.inventory.api import router as inventory
    from omnihub.messaging.api import router as messaging
    from omnihub.promotions.api import router as promotions

    wire_rooms()
    for router in (catalog, inventory, webhooks, commerce, customers, promotions, billing, messaging):
        app.include_router(router, prefix=PREFIX)
