"""Every keyed write records its Idempotency-Key in the transaction of its effect (core.idempotency): a retry
never repeats an effect, whatever died when; kept answers hold no secrets, follow erasure and expire."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, problem, product
from tests.servers import server_thread

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core import idempotency
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.idempotency import IdempotencyMiddleware, idempotency_keys
from omnihub.worker import Worker


@pytest.fixture
def shop(admin: TestClient) -> TestClient:
    location(admin, "wh", kind="warehouse", pickup=False)
    product(admin, "MUG", category="home")
    channel(admin, "web", kind="web", locations=["wh"])
    return admin


def receipt(quantity: int = 3, reference: str = "po-1") -> dict[str, Any]:
    return {"movements": [{"kind": "receipt", "location": "wh", "sku": "MUG", "quantity": quantity,
                           "reference": reference}]}


def on_hand(api: TestClient) -> int:
    return int(ok(api.get("/api/v1/stock/wh/MUG"))["on_hand"])


def key_rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(idempotency_keys)))


@pytest.fixture
def answers_never_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process dies between the effect's commit and keeping its answer: no answer goes out, none is kept."""

    def die(*_: Any, **__: Any) -> None:
        raise RuntimeError("killed before the answer was kept")

    monkeypatch.setattr(IdempotencyMiddleware, "_settle", die)
    yield
    monkeypatch.undo()


def test_an_effect_whose_answer_was_lost_is_never_repeated(shop: TestClient, db: Database, clock: ManualClock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def die(*_: Any, **__: Any) -> None:
        raise RuntimeError("killed before the answer was kept")

    monkeypatch.setattr(IdempotencyMiddleware, "_settle", die)
    first = shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "po-1"})
    monkeypatch.undo()

    [row] = key_rows(db)  # committed with the receipt, though no answer was ever kept
    waiting = shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "po-1"})
    clock.advance(seconds=11)
    lost = shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "po-1"})
    clock.advance(hours=1)
    later = shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "po-1"})

    assert first.status_code == 500
    assert row.status_code is None and row.effect["path"] == "/api/v1/stock/movements"
    assert problem(waiting, 409, "idempotency_request_in_progress")["field"] == "Idempotency-Key"
    body = problem(lost, 409, "idempotency_answer_lost")
    assert body["request"] == {"method": "POST", "path": "/api/v1/stock/movements"}
    assert [e["type"] for e in body["events"]] == ["stock.changed"]
    assert body["events"][0]["sku"] == "MUG" and body["events"][0]["location"] == "wh"
    assert later.json() == lost.json()
    assert on_hand(shop) == 3  # one receipt, however often it was retried


def test_a_write_that_failed_keeps_no_key_row_of_its_own_and_may_be_retried(shop: TestClient, db: Database
                                                                              ) -> None:
    """A refusal changes nothing: its answer is kept (a retry hears the same), but no effect is claimed."""
    refused = shop.post("/api/v1/stock/movements", headers={"Idempotency-Key": "adj-1"}, json={"movements": [
        {"kind": "adjustment", "location": "wh", "sku": "MUG", "delta": -5, "reason": "broken"}]})
    again = shop.post("/api/v1/stock/movements", headers={"Idempotency-Key": "adj-1"}, json={"movements": [
        {"kind": "adjustment", "location": "wh", "sku": "MUG", "delta": -5, "reason": "broken"}]})

    assert refused.status_code == again.status_code and 400 <= refused.status_code < 500
    assert again.headers["idempotent-replayed"] == "true"
    [row] = key_rows(db)
    assert row.status_code == refused.status_code and row.effect is None


def test_parallel_retries_of_one_key_make_one_effect(shop: TestClient, settings: Settings, db: Database,
                                                     clock: ManualClock, admin_key: str) -> None:
    clients = 8

    def send(_: int) -> httpx.Response:
        with httpx.Client(headers={"Authorization": f"Bearer {admin_key}", "Idempotency-Key": "storm"},
                          timeout=60) as http:
            return http.post(f"{url}/api/v1/stock/movements", json=receipt(2))

    with server_thread(create_app(settings, db=db, clock=clock)) as url, ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(send, range(clients)))

    done = [r for r in answers if r.status_code == 201]
    waiting = [r for r in answers if r.status_code == 409]
    assert len(done) + len(waiting) == clients, [(r.status_code, r.text[:200]) for r in answers]
    assert done and len({r.content for r in done}) == 1
    assert all(r.json()["code"] == "idempotency_request_in_progress" for r in waiting)
    assert on_hand(shop) == 2


def test_put_and_delete_honour_keys_too(shop: TestClient) -> None:
    first = ok(shop.put("/api/v1/stock/wh/MUG", json={"on_hand": 7}, headers={"Idempotency-Key": "set-7"}))
    ok(shop.put("/api/v1/stock/wh/MUG", json={"on_hand": 9}))
    replay = shop.put("/api/v1/stock/wh/MUG", json={"on_hand": 7}, headers={"Idempotency-Key": "set-7"})

    assert replay.json() == first and replay.headers["idempotent-replayed"] == "true"
    assert on_hand(shop) == 9  # the replay changed nothing
    problem(shop.put("/api/v1/stock/wh/MUG", json={"on_hand": 8}, headers={"Idempotency-Key": "set-7"}), 422,
            "idempotency_key_reused")


