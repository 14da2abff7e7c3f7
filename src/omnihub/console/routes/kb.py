"""The knowledge-base editor: the articles the service bot answers from — list, write, edit, publish. Through the
service room's use cases and schemas, so a form shows the API's problem details."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError
from omnihub.service import knowledge, knowledge_queries
from omnihub.service.kb_schemas import ArticleIn, ArticlePatch

router = APIRouter(route_class=ConsoleRoute)


def _form_article(form: dict[str, str]) -> dict[str, Any]:
    keywords = [k.strip() for k in form.get("keywords", "").split(",") if k.strip()]
    return {"language": form.get("language", ""), "title": form.get("title", ""), "body": form.get("body", ""),
            "keywords": keywords, "published": form.get("published") == "on"}


@router.get("/kb")
def kb_list(request: Request, language: str = "", published: str = "", q: str = "", cursor: str = "",
            done: str | None = None, viewer: Viewer = Depends(page("kb"))) -> Response:
    filters = {"language": language if language in ("es", "en") else None,
               "published": {"yes": True, "no": False}.get(published), "q": q.strip()[:200] or None}
    problem = None
    try:
        with request.app.state.db.read() as conn:
            articles = knowledge_queries.list_articles(conn, limit=50, cursor=cursor or None, **filters)
    except DomainError as exc:
        problem, articles = problem_of(exc), {"items": [], "next_cursor": None}
    return render(request, "kb/list.html", {"articles": articles, "language": language, "published": published,
                                            "q": q, "done": done, "problem": problem})


def _editor(request: Request, article: dict[str, Any] | None, form: dict[str, Any], *,
            problem: dict[str, Any] | None = None, done: str | None = None) -> Response:
    return render(request, "kb/edit.html", {"article": article, "form": form, "problem": problem, "done": done},
                  status=problem["status"] if problem else 200)


@router.get("/kb/new")
def kb_new(request: Request, viewer: Viewer = Depends(page("kb"))) -> Response:
    return _editor(request, None, {"language": viewer.locale, "title": "", "body": "", "keywords": [],
                                   "published": False})


@router.post("/kb/new")
def kb_create(request: Request, form: dict[str, str] = Depends(posted("kb")),
              viewer: Viewer = Depends(page("kb"))) -> Response:
    data = _form_article(form)
    state = request.app.state
    try:
        body = ArticleIn.model_validate(data)
        with state.db.transaction() as conn:
            article_id = knowledge.create_article(conn, state.clock, body.model_dump(), actor=viewer.actor)
    except (DomainError, ValidationError) as exc:
        return _editor(request, None, data, problem=problem_of(exc))
    return redirect(f"/kb/{quote(article_id)}?done=created")


@router.get("/kb/{article_id}")
def kb_edit(request: Request, article_id: str, done: str | None = None,
            viewer: Viewer = Depends(page("kb"))) -> Response:
    with request.app.state.db.read() as conn:
        article = knowledge_queries.get_article(conn, article_id)
    return _editor(request, article, article, done=done)


def _save(request: Request, viewer: Viewer, article_id: str, changes: dict[str, Any], form: dict[str, Any],
          done: str) -> Response:
    state = request.app.state
    try:
        body = ArticlePatch.model_validate(changes)
        with state.db.transaction() as conn:
            knowledge.update_article(conn, state.clock, article_id, body.model_dump(), actor=viewer.actor)
    except (DomainError, ValidationError) as exc:
        with state.db.read() as conn:
            article = knowledge_queries.get_article(conn, article_id)
        return _editor(request, article, form, problem=problem_of(exc))
    return redirect(f"/kb/{quote(article_id)}?done={done}")


def _revision(form: dict[str, str]) -> int | None:
    value = form.get("revision", "")
    return int(value) if value.isdigit() else None


@router.post("/kb/{article_id}")
def kb_update(request: Request, article_id: str, form: dict[str, str] = Depends(posted("kb")),
              viewer: Viewer = Depends(page("kb"))) -> Response:
    """The whole article as edited; refused when someone saved it since this form was opened (its revision)."""
    data = _form_article(form)
    return _save(request, viewer, article_id, {**data, "revision": _revision(form)}, data, "saved")


@router.post("/kb/{article_id}/publish")
def kb_publish(request: Request, article_id: str, form: dict[str, str] = Depends(posted("kb")),
               viewer: Viewer = Depends(page("kb"))) -> Response:
    """Publish (the bot may answer with it) or withdraw it."""
    publish = form.get("published") == "1"
    with request.app.state.db.read() as conn:
        article = knowledge_queries.get_article(conn, article_id)
    return _save(request, viewer, article_id, {"published": publish, "revision": _revision(form)}, article,
                 "published" if publish else "withdrawn")


@router.post("/kb/{article_id}/delete")
def kb_delete(request: Request, article_id: str, form: dict[str, str] = Depends(posted("kb")),
              viewer: Viewer = Depends(page("kb"))) -> Response:
    """Admins only, like the API: agents withdraw an article instead."""
    viewer.require("kb.delete")
    state = request.app.state
    if form.get("sure") != "on":  # the box the browser asks for; a bare POST deletes nothing
        with state.db.read() as conn:
            article = knowledge_queries.get_article(conn, article_id)
        return _editor(request, article, article, problem={
            "code": "confirmation_required", "detail": "Tick the box to delete the article.", "field": "sure",
            "status": 422, "fields": {"sure": "Tick the box to delete the article."}})
    with state.db.transaction() as conn:
        knowledge.delete_article(conn, state.clock, article_id)
    return redirect("/kb?done=deleted")
