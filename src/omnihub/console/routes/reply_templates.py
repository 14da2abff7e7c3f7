"""Reply templates: the list, and one template's editor (create, change, delete). Agents read them (they pick
them in the inbox); only admins write them, as in the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError
from omnihub.service import queries as service_queries
from omnihub.service import replies
from omnihub.service.schemas import TemplateBody, TemplateIn

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 100
PAGE = "reply-templates"


@router.get("/reply-templates")
def template_list(request: Request, cursor: str = "", done: str | None = None,
                  viewer: Viewer = Depends(page(PAGE))) -> Response:
    problem = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    with request.app.state.db.read() as conn:
        try:
            result = service_queries.list_templates(conn, limit=PAGE_SIZE, cursor=cursor or None)
        except DomainError as exc:
            problem = problem_of(exc)
    return render(request, "reply_templates/list.html", {
        "templates": result["items"], "next_cursor": result["next_cursor"], "problem": problem, "done": done},
        status=problem["status"] if problem else 200)


def _form_of(template: dict[str, Any]) -> dict[str, str]:
    whatsapp = template.get("whatsapp") or {}
    return {"code": template["code"], "name": template["name"], "subject": template.get("subject") or "",
            "body": template["body"], "whatsapp_name": whatsapp.get("name") or "",
            "whatsapp_language": whatsapp.get("language") or "",
            "whatsapp_parameters": "\n".join(whatsapp.get("parameters") or [])}


def _editor(request: Request, form: dict[str, str], *, new: bool, problem: dict[str, Any] | None = None,
            done: str | None = None) -> Response:
    return render(request, "reply_templates/edit.html", {"form": form, "new": new, "problem": problem,
                                                         "done": done},
                  status=problem["status"] if problem else 200)


@router.get("/reply-templates/new")
def new_template(request: Request, viewer: Viewer = Depends(page(PAGE))) -> Response:
    viewer.require("template.edit")
    return _editor(request, {}, new=True)


@router.get("/reply-templates/{code}")
def edit_template(request: Request, code: str, done: str | None = None,
                  viewer: Viewer = Depends(page(PAGE))) -> Response:
    with request.app.state.db.read() as conn:
        template = service_queries.get_template(conn, code)
    return _editor(request, _form_of(template), new=False, done=done)


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The API's template body from the form (empty optional fields are absent)."""
    data: dict[str, Any] = {"name": form.get("name", "").strip(), "body": form.get("body", "")}
    if form.get("subject", "").strip():
        data["subject"] = form["subject"].strip()
    if form.get("whatsapp_name", "").strip():
        data["whatsapp"] = {"name": form["whatsapp_name"].strip(),
                            "parameters": [p.strip() for p in form.get("whatsapp_parameters", "").splitlines()
                                           if p.strip()]}
        if form.get("whatsapp_language", "").strip():
            data["whatsapp"]["language"] = form["whatsapp_language"].strip()
    return data


@router.post("/reply-templates")
def create_template(request: Request, form: dict[str, str] = Depends(posted(PAGE)),
                    viewer: Viewer = Depends(page(PAGE))) -> Response:
    viewer.require("template.edit")
    state = request.app.state
    try:
        body = TemplateIn.model_validate({"code": form.get("code", "").strip(), **_body(form)})
        with state.db.transaction() as conn:
            replies.create_template(conn, state.clock, body.model_dump())
    except (DomainError, ValidationError) as exc:
        return _editor(request, form, new=True, problem=problem_of(exc))
    return redirect(f"/reply-templates/{quote(body.code)}?done=created")


@router.post("/reply-templates/{code}")
def save_template(request: Request, code: str, form: dict[str, str] = Depends(posted(PAGE)),
                  viewer: Viewer = Depends(page(PAGE))) -> Response:
    viewer.require("template.edit")
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            service_queries.get_template(conn, code)  # editing changes a template; it never creates one
            body = TemplateBody.model_validate(_body(form))
            replies.replace_template(conn, state.clock, code, body.model_dump())
    except (DomainError, ValidationError) as exc:
        return _editor(request, {**form, "code": code}, new=False, problem=problem_of(exc))
    return redirect(f"/reply-templates/{quote(code)}?done=saved")


@router.post("/reply-templates/{code}/delete")
def delete_template(request: Request, code: str, form: dict[str, str] = Depends(posted(PAGE)),
                    viewer: Viewer = Depends(page(PAGE))) -> Response:
    viewer.require("template.edit")
    with request.app.state.db.transaction() as conn:
        replies.delete_template(conn, code)
    return redirect("/reply-templates?done=deleted")
