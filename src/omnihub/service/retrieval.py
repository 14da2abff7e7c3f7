"""Ranking knowledge-base articles for a question: BM25 (`bm25s`) over Snowball-stemmed tokens, one index per
language. Pure (no database): `KnowledgeIndex.build(articles)` from rows the caller read; `bot.py` keeps one per
process and builds it again when the articles change.

Confidence: BM25 scores are not comparable between questions, so the bot's threshold reads another number —
the share of the question's content (its stemmed words, weighted by their inverse document frequency; a word
no article has weighs most) that the best-ranked article contains. 1.0: every word of the question is in the
article; a question about something the knowledge base never mentions stays low whatever its BM25 score."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omnihub.service.bot_rules import LANGUAGES, Hit, detect_language, tokens

TITLE_WEIGHT = 2  # the title's and keywords' words count twice


def article_tokens(article: Mapping[str, Any]) -> list[str]:
    language = article["language"]
    head = " ".join([article["title"], *article.get("keywords", [])])
    return tokens(head, language) * TITLE_WEIGHT + tokens(article["body"], language)


@dataclass
class _LanguageIndex:
    articles: list[Mapping[str, Any]]
    docs: list[set[str]]
    df: dict[str, int]
    bm25: Any

    def idf(self, term: str) -> float:
        n = len(self.docs)
        return math.log(1 + (n - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5))

    def search(self, query: list[str], limit: int) -> list[tuple[int, float, float]]:
        """(article index, BM25 score, confidence), best first; only articles sharing a word with the query."""
        if not query or not self.docs:
            return []
        scores = self.bm25.get_scores(query)
        unique = set(query)
        total = sum(self.idf(t) for t in unique)
        ranked = sorted(((float(s), i) for i, s in enumerate(scores) if s > 0), reverse=True)[:limit]
        return [(i, s, sum(self.idf(t) for t in unique & self.docs[i]) / total) for s, i in ranked]


@dataclass
class KnowledgeIndex:
    """Published articles, indexed per language."""

    by_language: dict[str, _LanguageIndex] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def build(cls, articles: Iterable[Mapping[str, Any]]) -> KnowledgeIndex:
        import bm25s

        grouped: dict[str, list[Mapping[str, Any]]] = {lang: [] for lang in LANGUAGES}
        for article in articles:
            grouped.setdefault(article["language"], []).append(article)
        index = cls()
        for language, items in grouped.items():
            if not items:
                continue
            corpus = [article_tokens(a) for a in items]
            bm25 = bm25s.BM25()
            bm25.index([doc or ["\u2205"] for doc in corpus], show_progress=False)
            docs = [set(doc) for doc in corpus]
            df: dict[str, int] = {}
            for doc in docs:
                for term in doc:
                    df[term] = df.get(term, 0) + 1
            index.by_language[language] = _LanguageIndex(items, docs, df, bm25)
            index.size += len(items)
        return index

    def search(self, text: str, *, language: str | None = None, limit: int = 5) -> tuple[str | None, list[Hit]]:
        """(the question's language, the best articles), in the question's language when it tells; when it does
        not, both languages are tried and the better first hit wins."""
        language = language or detect_language(text)
        tried = [language] if language else list(LANGUAGES)
        best: tuple[str | None, list[Hit]] = (language, [])
        for lang in tried:
            found = self.by_language.get(lang)
            if found is None:
                continue
            hits = [Hit(found.articles[i]["id"], found.articles[i]["title"], found.articles[i]["body"], lang,
                        round(score, 4), round(conf, 4))
                    for i, score, conf in found.search(tokens(text, lang), limit)]
            if hits and (not best[1] or hits[0].confidence > best[1][0].confidence):
                best = (lang if language is None else language, hits)
        return best
