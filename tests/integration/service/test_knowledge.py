"""The knowledge base over HTTP: articles in Spanish and English, edits with revisions, size limits and problem
details, and the search that shows what the bot would make of a message (its index follows every change)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import events_of

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.security import Role

SHIPPING = {"language": "es", "title": "Gastos de envío", "keywords": ["portes", "Canarias", "portes"],
            "body": "El envío a la península cuesta 4,95 €, gratis desde 50 €. A Canarias, 12,95 €.",
            "published": True}


def test_articles_are_created_read_listed_and_edited(desk: TestClient, db: Database) -> None:
    created = ok(desk.post("/api/v1/kb/articles", json=SHIPPING), 201)
    assert created["id"].startswith("kb_") and created["revision"] == 1
    assert created["keywords"] == ["portes", "canarias"]  # trimmed, lower-cased, once each
    english = ok(desk.post("/api/v1/kb/articles", json={"language": "en", "title": "Returns",
                                                        "body": "30 days to return."}), 201)
    assert english["published"] is False
    assert ok(desk.get(f"/api/v1/kb/articles/{created['id']}")) == created
    assert [a["id"] for a in ok(desk.get("/api/v1/kb/articles"))["items"]] == [english["id"], created["id"]]
    assert [a["id"] for a in ok(desk.get("/api/v1/kb/articles", params={"language": "en"}))["items"]] == [
        english["id"]]
    assert [a["id"] for a in ok(desk.get("/api/v1/kb/articles", params={"published": "true"}))["items"]] == [
        created["id"]]
    assert [a["id"] for a in ok(desk.get("/api/v1/kb/articles", params={"q": "ENVÍO"}))["items"]] == [created["id"]]

    edited = ok(desk.patch(f"/api/v1/kb/articles/{english['id']}", json={"published": True, "revision": 1}))
    assert edited["published"] is True and edited["revision"] == 2 and edited["title"] == "Returns"
    stale = problem(desk.patch(f"/api/v1/kb/articles/{english['id']}", json={"title": "Old", "revision": 1}),
                    409, "article_changed")
    assert stale["revision"] == 2
    assert ok(desk.get(f"/api/v1/kb/articles/{english['id']}"))["title"] == "Returns"  # nothing changed

    assert desk.delete(f"/api/v1/kb/articles/{english['id']}").status_code == 204
    problem(desk.get(f"/api/v1/kb/articles/{english['id']}"), 404, "article_not_found")
    problem(desk.delete(f"/api/v1/kb/articles/{english['id']}"), 404, "article_not_found")
    assert [e["article_id"] for e in events_of(db, "kb.article_created")] == [english["id"], created["id"]]


def test_bad_articles_are_refused_with_problem_details_and_nothing_stored(desk: TestClient) -> None:
    for body in ({**SHIPPING, "language": "fr"}, {**SHIPPING, "title": ""}, {**SHIPPING, "title": "   "},
                 {**SHIPPING, "body": "x" * 10_001}, {**SHIPPING, "keywords": ["k"] * 31},
                 {**SHIPPING, "keywords": ["k" * 61]}, {**SHIPPING, "author": "me"}, {"title": "T"}):
        problem(desk.post("/api/v1/kb/articles", json=body), 422, "validation_error")
    created = ok(desk.post("/api/v1/kb/articles", json=SHIPPING), 201)
    problem(desk.patch(f"/api/v1/kb/articles/{created['id']}", json={"body": ""}), 422, "validation_error")
    problem(desk.patch("/api/v1/kb/articles/kb_nope", json={"title": "T"}), 404, "article_not_found")
    assert ok(desk.get("/api/v1/kb/articles"))["items"] == [created]


def test_agents_edit_articles_but_only_admins_delete_them(desk: TestClient, db: Database, clock: ManualClock) -> None:
    agent = {"Authorization": f"Bearer {make_key(db, clock, Role.AGENT)}"}
    created = ok(desk.post("/api/v1/kb/articles", json=SHIPPING, headers=agent), 201)
    assert created["created_by"] and created["created_by"] == created["updated_by"]
    ok(desk.patch(f"/api/v1/kb/articles/{created['id']}", json={"published": False}, headers=agent))
    problem(desk.delete(f"/api/v1/kb/articles/{created['id']}", headers=agent), 403, "role_not_allowed")
    marketer = {"Authorization": f"Bearer {make_key(db, clock, Role.MARKETER)}"}
    problem(desk.get("/api/v1/kb/articles", headers=marketer), 403, "role_not_allowed")


def test_the_search_follows_every_change_of_the_articles(desk: TestClient) -> None:
    def search(q: str) -> dict:
        return ok(desk.get("/api/v1/kb/search", params={"q": q}))

    assert search("¿Cuánto cuesta el envío a Canarias?")["hits"] == []
    created = ok(desk.post("/api/v1/kb/articles", json=SHIPPING), 201)
    found = search("¿Cuánto cuesta el envío a Canarias?")
    assert found["language"] == "es" and found["decision"] == "answer_article"
    assert [(h["id"], h["confidence"]) for h in found["hits"]] == [(created["id"], 1.0)]
    assert search("¿Vendéis tarjetas regalo?")["decision"] == "handoff"
    assert search("quiero hablar con una persona")["reason"] == "asked_for_person"

    ok(desk.patch(f"/api/v1/kb/articles/{created['id']}", json={"body": "Los portes a Baleares cuestan 7,95 €.",
                                                                "keywords": []}))
    assert search("¿Cuánto cuesta el envío a Canarias?")["hits"][0]["confidence"] < 1.0
    ok(desk.patch(f"/api/v1/kb/articles/{created['id']}", json={"published": False}))
    assert search("¿Cuánto cuesta el envío a Canarias?")["hits"] == []
