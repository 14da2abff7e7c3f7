"""Knowledge-base use cases: the only code that writes articles. Every change bumps the article's `revision`, which
is how the bot's in-process index notices it must be built again (`knowledge_queries.current_index`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.service import errors
from omnihub.service.models import kb_articles

A = kb_articles.c
FIELDS = ("language", "title", "body", "keywords", "published")


def create_article(conn: Connection, clock: Clock, data: Mapping[str, Any], *, actor: str | None) -> str:
    now = clock.now()
    article_id = new_id("kb")
    conn.execute(kb_articles.insert(), dict(
        id=article_id, **{f: data[f] for f in FIELDS}, revision=1, created_by=actor, updated_by=actor,
        created_at=now, updated_at=now))
    emit(conn, clock, "kb.article_created", {"article_id": article_id, "language": data["language"],
                                             "published": bool(data["published"])})
    return article_id


def update_article(conn: Connection, clock: Clock, article_id: str, changes: Mapping[str, Any], *,
                   actor: str | None) -> None:
    """Change some fields. With `revision`, only when the article is still at that revision (two editors never
    overwrite each other silently); the check and the write are one conditional UPDATE."""
    row = conn.execute(sa.select(A.revision).where(A.id == article_id)).first()
    if row is None:
        raise errors.article_not_found(article_id)
    values = {f: changes[f] for f in FIELDS if changes.get(f) is not None}
    expected = changes.get("revision")
    query = kb_articles.update().where(A.id == article_id)
    if expected is not None:
        query = query.where(A.revision == expected)
    done = conn.execute(query.values(**values, revision=A.revision + 1, updated_by=actor,
                                     updated_at=clock.now())).rowcount
    if not done:
        current = conn.execute(sa.select(A.revision).where(A.id == article_id)).scalar()
        raise errors.article_changed(article_id, int(current or 0))
    emit(conn, clock, "kb.article_updated", {"article_id": article_id, "changed": sorted(values)})


def delete_article(conn: Connection, clock: Clock, article_id: str) -> None:
    if not conn.execute(kb_articles.delete().where(A.id == article_id)).rowcount:
        raise errors.article_not_found(article_id)
    emit(conn, clock, "kb.article_deleted", {"article_id": article_id})
