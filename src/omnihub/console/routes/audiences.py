"""Ad audiences and campaign results. Audiences: who the `audience` steps collected, an export in Meta Custom
Audiences or Google Customer Match columns (full, or the adds and removes since the last one) and the history of
exports, each downloadable again. Campaign results: per rule sent, opened, clicked, converted and revenue, with
the rates between them (the attribution the automation room records)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from omnihub.automation import audiences
from omnihub.automation import queries as automation
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, NotFound

router = APIRouter(route_class=ConsoleRoute)
AudienceName = Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@router.get("/audiences")
def audience_list(request: Request, viewer: Viewer = Depends(page("audiences"))) -> Response:
    with request.app.state.db.read() as conn:
        found = audiences.list_audiences(conn)
    return render(request, "audiences/list.html", {"audiences": found})


def _detail(request: Request, name: str, *, done: str | None = None, problem: dict[str, Any] | None = None,
            last: dict[str, Any] | None = None) -> Response:
    with request.app.state.db.read() as conn:
        members = {a["name"]: a["members"] for a in audiences.list_audiences(conn)}
        history = audiences.history(conn, name)
    if name not in members and not history:
        raise NotFound("audience_not_found", f"No audience '{name}'.", name=name)
    return render(request, "audiences/detail.html", {
        "name": name, "members": members.get(name, 0), "history": history, "done": done, "problem": problem,
        "last": last}, status=problem["status"] if problem else 200)


@router.get("/audiences/{name}")
def audience_detail(request: Request, name: str = AudienceName, done: str | None = None,
                    viewer: Viewer = Depends(page("audiences"))) -> Response:
    return _detail(request, name, done=done)


@router.post("/audiences/{name}/exports")
def audience_export(request: Request, name: str = AudienceName, form: dict[str, str] = Depends(posted("audiences")),
                    viewer: Viewer = Depends(page("audiences"))) -> Response:
    viewer.require("audience.export")
    fmt = form.get("format") if form.get("format") in ("meta", "google") else "meta"
    mode = form.get("mode") if form.get("mode") in ("full", "delta") else "full"
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            audiences.export(conn, state.clock, name, fmt, mode)
    except DomainError as exc:
        return _detail(request, name, problem=problem_of(exc))
    return redirect(f"/audiences/{name}?done=exported")


@router.get("/audiences/{name}/exports/{export_id}/{part}.csv")
def audience_export_file(request: Request, name: str = AudienceName, export_id: str = Path(max_length=40),
                         part: str = Path(pattern="^(adds|removes)$"),
                         viewer: Viewer = Depends(page("audiences"))) -> Response:
    with request.app.state.db.read() as conn:
        body = audiences.export_file(conn, name, export_id, part)
    return Response(body, media_type="text/csv", headers={
        "Content-Disposition": f"attachment; filename=\"{name}-{export_id}-{part}.csv\"", "Cache-Control": "no-store"})


def _rate(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / whole:.1f} %" if whole else "—"


@router.get("/campaigns")
def campaign_results(request: Request, viewer: Viewer = Depends(page("campaigns"))) -> Response:
    with request.app.state.db.read() as conn:
        rules = automation.list_rules(conn, limit=200, cursor=None)["items"]
        results = [{"rule": r, **automation.results(conn, r["id"])} for r in rules]
    results.sort(key=lambda x: (-x["sent"], x["rule"]["name"]))
    totals: dict[str, Any] = {k: sum(x[k] for x in results) for k in ("sent", "opened", "clicked", "converted")}
    revenue: dict[str, Decimal] = {}
    for x in results:
        x["open_rate"], x["click_rate"] = _rate(x["opened"], x["sent"]), _rate(x["clicked"], x["sent"])
        x["conversion_rate"] = _rate(x["converted"], x["sent"])
        for currency, amount in x["revenue"].items():
            revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(amount)
    totals["revenue"] = {c: str(v) for c, v in sorted(revenue.items())}
    return render(request, "campaigns.html", {"results": results, "totals": totals})
