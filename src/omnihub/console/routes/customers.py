"""Customers: search by any identity, then the 360 page (identities, consents, tags, store credit, stats,
open cart, orders across channels, the timeline)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.commerce import queries as commerce
from omnihub.console.routes.lookup import find_customer
from omnihub.console.web import ConsoleRoute, Viewer, page, problem_of, redirect, render
from omnihub.core.errors import DomainError, NotFound
from omnihub.customers import queries as customers

router = APIRouter(route_class=ConsoleRoute)


@router.get("/customers")
def search(request: Request, q: str = "", viewer: Viewer = Depends(page("customers"))) -> Response:
    if not q.strip():
        return render(request, "customers/search.html", {"q": "", "problem": None})
    state = request.app.state
    with state.db.read() as conn:
        found = find_customer(conn, state.clock, q)
    if found is None:
        problem = problem_of(NotFound("customer_not_found", "No customer has this e-mail, phone, handle or "
                                      "loyalty code.", field="q"))
        return render(request, "customers/search.html", {"q": q, "problem": problem}, status=404)
    return redirect(f"/customers/{quote(found)}")


@router.get("/customers/{customer_id}")
def customer_360(request: Request, customer_id: str, cursor: str = "", type: str = "", channel: str = "",
                 viewer: Viewer = Depends(page("customers"))) -> Response:
    state = request.app.state
    problem = None
    with state.db.read() as conn:
        view = customers.customer_view(conn, state.clock, customer_id)
        if view["id"] != customer_id:
            return redirect(f"/customers/{quote(view['id'])}")
        orders: dict[str, Any] = {"items": []}
        if viewer.role != "marketer":
            orders = commerce.list_orders(conn, limit=20, cursor=None, customer_ids=[view["id"]])
        try:
            timeline = customers.timeline(conn, view["id"], limit=20, cursor=cursor or None, type_=type or None,
                                          channel=channel or None)
        except DomainError as exc:
            problem = problem_of(exc)
            timeline = {"items": [], "next_cursor": None}
    return render(request, "customers/view.html", {
        "c": view, "orders": orders["items"], "timeline": timeline, "problem": problem,
        "filters": {"type": type, "channel": channel}})
