"""Inventory: stock by location and SKU (low stock and negative drift highlighted), a SKU's ledger at a
location with its availability in every channel, receipt / adjustment / transfer forms (all-or-nothing, as the
API's movements), and the reconciliation check's latest findings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from omnihub.catalog import queries as catalog
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core import events
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
        channels = catalog.list_channels(conn, limit=500, cursor=None)["items"]
        views = inventory.availability_views(conn, channels, [(c["code"], sku) for c in channels])
        availability = [views[(c["code"], sku)] | {"name": c["name"], "sells_from_here": location in c["locations"]}
                        for c in channels]
    may_move = viewer.may("stock.move") and (viewer.role != "associate" or viewer.location == location)
    return render(request, "inventory/ledger.html", {
        "level": level, "ledger": ledger, "problem": problem, "form": form or {}, "done": done,
        "may_move": may_move, "locations": locations,
        "availability": availability}, status=problem["status"] if problem else 200)


DRIFT_EVENT = "inventory.drift_detected"


@router.get("/inventory/reconciliation")
def reconciliation(request: Request, ran: str = "", viewer: Viewer = Depends(page("inventory"))) -> Response:
    """What the reconciliation check (the worker's `inventory.reconcile` job, or *Check now*) reported last: each
    level whose figures disagree with its ledger, live reservations or quotas. Drift is reported, never fixed."""
    with request.app.state.db.read() as conn:
        found = events.recent_events(conn, type_=DRIFT_EVENT, limit=100)
    if viewer.role == "associate":  # a store sees its own levels
        found = [e for e in found if e.data.get("location") == viewer.location]
    return render(request, "inventory/reconciliation.html", {"findings": found, "ran": ran})


@router.post("/inventory/reconciliation")
def reconcile_now(request: Request, form: dict[str, str] = Depends(posted("inventory")),
                  viewer: Viewer = Depends(page("inventory"))) -> Response:
    """Run the check now (`POST /api/v1/inventory/check`): its findings are recorded as events like the job's."""
    viewer.require("stock.reconcile")
    state = request.app.state
    with state.db.transaction() as conn:
        found = inventory_stock.check_inventory(conn, state.clock)
    return redirect(f"/inventory/reconciliation?ran={len(found)}")


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
