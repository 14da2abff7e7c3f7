"""Connectors: each shop connection's health (last success, last error, push lag), the ERP's (last document
delivered, last error, lag of what waits, documents per status), the orders sold there beyond
the hub's stock, the dead letters with their payload, reason and replay, and the payment providers'
notifications the worker gave up on, with their error and a retry."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.billing import queries as billing_queries
from omnihub.billing.notification_retry import retry_notification
from omnihub.commerce import queries as commerce_queries
from omnihub.connectors.erp import queries as erp_queries
from omnihub.connectors.hub import queries as hub_queries
from omnihub.connectors.hub import service as hub_service
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)
CONNECTORS = ("shopify", "woocommerce")


@router.get("/connectors")
def connector_list(request: Request, viewer: Viewer = Depends(page("connectors"))) -> Response:
    state = request.app.state
    with state.db.read() as conn:
        connections = hub_queries.connections(conn, state.clock)
        oversold = commerce_queries.oversold_orders(conn, limit=20)
        erp = erp_queries.health(conn, state.clock.now())
    return render(request, "connectors/list.html", {"connections": connections, "oversold": oversold, "erp": erp})


@router.get("/connectors/dead-letters")
def dead_letter_list(request: Request, connector: str = "", status: str = "open", cursor: str = "",
                     viewer: Viewer = Depends(page("connectors"))) -> Response:
    connector = connector if connector in CONNECTORS else ""
    status = status if status in ("open", "replayed") else ""
    problem = None
    with request.app.state.db.read() as conn:
        try:
            letters = hub_queries.dead_letters(conn, connector=connector or None, channel=None,
                                               status=status or None, limit=50, cursor=cursor or None)
        except DomainError as exc:
            problem, letters = problem_of(exc), {"items": [], "next_cursor": None}
    return render(request, "connectors/dead_letters.html", {
        "letters": letters, "connector": connector, "status_filter": status, "connectors": CONNECTORS,
        "problem": problem}, status=problem["status"] if problem else 200)


def _letter(request: Request, letter_id: str, *, problem: dict | None = None, done: str | None = None) -> Response:
    with request.app.state.db.read() as conn:
        letter = hub_queries.dead_letter(conn, letter_id)
    payload = json.dumps(letter["payload"], indent=2, ensure_ascii=False, sort_keys=True)
    return render(request, "connectors/dead_letter.html", {
        "letter": letter, "payload": payload[:200_000], "problem": problem, "done": done},
        status=problem["status"] if problem else 200)


@router.get("/connectors/dead-letters/{letter_id}")
def dead_letter_detail(request: Request, letter_id: str, done: str | None = None,
                       viewer: Viewer = Depends(page("connectors"))) -> Response:
    return _letter(request, letter_id, done=done)


@router.post("/connectors/dead-letters/{letter_id}/replay")
def replay(request: Request, letter_id: str, form: dict[str, str] = Depends(posted("connectors")),
           viewer: Viewer = Depends(page("connectors"))) -> Response:
    viewer.require("connector.replay")
    state = request.app.state
    try:
        hub_service.replay(state.db, state.clock, state.settings.secret_key, letter_id)
    except DomainError as exc:
        if exc.code == "dead_letter_not_found":
            raise
        return _letter(request, letter_id, problem=problem_of(exc))
    return redirect(f"/connectors/dead-letters/{letter_id}?done=replay")


NOTIFICATION_STATUSES = ("failed", "pending", "done")


@router.get("/connectors/payment-notifications")
def notification_list(request: Request, status: str = "failed", cursor: str = "",
                      viewer: Viewer = Depends(page("connectors"))) -> Response:
    status = status if status in NOTIFICATION_STATUSES else ""
    problem = None
    with request.app.state.db.read() as conn:
        try:
            notices = billing_queries.list_notifications(conn, limit=50, cursor=cursor or None,
                                                         status=status or None)
        except DomainError as exc:
            problem, notices = problem_of(exc), {"items": [], "next_cursor": None}
    return render(request, "connectors/payment_notifications.html", {
        "notices": notices, "status_filter": status, "statuses": NOTIFICATION_STATUSES, "problem": problem},
        status=problem["status"] if problem else 200)


def _notification(request: Request, notification_id: str, *, problem: dict | None = None,
                  done: str | None = None) -> Response:
    with request.app.state.db.read() as conn:
        notice = billing_queries.get_notification(conn, notification_id)
    said = json.dumps({"notice": notice["notice"], "result": notice["result"]}, indent=2, ensure_ascii=False,
                      sort_keys=True, default=str)
    return render(request, "connectors/payment_notification.html", {
        "n": notice, "said": said[:200_000], "problem": problem, "done": done},
        status=problem["status"] if problem else 200)


@router.get("/connectors/payment-notifications/{notification_id}")
def notification_detail(request: Request, notification_id: str, done: str | None = None,
                        viewer: Viewer = Depends(page("connectors"))) -> Response:
    return _notification(request, notification_id, done=done)


@router.post("/connectors/payment-notifications/{notification_id}/retry")
def notification_retry(request: Request, notification_id: str,
                       form: dict[str, str] = Depends(posted("connectors")),
                       viewer: Viewer = Depends(page("connectors"))) -> Response:
    viewer.require("connector.replay")
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            retry_notification(conn, state.clock, notification_id)
    except DomainError as exc:
        if exc.code == "notification_not_found":
            raise
        return _notification(request, notification_id, problem=problem_of(exc))
    return redirect(f"/connectors/payment-notifications/{notification_id}?done=retry")
