"""Orders: the list with filters, and one order with its lines, payments, shipments, pickup, returns,
invoice and the actions its state allows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from omnihub.billing import queries as billing
from omnihub.catalog import queries as catalog
from omnihub.commerce import access, fulfilment
from omnihub.commerce import orders as commerce_orders
from omnihub.commerce import queries as commerce
from omnihub.commerce import rules as commerce_rules
from omnihub.commerce.schemas import PaymentCreate, ShipmentCreate
from omnihub.console import rules
from omnihub.console.routes import handover
from omnihub.console.routes.lookup import find_customer
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, ValidationFailed
from omnihub.core.pagination import decode_cursor
from omnihub.inventory import queries as inventory

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50


def _day(raw: str | None, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
    except ValueError:
        raise ValidationFailed("invalid_date", "Use a date like 2026-12-03.", field=field) from None


@router.get("/orders")
def order_list(request: Request, channel: str = "", status: str = "", location: str = "", customer: str = "",
               created_from: str = "", created_to: str = "", cursor: str = "",
               viewer: Viewer = Depends(page("orders"))) -> Response:
    filters = {"channel": channel, "status": status, "location": location, "customer": customer,
               "created_from": created_from, "created_to": created_to}
    if viewer.role == "associate":
        filters["location"] = location = viewer.location or ""  # an associate sees its own store's orders
    db = request.app.state.db
    problem = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    with db.read() as conn:
        channels = catalog.list_channels(conn, limit=500, cursor=None)["items"]
        locations = inventory.list_locations(conn, limit=500, cursor=None)["items"]
        try:
            decode_cursor(cursor or None)
            customer_ids = None
            if customer:
                found = find_customer(conn, request.app.state.clock, customer)
                customer_ids = [found] if found else []
            start = _day(created_from, "created_from")
            end = _day(created_to, "created_to")
            result = commerce.list_orders(
                conn, limit=PAGE_SIZE, cursor=cursor or None, channel=channel or None, status=status or None,
                location=location or None, customer_ids=customer_ids, created_from=start,
                created_to=end + timedelta(days=1) if end else None)
        except DomainError as exc:
            problem = problem_of(exc)
    return render(request, "orders/list.html", {
        "filters": filters, "orders": result["items"], "next_cursor": result["next_cursor"], "problem": problem,
        "channels": channels, "locations": locations, "statuses": commerce_rules.STATUSES},
        status=problem["status"] if problem else 200)


def _visible_order(conn: Any, viewer: Viewer, ref: str) -> dict[str, Any]:
    order = commerce.get_order(conn, commerce.order_row(conn, ref)["id"])  # by id or number
    access.check_order(viewer.principal, order)  # another store's order looks like it does not exist (404)
    pickup = order.get("pickup")
    if pickup and not (viewer.role == "admin" or (viewer.role == "associate"
                                                  and viewer.location == pickup["location"])):
        order = {**order, "pickup": {**pickup, "code": None}}
    return order


def _detail(request: Request, viewer: Viewer, ref: str, *, problem: dict[str, Any] | None = None,
            done: str | None = None, form: dict[str, str] | None = None) -> Response:
    with request.app.state.db.read() as conn:
        order = _visible_order(conn, viewer, ref)
        payments = billing.payments_of(conn, order["id"])
        invoice = billing.document_for(conn, "invoice", order["id"])
        shipments = commerce.shipments_of(conn, order["id"])
        returns = commerce.list_returns(conn, limit=100, cursor=None, order=order["id"])["items"]
        history = commerce.status_history(conn, order["id"])
    open_lines = any(line["fulfilled"] < line["quantity"] for line in order["lines"])
    pickup = order["pickup"]
    actions = [a for a in rules.order_actions(order["status"], pickup_status=pickup["status"] if pickup else None,
                                              is_pickup=pickup is not None, has_open_lines=open_lines)
               if viewer.may(a)]
    if pickup and viewer.role == "associate" and viewer.location != pickup["location"]:
        actions = [a for a in actions if a not in ("order.ready", "order.collect")]
    return render(request, "orders/detail.html", {
        "order": order, "payments": payments, "invoice": invoice, "shipments": shipments, "returns": returns,
        "history": history, "actions": actions, "problem": problem, "done": done, "form": form or {}},
        status=problem["status"] if problem else 200)


@router.get("/orders/{ref}")
def order_detail(request: Request, ref: str, done: str | None = None,
                 viewer: Viewer = Depends(page("orders"))) -> Response:
    return _detail(request, viewer, ref, done=done)


def act(request: Request, viewer: Viewer, ref: str, action: str, work: Any, form: dict[str, str]) -> Response:
    """Run an order action in one transaction (scope checked inside it); on a refusal re-render the order with
    the problem's message next to the field. Nothing is half-saved: the transaction rolls back whole."""
    viewer.require(action)
    state = request.app.state

    def run(conn: Any) -> dict[str, Any]:
        order = _visible_order(conn, viewer, ref)
        if action in ("order.ready", "order.collect") and order["pickup"] and viewer.role == "associate":
            viewer.principal.ensure_location(order["pickup"]["location"])
        return work(conn, order)  # type: ignore[no-any-return]

    try:
        order = state.db.run(run)
    except (DomainError, ValidationError) as exc:
        return _detail(request, viewer, ref, problem=problem_of(exc) | {"action": action}, form=form)
    return redirect(f"/orders/{order['id']}?done={action.split('.')[1]}")


