"""The knowledge base over HTTP (`/kb/...`), included by the service router: articles for admins and agents (only
admins delete), and `GET /kb/search` to see what the bot would make of a message."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response

from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, requires
from omnihub.service import bot_rules, knowledge, knowledge_queries, rules
from omnihub.service.kb_schemas import ArticleIn, ArticleOut, ArticlePatch, Language, SearchOut

router = APIRouter(tags=["service"])
EDITORS = (Role.AGENT,)
ArticleId = Path(max_length=40)
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("/kb/articles", response_model=Page[ArticleOut])
def list_articles(limit: int = Limit, cursor: str | None = Query(None, max_length=500),
                  language: Language | None = None, published: bool | None = None,
                  q: str | None = Query(None, max_length=200, description="Text in the title."),
                  ctx: Context = Depends(requires(*EDITORS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return knowledge_queries.list_articles(conn, limit=limit, cursor=cursor, language=language,
                                               published=published, q=q)


@router.post("/kb/articles", status_code=201, response_model=ArticleOut)
def create_article(body: ArticleIn, ctx: Context = Depends(requires(*EDITORS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        article_id = knowledge.create_article(conn, ctx.clock, body.model_dump(), actor=ctx.principal.key_id)
        return knowledge_queries.get_article(conn, article_id)


@router.get("/kb/articles/{article_id}", response_model=ArticleOut)
def get_article(article_id: str = ArticleId, ctx: Context = Depends(requires(*EDITORS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return knowledge_queries.get_article(conn, article_id)


@router.patch("/kb/articles/{article_id}", response_model=ArticleOut)
def update_article(body: ArticlePatch, article_id: str = ArticleId,
                   ctx: Context = Depends(requires(*EDITORS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        knowledge.update_article(conn, ctx.clock, article_id, body.model_dump(), actor=ctx.principal.key_id)
        return knowledge_queries.get_article(conn, article_id)


@router.delete("/kb/articles/{article_id}", status_code=204)
def delete_article(article_id: str = ArticleId, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        knowledge.delete_article(conn, ctx.clock, article_id)
    return Response(status_code=204)


@router.get("/kb/search", response_model=SearchOut)
def search(q: str = Query(min_length=1, max_length=2000, description="A customer's message."),
           language: Language | None = None, ctx: Context = Depends(requires(*EDITORS))) -> dict[str, Any]:
    """What the bot would do with this message, short of the order lookup (it assumes a verified sender)."""
    with ctx.db.read() as conn:
        found_language, hits = knowledge_queries.current_index(conn).search(q, language=language)
    reasons = {r["rule"] for r in rules.priority_reasons([], q, ctx.clock.now())}
    threshold = ctx.settings.service_bot_threshold
    decision = bot_rules.decide(q, complaint="complaint" in reasons,
                                refund=bot_rules.asks_refund(q, "refund_asked" in reasons),
                                verified=True, hit=hits[0] if hits else None, threshold=threshold)
    return {"language": language or bot_rules.detect_language(q) or found_language, "decision": decision.action,
            "reason": decision.reason, "threshold": threshold,
            "hits": [{"id": h.article_id, "title": h.title, "language": h.language, "score": h.score,
                      "confidence": h.confidence} for h in hits]}
