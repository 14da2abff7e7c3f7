"""Customers: search by any identity, then the 360 page (identities, consents, tags, store credit, stats,
open cart, orders across channels, the timeline, merges) and the admin's actions on a person: merge, unmerge,
export (the API's data export, downloaded) and erase (after typing the id to confirm)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.commerce import queries as commerce
from omnihub.console.routes.lookup import find_customer
from omnihub.console.web import SECURITY_HEADERS, ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, NotFound, ValidationFailed
from omnihub.core.jsonable import jsonable
from omnihub.customers import merging, privacy, writes
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
                 done: str = "", viewer: Viewer = Depends(page("customers"))) -> Response:
    return _view(request, viewer, customer_id, cursor=cursor, type_=type, channel=channel, done=done)


def _view(request: Request, viewer: Viewer, customer_id: str, *, cursor: str = "", type_: str = "",
          channel: str = "", done: str = "", problem: dict[str, Any] | None = None,
          form: dict[str, str] | None = None) -> Response:
    state = request.app.state
    timeline_problem = None
    with state.db.read() as conn:
        view = customers.customer_view(conn, state.clock, customer_id)
        if view["id"] != customer_id:
            return redirect(f"/customers/{quote(view['id'])}")
        orders: dict[str, Any] = {"items": []}
        if viewer.role != "marketer":
            orders = commerce.list_orders(conn, limit=20, cursor=None, customer_ids=[view["id"]])
        try:
            timeline = customers.timeline(conn, view["id"], limit=20, cursor=cursor or None, type_=type_ or None,
                                          channel=channel or None)
        except DomainError as exc:
            timeline_problem = problem_of(exc)
            timeline = {"items": [], "next_cursor": None}
        merges = customers.merges_of(conn, view["id"]) if view["status"] != "erased" else []
    return render(request, "customers/view.html", {
        "c": view, "orders": orders["items"], "timeline": timeline, "problem": timeline_problem,
        "action_problem": problem, "form": form or {}, "done": done, "merges": merges,
        "filters": {"type": type_, "channel": channel}}, status=problem["status"] if problem else 200)


@router.get("/customers/{customer_id}/export")
def export(request: Request, customer_id: str, viewer: Viewer = Depends(page("customers"))) -> Response:
    """The API's GDPR export (`GET /api/v1/customers/{id}/export`), as a file to hand to the person."""
    viewer.require("customer.export")
    state = request.app.state
    with state.db.read() as conn:
        data = customers.export(conn, state.clock, customer_id)
    body = json.dumps(jsonable(data), ensure_ascii=False, indent=2)
    name = f"customer-{data['customer']['id']}.json"
    return Response(body, media_type="application/json", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})


def _action(request: Request, viewer: Viewer, customer_id: str, action: str, form: dict[str, str],
            work: Any, done: str) -> Response:
    viewer.require(action)
    try:
        result = work()
    except DomainError as exc:
        return _view(request, viewer, customer_id, problem=problem_of(exc) | {"action": action}, form=form)
    target = result if isinstance(result, str) else customer_id
    return redirect(f"/customers/{quote(target)}?done={quote(done)}")


@router.post("/customers/{customer_id}/merge")
def merge(request: Request, customer_id: str, form: dict[str, str] = Depends(posted("customers")),
          viewer: Viewer = Depends(page("customers"))) -> Response:
    """Merge another profile into this one (this one keeps its id), as `POST /customers/{id}/merge`."""
    state = request.app.state
    other = form.get("other", "").strip()

    def work() -> str:
        with state.db.read() as conn:
            found = find_customer(conn, state.clock, other) if other else None
        if found is None:
            raise ValidationFailed("customer_not_found", "No customer has this id, e-mail, phone or code.",
                                   field="other")
        writes.retrying(state.db, lambda conn: merging.merge_customers(conn, state.clock, customer_id, found,
                                                                       actor=viewer.actor))
        return customer_id

    return _action(request, viewer, customer_id, "customer.merge", form, work, "merged")


@router.post("/customers/{customer_id}/merges/{merge_id}/undo")
def unmerge(request: Request, customer_id: str, merge_id: str, form: dict[str, str] = Depends(posted("customers")),
            viewer: Viewer = Depends(page("customers"))) -> Response:
    """Undo a merge from its audit record (`POST /customers/merges/{id}/undo`): the absorbed profile returns."""
    state = request.app.state

    def work() -> str:
        with state.db.read() as conn:
            merge_ = customers.get_merge(conn, merge_id)
            if customers.resolve_id(conn, customer_id) not in (merge_["survivor_id"], merge_["merged_id"]):
                raise NotFound("merge_not_found", f"Merge '{merge_id}' is not one of this customer's.")
        with state.db.transaction() as conn:
            merging.undo_merge(conn, state.clock, merge_id, actor=viewer.actor)
        return customer_id

    return _action(request, viewer, customer_id, "customer.merge", form, work, "unmerged")


@router.post("/customers/{customer_id}/erase")
def erase(request: Request, customer_id: str, form: dict[str, str] = Depends(posted("customers")),
          viewer: Viewer = Depends(page("customers"))) -> Response:
    """GDPR erasure (`DELETE /customers/{id}`), only once the admin typed the customer's id to confirm."""
    state = request.app.state

    def work() -> str:
        with state.db.read() as conn:
            cid = customers.resolve_id(conn, customer_id) or customer_id
        if form.get("confirm", "").strip() != cid:
            raise ValidationFailed("confirmation_required", "Type the customer's id to confirm the erasure.",
                                   field="confirm")
        with state.db.transaction() as conn:
            privacy.erase_customer(conn, state.clock, cid, actor=viewer.actor)
        return cid

    return _action(request, viewer, customer_id, "customer.erase", form, work, "erased")
