"""I/O shapes of the knowledge base and the bot's view (inputs reject unknown fields and carry size limits)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from omnihub.core.schemas import Strict

Language = Literal["es", "en"]
MAX_BODY = 10_000
Keyword = Field(min_length=1, max_length=60)


def _clean_keywords(value: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for keyword in value:
        word = " ".join(keyword.split())
        if not word:
            raise ValueError("a keyword cannot be blank")
        seen.setdefault(word.lower(), None)
    return list(seen)


class ArticleIn(Strict):
    """A knowledge-base article: what the bot may answer with (only when published), in Spanish or English."""

    language: Language
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    keywords: list[str] = Field(default_factory=list, max_length=30,
                                description="Words customers use that the text may not (at most 30, 60 chars each).")
    published: bool = False

    @field_validator("title", "body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("cannot be blank")
        return value.strip()

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        if any(len(k) > 60 for k in value):
            raise ValueError("a keyword has at most 60 characters")
        return _clean_keywords(value)


class ArticlePatch(Strict):
    """Any of the fields; `revision` (optional) refuses the change when someone saved the article meanwhile."""

    language: Language | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=MAX_BODY)
    keywords: list[str] | None = Field(default=None, max_length=30)
    published: bool | None = None
    revision: int | None = Field(default=None, ge=1)

    @field_validator("title", "body")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("cannot be blank")
        return value.strip() if value is not None else None

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(len(k) > 60 for k in value):
            raise ValueError("a keyword has at most 60 characters")
        return _clean_keywords(value)


class ArticleOut(BaseModel):
    id: str
    language: Language
    title: str
    body: str
    keywords: list[str]
    published: bool
    revision: int
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class SearchHit(BaseModel):
    id: str
    title: str
    language: Language
    score: float = Field(description="BM25 score (compares articles for this question only).")
    confidence: float = Field(description="Share of the question's content the article covers, 0..1.")


class SearchOut(BaseModel):
    """What the bot would make of a message: its language, what it asks for, the best articles, and the decision
    (`answer_article`, `answer_order`, `ask_verification` or `handoff` with its reason)."""

    language: Language | None
    decision: str
    reason: str | None
    threshold: float
    hits: list[SearchHit]


class HandoffOut(BaseModel):
    reason: str
    at: datetime
    message_id: str
    open: bool
    detail: dict[str, object]
