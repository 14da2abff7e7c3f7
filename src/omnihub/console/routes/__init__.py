"""The console's routes (HTML, outside /api/v1), one module per page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent.parent / "static"


def install(app: FastAPI) -> None:
    from omnihub.console.routes import (
        audiences,
        auth,
        automations,
        catalog,
        connectors,
        counter,
        csat,
        customers,
        dashboard,
        imports,
        inbox,
        inventory,
        kb,
        orders,
        reply_templates,
        sale,
        segments,
        webhooks,
    )

    router = APIRouter(include_in_schema=False)
    for module in (auth, dashboard, orders, counter, sale, customers, inventory, catalog, automations, webhooks, inbox,
                   reply_templates, kb, connectors, segments, audiences, imports,
                   csat):
        router.include_router(module.router)
    app.include_router(router)
    app.mount("/static/console", StaticFiles(directory=STATIC), name="console-static")
