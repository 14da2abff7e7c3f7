"""The store counter: pickups to prepare → ready → handed over with the customer's code; returns at the
counter. The pickup list refreshes itself (htmx polling of a cheap fragment)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from omnihub.commerce import fulfilment, returns
from omnihub.commerce import queries as commerce
from omnihub.commerce.errors import order_not_found
from omnihub.commerce.schemas import ReturnCreate
from omnihub.console.routes import handover
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, ValidationFailed
from omnihub.inventory import queries as inventory

router = APIRouter(route_class=ConsoleRoute)
TO_PREPARE = ("awaiting_stock", "preparing")
READY = ("ready",)


def _order_by_ref(conn: Any, ref: str) -> dict[str, Any]:
    """An order by its id or its number (what the customer shows at the counter)."""
    return commerce.get_order(conn, commerce.order_row(conn, ref)["id"], show_pickup_code=False)


def _store(request: Request, viewer: Viewer, chosen: str | None) -> str | None:
    """An associate works at its own store; an admin picks one."""
    if viewer.role == "associate":
        return viewer.location
    if chosen:
        with request.app.state.db.read() as conn:
            inventory.get_location(conn, chosen, field="location")
    return chosen or None


def _queues(request: Request, store: str | None) -> dict[str, Any]:
    if not store:
        return {"to_prepare": [], "ready": []}
    with request.app.state.db.read() as conn:
        return {"to_prepare": commerce.pickups_at(conn, store, TO_PREPARE),
                "ready": commerce.pickups_at(conn, store, READY)}


def _counter(request: Request, viewer: Viewer, store: str | None, *, problem: dict[str, Any] | None = None,
             done: str | None = None, order_ref: str = "", return_order: dict[str, Any] | None = None,
             form: dict[str, str] | None = None) -> Response:
    with request.app.state.db.read() as conn:
        stores = [loc for loc in inventory.list_locations(conn, limit=500, cursor=None)["items"]
                  if loc["kind"] == "store"] if viewer.role == "admin" else []
    return render(request, "counter/page.html", {
        "store": store, "stores": stores, "queues": _queues(request, store), "problem": problem, "done": done,
        "order_ref": order_ref, "return_order": return_order, "form": form or {}},
        status=problem["status"] if problem else 200)


@router.get("/counter")
def counter(request: Request, location: str | None = None, done: str | None = None, order: str = "",
            viewer: Viewer = Depends(page("counter"))) -> Response:
    store = _store(request, viewer, location)
    return_order = None
    problem = None
    if order and store:
        try:
            with request.app.state.db.read() as conn:
                return_order = _order_by_ref(conn, order.strip())
        except DomainError as exc:
            problem = problem_of(exc) | {"action": "return.find"}
    return _counter(request, viewer, store, done=done, order_ref=order, return_order=return_order, problem=problem)


@router.get("/counter/pickups")
def pickups_fragment(request: Request, location: str | None = None,
                     viewer: Viewer = Depends(page("counter"))) -> Response:
    """The two queues only: what the page polls every few seconds (two indexed reads)."""
    store = _store(request, viewer, location)
    return render(request, "counter/_pickups.html", {"store": store, "queues": _queues(request, store),
                                                     "form": {}, "problem": None})


def _pickup_action(request: Request, viewer: Viewer, order_id: str, location: str | None, action: str,
                   work: Any, form: dict[str, str]) -> Response:
    viewer.require(action)
    store = _store(request, viewer, location)
    state = request.app.state

    def run(conn: Any) -> dict[str, Any]:
        order = commerce.get_order(conn, order_id)
        pickup = order["pickup"]
        if not pickup or pickup["location"] != store:
            raise order_not_found(order_id)  # not this counter's pickup
        return work(conn, order)  # type: ignore[no-any-return]

    try:
        order = state.db.run(run)
    except (DomainError, ValidationError) as exc:
        problem = problem_of(exc) | {"action": action, "order": order_id}
        return _counter(request, viewer, store, problem=problem, form=form)
    suffix = f"&location={quote(store)}" if viewer.role == "admin" and store else ""
    return redirect(f"/counter?done={action.split('.')[1]}:{quote(order['number'])}{suffix}")


@router.post("/counter/pickups/{order_id}/ready")
def mark_ready(request: Request, order_id: str, location: str | None = None,
               form: dict[str, str] = Depends(posted("counter")),
               viewer: Viewer = Depends(page("counter"))) -> Response:
    clock = request.app.state.clock
    return _pickup_action(request, viewer, order_id, location, "order.ready", lambda conn, order: (
        fulfilment.mark_ready(conn, clock, order["id"], actor=viewer.actor)), form)


@router.post("/counter/pickups/{order_id}/collect")
def hand_over(request: Request, order_id: str, location: str | None = None,
              form: dict[str, str] = Depends(posted("counter")),
              viewer: Viewer = Depends(page("counter"))) -> Response:
    viewer.require("order.collect")
    store = _store(request, viewer, location)

    def at_this_counter(conn: Any, order: dict[str, Any]) -> None:
        if not order["pickup"] or order["pickup"]["location"] != store:
            raise order_not_found(order_id)

    try:
        order = handover.hand_over(request.app.state, viewer.actor, order_id, form.get("code", ""), at_this_counter)
    except (DomainError, ValidationError) as exc:
        problem = problem_of(exc) | {"action": "order.collect", "order": order_id}
        return _counter(request, viewer, store, problem=problem, form=form)
    suffix = f"&location={quote(store)}" if viewer.role == "admin" and store else ""
    return redirect(f"/counter?done=collect:{quote(order['number'])}{suffix}")


@router.post("/counter/returns")
def counter_return(request: Request, location: str | None = None,
                   form: dict[str, str] = Depends(posted("counter")),
                   viewer: Viewer = Depends(page("counter"))) -> Response:
    """A return of any order at this store: the lines and quantities typed, the condition, the refund."""
    viewer.require("return.create")
    store = _store(request, viewer, location)
    state = request.app.state
    order_ref = form.get("order", "").strip()
    lines = []
    for key, value in form.items():
        if key.startswith("qty__") and value.strip() not in ("", "0"):
            quantity: Any = int(value) if value.strip().isdigit() else value
            lines.append({"sku": key[5:], "quantity": quantity})
    return_order = None
    try:
        if not store:
            raise ValidationFailed("location_required", "Pick the store first.", field="location")
        with state.db.read() as conn:
            return_order = _order_by_ref(conn, order_ref)
        body = ReturnCreate.model_validate({
            "order": return_order["id"], "lines": lines, "location": store,
            "condition": form.get("condition", ""), "refund_method": form.get("refund_method") or "original"})
        created = state.db.run(lambda conn: returns.create_return(conn, state.clock, body.model_dump(),
                                                                           actor=viewer.actor))
    except (DomainError, ValidationError) as exc:
        problem = problem_of(exc) | {"action": "return.create"}
        return _counter(request, viewer, store, problem=problem, order_ref=order_ref, return_order=return_order,
                        form=form)
    suffix = f"&location={quote(store)}" if viewer.role == "admin" and store else ""
    number = created.get("credit_note") or created["id"]
    return redirect(f"/counter?done=return:{quote(str(number))}{suffix}")
