"""Webhooks: subscriptions, their delivery log (dead letters first-class), redelivery."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.connectors.webhooks import queries as webhooks
from omnihub.connectors.webhooks import service as webhooks_service
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)


@router.get("/webhooks")
def webhook_list(request: Request, viewer: Viewer = Depends(page("webhooks"))) -> Response:
    with request.app.state.db.read() as conn:
        items = webhooks.list_webhooks(conn, limit=200, cursor=None)["items"]
        counts = {w["id"]: webhooks.delivery_counts(conn, w["id"]) for w in items}
    return render(request, "webhooks/list.html", {"webhooks": items, "counts": counts})


def _detail(request: Request, webhook_id: str, status: str, cursor: str, *, problem: dict | None = None,
            done: str | None = None) -> Response:
    with request.app.state.db.read() as conn:
        webhook = webhooks.get_webhook(conn, webhook_id)
        counts = webhooks.delivery_counts(conn, webhook_id)
        try:
            deliveries = webhooks.list_deliveries(conn, webhook_id, limit=50, cursor=cursor or None,
                                                  status=status or None)
        except DomainError as exc:
            problem = problem or problem_of(exc)
            deliveries = {"items": [], "next_cursor": None}
    return render(request, "webhooks/detail.html", {
        "webhook": webhook, "counts": counts, "deliveries": deliveries, "status_filter": status, "problem": problem,
        "done": done}, status=problem["status"] if problem else 200)


@router.get("/webhooks/{webhook_id}")
def webhook_detail(request: Request, webhook_id: str, status: str = "", cursor: str = "", done: str | None = None,
                   viewer: Viewer = Depends(page("webhooks"))) -> Response:
    return _detail(request, webhook_id, status, cursor, done=done)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(request: Request, webhook_id: str, delivery_id: str,
              form: dict[str, str] = Depends(posted("webhooks")),
              viewer: Viewer = Depends(page("webhooks"))) -> Response:
    viewer.require("webhook.redeliver")
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            webhooks_service.redeliver(conn, state.clock, webhook_id, delivery_id)
    except DomainError as exc:
        return _detail(request, webhook_id, form.get("status", ""), "", problem=problem_of(exc))
    return redirect(f"/webhooks/{webhook_id}?done=redeliver")