def test_a_replayed_webhook_answer_carries_no_secret_and_says_so(admin: TestClient, db: Database) -> None:
    body = {"url": "https://hooks.example.com/in", "events": ["order.created"]}
    first = ok(admin.post("/api/v1/webhooks", json=body, headers={"Idempotency-Key": "wh-1"}), 201)
    replay = admin.post("/api/v1/webhooks", json=body, headers={"Idempotency-Key": "wh-1"})

    assert first["secret"]
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["idempotency-redacted"] == "secret"
    assert replay.json()["secret"] is None and replay.json()["id"] == first["id"]
    assert all(first["secret"].encode() not in (row.body or b"") for row in key_rows(db))
    assert len(ok(admin.get("/api/v1/webhooks"))["items"]) == 1


def test_erasure_scrubs_kept_answers_about_the_customer(admin: TestClient, db: Database) -> None:
    channel(admin, "web", kind="web")
    created = admin.post("/api/v1/customers", headers={"Idempotency-Key": "c-1"},
                         json={"name": "Ana Ruiz", "channel": "web", "identities": {"email": "ana@correo.es"}})
    other = ok(admin.post("/api/v1/customers", headers={"Idempotency-Key": "c-2"},
                          json={"channel": "web", "identities": {"email": "bea@correo.es"}}), 201)
    cid = ok(created, 201)["id"]
    consent = ok(admin.put(f"/api/v1/customers/{cid}/consents/sms", json={"granted": True},
                           headers={"Idempotency-Key": "c-1-sms"}))

    ok(admin.delete(f"/api/v1/customers/{cid}"))
    replay = admin.post("/api/v1/customers", headers={"Idempotency-Key": "c-1"},
                        json={"name": "Ana Ruiz", "channel": "web", "identities": {"email": "ana@correo.es"}})
    consent_replay = admin.put(f"/api/v1/customers/{cid}/consents/sms", json={"granted": True},
                               headers={"Idempotency-Key": "c-1-sms"})
    other_replay = admin.post("/api/v1/customers", headers={"Idempotency-Key": "c-2"},
                              json={"channel": "web", "identities": {"email": "bea@correo.es"}})

    assert b"ana@correo.es" in created.content and consent["sms"]["granted"] is True
    assert problem(replay, 410, "idempotent_answer_erased")["field"] == "Idempotency-Key"
    assert b"ana@correo.es" not in replay.content and b"Ana Ruiz" not in replay.content
    problem(consent_replay, 410, "idempotent_answer_erased")
    assert other_replay.status_code == 201 and other_replay.json() == other  # someone else's answer stays
    assert all(b"ana@correo.es" not in (row.body or b"") and b"Ana Ruiz" not in (row.body or b"")
               for row in key_rows(db))


def test_the_worker_forgets_keys_after_the_retention(shop: TestClient, settings: Settings, db: Database,
                                                     clock: ManualClock) -> None:
    ok(shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "old"}), 201)
    clock.advance(hours=23)
    ok(shop.post("/api/v1/stock/movements", json=receipt(reference="po-2"), headers={"Idempotency-Key": "new"}),
       201)
    clock.advance(hours=2)
    worker = Worker(settings.model_copy(update={"idempotency_retention_hours": 24}), db, clock, handlers=[])
    try:
        purged = worker.purge_idempotency_keys(force=True)
    finally:
        worker.close()

    assert purged >= 1
    remaining = {row.key for row in key_rows(db)}
    assert "old" not in remaining and "new" in remaining


def test_the_key_scope_is_the_credential(shop: TestClient, db: Database, admin_key: str) -> None:
    """Two callers may use the same key string without meeting (the row is scoped by a credential hash)."""
    ok(shop.post("/api/v1/stock/movements", json=receipt(), headers={"Idempotency-Key": "k"}), 201)
    [row] = key_rows(db)
    assert row.scope == hashlib.sha256(f"Bearer {admin_key}".encode()).hexdigest()
    assert idempotency.ANSWER_LOST_AFTER.total_seconds() > 0


def test_a_database_error_never_carries_the_values_it_was_given(db: Database, clock: ManualClock) -> None:
    """What reaches the log with an unexpected error's traceback: the SQL, never the bound values."""
    statement = idempotency_keys.insert()
    row = {"scope": "s", "key": "k", "request_hash": "h", "created_at": clock.now(), "body": b"ana@correo.es"}
    with db.transaction() as conn:
        conn.execute(statement, row)
    with pytest.raises(sa.exc.IntegrityError) as raised, db.transaction() as conn:
        conn.execute(statement, row)
    assert "ana@correo.es" not in str(raised.value) and "hidden due to hide_parameters" in str(raised.value)


def test_an_unauthenticated_or_throttled_request_keeps_no_key(shop: TestClient, db: Database) -> None:
    """Nothing a wrong API key sends is kept (not even by the failure count, which is bookkeeping, not an
    effect), so the same key works once the caller authenticates."""
    wrong = shop.post("/api/v1/stock/movements", json=receipt(),
                      headers={"Idempotency-Key": "k-401", "Authorization": "Bearer ohk_wrong"})
    again = shop.post("/api/v1/stock/movements", json=receipt(),
                      headers={"Idempotency-Key": "k-401", "Authorization": "Bearer ohk_wrong"})

    assert wrong.status_code == again.status_code == 401 and "idempotent-replayed" not in again.headers
    assert key_rows(db) == []
