"""Read side of the knowledge base and the bot: articles, the retrieval index over the published ones (built once
per process and again only when the articles changed), and a conversation's handoff."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import as_utc
from omnihub.core.pagination import decode_cursor, page
from omnihub.service import errors
from omnihub.service.models import bot_handoffs, kb_articles
from omnihub.service.retrieval import KnowledgeIndex

A = kb_articles.c
H = bot_handoffs.c


def _iso(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def article_out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "language": row.language, "title": row.title, "body": row.body,
            "keywords": list(row.keywords or []), "published": bool(row.published), "revision": row.revision,
            "created_by": row.created_by, "updated_by": row.updated_by, "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at)}


def get_article(conn: Connection, article_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(kb_articles).where(A.id == article_id)).first()
    if row is None:
        raise errors.article_not_found(article_id)
    return article_out(row)


def list_articles(conn: Connection, *, limit: int, cursor: str | None, language: str | None = None,
                  published: bool | None = None, q: str | None = None) -> dict[str, Any]:
    """Newest first (ids grow with time), paged by id; `q`: text in the title, case-insensitive."""
    query = sa.select(kb_articles).order_by(A.id.desc()).limit(limit + 1)
    if language:
        query = query.where(A.language == language)
    if published is not None:
        query = query.where(A.published.is_(published))
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.func.lower(A.title).like(pattern, escape="\\"))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(A.id < str(after))
    return page([article_out(r) for r in conn.execute(query)], limit, key=lambda x: x["id"])


# ---- the index -----------------------------------------------------------------------------------------------

_lock = threading.Lock()
_indexes: dict[str, tuple[tuple[Any, ...], KnowledgeIndex]] = {}

_FINGERPRINT = sa.select(sa.func.count(), sa.func.max(A.updated_at), sa.func.coalesce(sa.func.sum(A.revision), 0),
                         sa.func.min(A.id), sa.func.max(A.id)).where(A.published.is_(True))


def current_index(conn: Connection) -> KnowledgeIndex:
    """The BM25 index of the published articles. One cheap aggregate per call tells whether they changed since the
    index was built (count, latest change, sum of revisions, first and last id); if so it is built again, in this
    process — every process (API, each worker) keeps its own. A few hundred articles build in milliseconds."""
    fingerprint = tuple(conn.execute(_FINGERPRINT).one())
    where = conn.engine.url.render_as_string(hide_password=True)
    cached = _indexes.get(where)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rows = conn.execute(sa.select(A.id, A.language, A.title, A.body, A.keywords)
                        .where(A.published.is_(True)).order_by(A.id)).all()
    index = KnowledgeIndex.build([{"id": r.id, "language": r.language, "title": r.title, "body": r.body,
                                   "keywords": list(r.keywords or [])} for r in rows])
    with _lock:
        _indexes[where] = (fingerprint, index)
    return index


# ---- handoffs --------------------------------------------------------------------------------------------------


def open_handoff(conn: Connection, conversation_id: str) -> Any:
    return conn.execute(sa.select(bot_handoffs).where(H.open_for == conversation_id)).first()


def handoff_of(conn: Connection, conversation_id: str) -> dict[str, Any] | None:
    """The conversation's latest handoff by the bot: why, when, on which message, and whether it is still open (it
    closes when the conversation is resolved)."""
    row = conn.execute(sa.select(bot_handoffs).where(H.conversation_id == conversation_id)
                       .order_by(H.at.desc(), H.id.desc()).limit(1)).first()
    return handoff_out(row) if row is not None else None


def latest_handoff_id(conversation: sa.ColumnElement[str]) -> sa.ScalarSelect[str]:
    """The id of a conversation's latest handoff, as a subquery (the thread view joins it)."""
    return (sa.select(H.id).where(H.conversation_id == conversation).order_by(H.at.desc(), H.id.desc()).limit(1)
            .scalar_subquery())


def handoff_out(row: Any) -> dict[str, Any]:
    """A handoff as the conversation's view shows it (from a `bot_handoffs` row, or anything with its fields)."""
    return {"reason": row.reason, "at": _iso(row.at), "message_id": row.message_id, "open": row.closed_at is None,
            "detail": row.detail or {}}
