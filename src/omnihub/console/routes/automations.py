"""Automations: the rules with their results, a builder form for the common shape (trigger, optional wait, one
message, optional coupon), switching on and off, and each rule's run log with the reasons sends were skipped."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.automation import queries as automation
from omnihub.automation import rulebook
from omnihub.automation.rules import TEMPLATES, TRIGGERS
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)
OUTCOMES = ("started", "sent", "skipped", "deferred", "waiting", "done", "stopped", "failed")


def _list(request: Request, *, problem: dict[str, Any] | None = None, form: dict[str, str] | None = None,
          done: str | None = None) -> Response:
    with request.app.state.db.read() as conn:
        rules = automation.list_rules(conn, limit=200, cursor=None)["items"]
        results = {r["id"]: automation.results(conn, r["id"]) for r in rules}
    return render(request, "automations/list.html", {
        "rules": rules, "results": results, "problem": problem, "form": form or {}, "done": done,
        "triggers": [(t, t) for t in TRIGGERS], "templates": [(t, t) for t in TEMPLATES]},
        status=problem["status"] if problem else 200)


@router.get("/automations")
def automation_list(request: Request, done: str | None = None,
                    viewer: Viewer = Depends(page("automations"))) -> Response:
    return _list(request, done=done)


def rule_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The builder's fields as a rule document (validated by the automation room like an API call)."""
    steps: list[dict[str, Any]] = []
    if form.get("wait"):
        steps.append({"wait": form["wait"].strip()})
    if form.get("coupon_percent"):
        steps.append({"action": "coupon", "kind": "percent", "value": form["coupon_percent"].strip(),
                      "valid_for": form.get("coupon_valid_for") or "P7D",
                      "channels": form.get("coupon_channels") or "all"})
    steps.append({"action": "send", "channel": form.get("channel", ""), "template": form.get("template", "")})
    trigger = ({"schedule": form["schedule"].strip()} if form.get("trigger") == "schedule"
               else {"event": form.get("trigger", "")})
    return {"name": form.get("name", ""), "trigger": trigger, "conditions": [], "steps": steps,
            "active": form.get("active") == "on", "options": {}}


@router.post("/automations")
def automation_create(request: Request, form: dict[str, str] = Depends(posted("automations")),
                      viewer: Viewer = Depends(page("automations"))) -> Response:
    viewer.require("automation.edit")
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            rulebook.create_rule(conn, state.clock, rule_from_form(form))
    except DomainError as exc:
        return _list(request, problem=problem_of(exc), form=form)
    return redirect("/automations?done=created")


@router.post("/automations/{rule_id}/active")
def automation_switch(request: Request, rule_id: str, form: dict[str, str] = Depends(posted("automations")),
                      viewer: Viewer = Depends(page("automations"))) -> Response:
    viewer.require("automation.edit")
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            rulebook.update_rule(conn, state.clock, rule_id, {"active": form.get("active") == "on"})
    except DomainError as exc:
        return _list(request, problem=problem_of(exc))
    return redirect("/automations?done=switched")


@router.get("/automations/{rule_id}")
def automation_detail(request: Request, rule_id: str, outcome: str = "", cursor: str = "",
                      viewer: Viewer = Depends(page("automations"))) -> Response:
    with request.app.state.db.read() as conn:
        rule = automation.get_rule(conn, rule_id)
        log = automation.run_log(conn, rule_id, limit=50, cursor=cursor or None,
                                 outcome=outcome if outcome in OUTCOMES else None)
        results = automation.results(conn, rule_id)
    return render(request, "automations/detail.html", {"rule": rule, "log": log, "results": results,
                                                       "outcome": outcome, "outcomes": OUTCOMES})
