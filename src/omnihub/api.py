"""Every room's router under /api/v1, and the wiring between rooms that must not import each other."""

from __future__ import annotations

from fastapi import FastAPI

PREFIX = "/api/v1"


def wire_rooms() -> None:
    """Commerce, messaging and the service desk join the customer room's extension points: orders, carts and
    conversations follow merges, erasure anonymises addresses (in the orders and in their events), cart hints,
    messages and conversations, and the 360 view shows the open cart; the webhook delivery log follows events
    that erasure rewrites. Idempotent, so every app and worker may call it."""
    from omnihub.commerce import merging as commerce
    from omnihub.commerce import queries as commerce_queries
    from omnihub.connectors.webhooks import service as webhooks
    from omnihub.core import events
    from omnihub.customers import participants as customers
    from omnihub.customers import queries as customers_queries
    from omnihub.messaging import service as messaging
    from omnihub.service import queries as service_queries
    from omnihub.service import service as service_desk

    customers.register_merge_participant("commerce", commerce.order_merge_participant())
    customers.register_erasure_participant("commerce", commerce.order_erasure_participant())
    customers.register_erasure_participant("messaging", messaging.message_erasure_participant())
    customers.register_merge_participant("service", service_desk.conversation_merge_participant())
    customers.register_erasure_participant("service", service_desk.conversation_erasure_participant())
    events.register_rewrite_listener("webhooks", webhooks.follow_rewritten_events)
    customers_queries.register_view_section("open_cart", commerce_queries.open_cart_of)
    customers_queries.register_view_section("purchases", commerce_queries.purchases_of)
    customers_queries.register_view_section("support_hold", service_queries.support_hold_of)


def include_routers(app: FastAPI) -> None:
    from omnihub.billing.api import router as billing
    from omnihub.catalog.api import router as catalog
    from omnihub.commerce.api import router as commerce
    from omnihub.connectors.webhooks.api import router as webhooks
    from omnihub.customers.api import router as customers
    from omnihub.inventory.api import router as inventory
    from omnihub.messaging.api import router as messaging
    from omnihub.promotions.api import router as promotions
    from omnihub.service.api import router as service_desk

    wire_rooms()
    for router in (catalog, inventory, webhooks, commerce, customers, promotions, billing, messaging,
                   service_desk):
        app.include_router(router, prefix=PREFIX)
