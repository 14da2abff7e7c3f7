"""Catalog & channels: products, channels and a channel's prices (read-only here; the API writes them)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.catalog import queries as catalog
from omnihub.console.web import ConsoleRoute, Viewer, page, problem_of, render
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)


@router.get("/catalog")
def catalog_page(request: Request, category: str = "", cursor: str = "", channel: str = "",
                 prices_cursor: str = "", viewer: Viewer = Depends(page("catalog"))) -> Response:
    problem = None
    products = {"items": [], "next_cursor": None}
    prices = None
    with request.app.state.db.read() as conn:
        channels = catalog.list_channels(conn, limit=500, cursor=None)["items"]
        try:
            products = catalog.list_products(conn, limit=50, cursor=cursor or None, category=category or None)
            if channel:
                prices = catalog.channel_prices_page(conn, channel, limit=50, cursor=prices_cursor or None)
        except DomainError as exc:
            problem = problem_of(exc)
    return render(request, "catalog.html", {
        "products": products, "channels": channels, "prices": prices, "problem": problem,
        "filters": {"category": category, "channel": channel}}, status=problem["status"] if problem else 200)