@router.post("/orders/{ref}/cancel")
def cancel(request: Request, ref: str, form: dict[str, str] = Depends(posted("orders")),
           viewer: Viewer = Depends(page("orders"))) -> Response:
    clock = request.app.state.clock
    return act(request, viewer, ref, "order.cancel", lambda conn, order: fulfilment.cancel_order(
        conn, clock, order["id"], actor=viewer.actor), form)


@router.post("/orders/{ref}/ready")
def ready(request: Request, ref: str, form: dict[str, str] = Depends(posted("orders")),
          viewer: Viewer = Depends(page("orders"))) -> Response:
    clock = request.app.state.clock
    return act(request, viewer, ref, "order.ready", lambda conn, order: fulfilment.mark_ready(
        conn, clock, order["id"], actor=viewer.actor), form)


@router.post("/orders/{ref}/collect")
def collect(request: Request, ref: str, form: dict[str, str] = Depends(posted("orders")),
            viewer: Viewer = Depends(page("orders"))) -> Response:
    viewer.require("order.collect")

    def in_scope(conn: Any, order: dict[str, Any]) -> None:
        _visible_order(conn, viewer, order["id"])
        if order["pickup"] and viewer.role == "associate":
            viewer.principal.ensure_location(order["pickup"]["location"])

    try:
        order = handover.hand_over(request.app.state, viewer.actor, ref, form.get("code", ""), in_scope)
    except (DomainError, ValidationError) as exc:
        return _detail(request, viewer, ref, problem=problem_of(exc) | {"action": "order.collect"}, form=form)
    return redirect(f"/orders/{order['id']}?done=collect")


@router.post("/orders/{ref}/payments")
def pay(request: Request, ref: str, form: dict[str, str] = Depends(posted("orders")),
        viewer: Viewer = Depends(page("orders"))) -> Response:
    clock = request.app.state.clock

    def work(conn: Any, order: dict[str, Any]) -> dict[str, Any]:
        body = PaymentCreate.model_validate({"method": form.get("method", ""), "amount": form.get("amount", "")})
        return commerce_orders.add_payment(conn, clock, order["id"], method=body.method, amount=body.amount,
                                            actor=viewer.actor)

    return act(request, viewer, ref, "order.pay", work, form)


@router.post("/orders/{ref}/shipments")
def ship(request: Request, ref: str, form: dict[str, str] = Depends(posted("orders")),
         viewer: Viewer = Depends(page("orders"))) -> Response:
    clock = request.app.state.clock

    def work(conn: Any, order: dict[str, Any]) -> dict[str, Any]:
        data = {"carrier": form.get("carrier", ""), "tracking_number": form.get("tracking_number", "")}
        if form.get("location"):
            data["location"] = form["location"]
        body = ShipmentCreate.model_validate(data).model_dump()
        if viewer.role == "associate":
            if body.get("location"):
                viewer.principal.ensure_location(body["location"])
            body["location"] = viewer.location
        fulfilment.ship(conn, clock, order["id"], body, actor=viewer.actor)
        return order

    return act(request, viewer, ref, "order.ship", work, form)


@router.post("/orders/{ref}/shipments/{shipment_id}/delivered")
def delivered(request: Request, ref: str, shipment_id: str, form: dict[str, str] = Depends(posted("orders")),
              viewer: Viewer = Depends(page("orders"))) -> Response:
    """The carrier delivered a shipment (`POST /orders/{id}/shipments/{sid}/delivered`); an associate only its
    own store's."""
    clock = request.app.state.clock

    def work(conn: Any, order: dict[str, Any]) -> dict[str, Any]:
        shipment = commerce.get_shipment(conn, shipment_id, order_id=order["id"])
        if viewer.role == "associate":
            viewer.principal.ensure_location(shipment["location"])
        fulfilment.mark_delivered(conn, clock, order["id"], shipment_id, actor=viewer.actor)
        return order

    return act(request, viewer, ref, "order.ship", work, form)
