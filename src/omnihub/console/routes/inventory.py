"""Inventory: stock by location and SKU (low stock and negative drift highlighted), a SKU's ledger at a
location, and receipt / adjustment forms (all-or-nothing, as the API's movements)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError
from omnihub.inventory import queries as inventory
from omnihub.inventory import stock as inventory_stock
from omnihub.inventory.schemas import Movement

router = APIRouter(route_class=ConsoleRoute)
_MOVEMENT: TypeAdapter[Any] = TypeAdapter(Movement)
_INT = re.compile(r"^[+-]?\d{1,12}$")


def as_int(value: str) -> Any:
    """A form's number as an int; anything else is passed on for the schema to refuse with its message."""
    value = value.strip()
    return int(value) if _INT.match(value) else value


@router.get("/inventory")
def stock(request: Request, location: str = "", sku: str = "", low: str = "", cursor: str = "",
          viewer: Viewer = Depends(page("inventory"))) -> Response:
    if viewer.role == "associate" and not location:
        location = viewer.location or ""
    problem = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    with request.app.state.db.read() as conn:
        locations = inventory.list_locations(conn, limit=500, cursor=None)["items"]
        try:
            result = inventory.levels_page(conn, location=location or None, sku_prefix=sku.strip() or None,
                                           low_only=bool(low), limit=100, cursor=cursor or None)
        except DomainError as exc:
            problem = problem_of(exc)
    return render(request, "inventory/list.html", {
        "levels": result["items"], "next_cursor": result["next_cursor"], "locations": locations,
        "filters": {"location": location, "sku": sku, "low": low}, "problem": problem},
        status=problem["status"] if problem else 200)


def _ledger(request: Request, viewer: Viewer, location: str, sku: str, cursor: str = "", *,
            problem: dict[str, Any] | None = None, form: dict[str, str] | None = None,
            done: str | None = None) -> Response:
    with request.app.state.db.read() as conn:
        level = inventory.level(conn, location, sku)
        ledger = inventory.ledger_page(conn, location, sku, limit=50, cursor=cursor or None)
        locations = [loc for loc in inventory.list_locations(conn, limit=500, cursor=None)["items"]
                     if loc["code"] != location]
    may_move = viewer.may("stock.move") and (viewer.role != "associate" or viewer.location == location)
    return render(request, "inventory/ledger.html", {
        "level": level, "ledger": ledger, "problem": problem, "form": form or {}, "done": done,
        "may_move": may_move, "locations": locations}, status=problem["status"] if problem else 200)


@router.get("/inventory/{location}/{sku}")
def ledger(request: Request, location: str, sku: str, cursor: str = "", done: str | None = None,
           viewer: Viewer = Depends(page("inventory"))) -> Response:
    return _ledger(request, viewer, location, sku, cursor, done=done)


@router.post("/inventory/{location}/{sku}/movements")
def move(request: Request, location: str, sku: str, form: dict[str, str] = Depends(posted("inventory")),
         viewer: Viewer = Depends(page("inventory"))) -> Response:
    """A receipt (`quantity`), an adjustment (`delta`, `reason`) or a transfer (`quantity` to `to_location`) of
    this level."""
    viewer.require("stock.move")
    viewer.principal.ensure_location(location)
    state = request.app.state
    kind = form.get("kind", "")
    raw: dict[str, Any] = {"kind": kind, "location": location, "sku": sku}
    if kind == "receipt":
        raw["quantity"] = as_int(form.get("quantity", ""))
        if form.get("reference"):
            raw["reference"] = form["reference"]
    elif kind == "transfer":
        raw = {"kind": kind, "from_location": location, "to_location": form.get("to_location", ""), "sku": sku,
               "quantity": as_int(form.get("quantity", ""))}
    else:
        raw["delta"] = as_int(form.get("delta", ""))
        raw["reason"] = form.get("reason", "")
    try:
        movement = _MOVEMENT.validate_python(raw).model_dump()
        state.db.run(lambda conn: inventory_stock.record_movements(conn, state.clock, [movement], viewer.actor))
    except (DomainError, ValidationError) as exc:
        return _ledger(request, viewer, location, sku, problem=problem_of(exc) | {"action": kind}, form=form)
    return redirect(f"/inventory/{quote(location)}/{quote(sku)}?done={quote(kind)}")
