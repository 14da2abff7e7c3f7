"""Segments: the list with member counts, a rule builder (up to four conditions, all or any of them) with a live
count while it is written, and each segment's members, paged; marketers recompute or delete one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.automation import segments
from omnihub.console.rules import SEGMENT_FACTS as FACTS
from omnihub.console.rules import SEGMENT_OPERATORS as OPERATORS
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)
ROWS = 4



def _value(field: str, op: str, raw: str) -> Any:
    text = raw.strip()
    if op in ("in", "not_in"):
        return [v.strip().upper() for v in text.split(",") if v.strip()]
    if field in ("customer.has_email", "customer.has_phone"):
        return text.lower() in ("true", "yes", "sí", "si", "1")
    if field == "customer.country":
        return text.upper()
    return text


def segment_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The builder's rows as a segment document (validated by the automation room like an API call)."""
    conditions: list[dict[str, Any]] = []
    for i in range(ROWS):
        field, op = form.get(f"field_{i}", ""), form.get(f"op_{i}", "")
        if not field:
            continue
        cond: dict[str, Any] = {"field": field, "op": op}
        if op not in ("exists", "not_exists"):
            cond["value"] = _value(field, op, form.get(f"value_{i}", ""))
        conditions.append(cond)
    if form.get("match") == "any" and len(conditions) > 1:
        conditions = [{"any": conditions}]
    return {"name": form.get("name", "").strip() or "—", "conditions": conditions}


def _list(request: Request, *, problem: dict[str, Any] | None = None, form: dict[str, str] | None = None,
          done: str | None = None, preview: dict[str, Any] | None = None) -> Response:
    with request.app.state.db.read() as conn:
        found = segments.list_segments(conn)
    return render(request, "segments/list.html", {
        "segments": found, "problem": problem, "form": form or {}, "done": done, "preview": preview,
        "facts": FACTS, "operators": OPERATORS, "rows": range(ROWS)}, status=problem["status"] if problem else 200)


@router.get("/segments")
def segment_list(request: Request, done: str | None = None, viewer: Viewer = Depends(page("segments"))) -> Response:
    return _list(request, done=done)


@router.post("/segments/count")
def segment_count(request: Request, form: dict[str, str] = Depends(posted("segments")),
                  viewer: Viewer = Depends(page("segments"))) -> Response:
    """The live count (htmx swaps it in as the rule is edited; nothing is stored)."""
    state = request.app.state
    try:
        with state.db.read() as conn:
            preview = segments.preview(conn, state.clock, segment_from_form(form))
    except DomainError as exc:
        return render(request, "segments/_count.html", {"problem": problem_of(exc)})
    return render(request, "segments/_count.html", {"preview": preview})


@router.post("/segments")
def segment_create(request: Request, form: dict[str, str] = Depends(posted("segments")),
                   viewer: Viewer = Depends(page("segments"))) -> Response:
    state = request.app.state
    document = segment_from_form(form)
    try:
        if form.get("action") == "count":
            with state.db.read() as conn:
                return _list(request, form=form, preview=segments.preview(conn, state.clock, document))
        viewer.require("segment.edit")
        with state.db.transaction() as conn:
            created = segments.create_segment(conn, state.clock, document)
    except DomainError as exc:
        return _list(request, problem=problem_of(exc), form=form)
    return redirect(f"/segments/{created['id']}?done=created")


@router.get("/segments/{segment_id}")
def segment_detail(request: Request, segment_id: str, cursor: str = "", done: str | None = None,
                   viewer: Viewer = Depends(page("segments"))) -> Response:
    with request.app.state.db.read() as conn:
        segment = segments.get_segment(conn, segment_id)
        found = segments.members(conn, segment_id, limit=50, cursor=cursor or None)
    return render(request, "segments/detail.html", {"segment": segment, "members": found, "done": done})


@router.post("/segments/{segment_id}/recompute")
def segment_recompute(request: Request, segment_id: str, form: dict[str, str] = Depends(posted("segments")),
                      viewer: Viewer = Depends(page("segments"))) -> Response:
    viewer.require("segment.edit")
    state = request.app.state
    with state.db.transaction() as conn:
        segments.get_segment(conn, segment_id)
        segments.recompute(conn, state.clock, segment_id)
    return redirect(f"/segments/{segment_id}?done=recomputed")


@router.post("/segments/{segment_id}/delete")
def segment_delete(request: Request, segment_id: str, form: dict[str, str] = Depends(posted("segments")),
                   viewer: Viewer = Depends(page("segments"))) -> Response:
    viewer.require("segment.edit")
    with request.app.state.db.transaction() as conn:
        segments.delete_segment(conn, segment_id)
    return redirect("/segments?done=deleted")
