"""Every room's router under /api/v1."""

from __future__ import annotations

from fastapi import FastAPI

PREFIX = "/api/v1"


def include_routers(app: FastAPI) -> None:
    from omnihub.billing.api import router as billing
    from omnihub.catalog.api import router as catalog
    from omnihub.connectors.webhooks.api import router as webhooks
    from omnihub.customers.api import router as customers
    from omnihub.inventory.api import router as inventory
    from omnihub.promotions.api import router as promotions

    for router in (catalog, inventory, webhooks, customers, promotions, billing):
        app.include_router(router, prefix=PREFIX)
