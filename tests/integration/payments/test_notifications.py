"""Payment notifications in two steps (billing/notifications.py): the webhook verifies and stores, the worker's
job applies. A storm of copies sent at once and applied by two workers moves the payment once; a worker that dies
mid-batch leaves the notification to the next one, applied once; a bad signature or an unreadable body stores
nothing; one that fails to apply keeps its reason and is tried again, then kept as failed; a replaced account's
new secret applies at once (the unsealed-account cache follows the sealed value); applied ones are purged."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.payments.conftest import (
    STRIPE_KEY,
    STRIPE_WHSEC,
    apply_notifications,
    configure_stripe,
    delivered,
    intent_event,
    outcome_listener,
    stripe_signed,
)
from tests.integration.payments.test_stripe import HOOK, authorised, notify, stripe_routes, web_order
from tests.provider_receiver import ProviderReceiver

from omnihub.billing import notifications
from omnihub.billing.models import payments, provider_notifications
from omnihub.commerce.payment_outcomes import issue_due_invoices
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

N = provider_notifications.c


def stored(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(N.event_id, N.status, N.attempts, N.error).order_by(N.received_at)))


def paid_once(shop: TestClient, db: Database, order_id: str) -> None:
    with db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(payments)
                             .where(payments.c.order_id == order_id)).scalar_one()
    assert count == 1  # one billing payment: no double capture
    history = ok(shop.get(f"/api/v1/orders/{order_id}/history"))
    assert [h["to"] for h in history].count("paid") == 1


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_storm_applied_by_two_workers_at_once_pays_once(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                          clock: ManualClock, settings: Settings) -> None:
    """Each of three events about one payment sent three times by parallel threads: three stored; two workers
    apply them at the same time (SKIP LOCKED: each takes its own) — one payment, one paid step, one invoice."""
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    events = [authorised(intent, "evt_a"), authorised(intent, "evt_b"), intent_event(
        "evt_c", "payment_intent.succeeded", {**intent, "status": "succeeded", "amount_received": 2000})] * 3
    answers: list[Any] = []
    barrier = threading.Barrier(len(events))

    def send(event: dict[str, Any]) -> None:
        barrier.wait()
        answers.append(notify(shop, event))

    threads = [threading.Thread(target=send, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200] * 9
    assert sorted(r.json()["outcome"] for r in answers) == ["duplicate"] * 6 + ["queued"] * 3
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"  # not applied yet

    took: list[int] = []
    start = threading.Barrier(2)

    def work() -> None:
        start.wait()
        total = 0
        while n := db.run(lambda conn: notifications.drain(conn, clock, settings, limit=1)):
            total += n
        took.append(total)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(took) == 3
    assert [(e, s) for e, s, *_ in stored(db)].count(("evt_a", "done")) == 1
    assert {s for _, s, *_ in stored(db)} == {"done"}
    paid_once(shop, db, order["id"])
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"
    assert db.run(lambda conn: issue_due_invoices(conn, clock)) == 1  # queued once: one invoice


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_worker_that_dies_mid_batch_leaves_it_to_the_next_applied_once(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock, settings: Settings) -> None:
    """A worker takes the notification and applies it, then dies before its commit (its connection dropped, as
    when the process is killed). While it held it, another worker skipped it; after, it is pending again and the
    other applies it — once."""
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    ok(notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]

    doomed = db.engine.connect()
    doomed.info["write"] = True
    doomed.begin()
    assert notifications.drain(doomed, clock, settings) == 1  # applied inside the doomed transaction
    assert db.run(lambda conn: notifications.drain(conn, clock, settings)) == 0  # held: the other skips it
    doomed.invalidate()  # the process dies: the database rolls its transaction back
    doomed.close()
    assert [(e, s) for e, s, *_ in stored(db)] == [("evt_auth", "pending")]
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"

    assert apply_notifications(shop) == 1
    assert [(e, s) for e, s, *_ in stored(db)] == [("evt_auth", "done")]
    paid_once(shop, db, order["id"])
    assert apply_notifications(shop) == 0


def test_a_bad_signature_or_an_unreadable_body_stores_nothing(shop: TestClient, provider: ProviderReceiver,
                                                             db: Database) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    event = authorised(provider.intents["pi_0001"])  # type: ignore[attr-defined]
    problem(notify(shop, event, secret="whsec_forged"), 401, "notification_not_verified")
    body, headers = stripe_signed(event)
    problem(shop.post(HOOK, content=body), 401, "notification_not_verified")  # no Stripe-Signature
    problem(shop.post(HOOK, content=body, headers={**headers, "Stripe-Signature": "t=1,v1=00"}), 401,
            "notification_not_verified")
    garbage, t = b"{not json", int(time.time())  # signed properly, but not an event
    v1 = hmac.new(STRIPE_WHSEC.encode(), f"{t}.".encode() + garbage, hashlib.sha256).hexdigest()
    answer = shop.post(HOOK, content=garbage, headers={**headers, "Stripe-Signature": f"t={t},v1={v1}"})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert STRIPE_WHSEC not in answer.text and STRIPE_KEY not in answer.text
    listed = b"[]"  # signed, valid JSON, not an event
    v1 = hmac.new(STRIPE_WHSEC.encode(), f"{t}.".encode() + listed, hashlib.sha256).hexdigest()
    problem(shop.post(HOOK, content=listed, headers={**headers, "Stripe-Signature": f"t={t},v1={v1}"}), 422,
            "notification_unreadable")
    assert stored(db) == [] and apply_notifications(shop) == 0
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "awaiting_payment"


def test_a_notification_that_fails_keeps_its_reason_and_the_batch_goes_on(
        shop: TestClient, provider: ProviderReceiver, db: Database, clock: ManualClock) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    first, second = web_order(shop), web_order(shop)
    broken = {"order": first["id"]}

    def listener(_conn: Any, _clock: Any, payment: dict[str, Any], _outcome: str, _reason: str | None) -> None:
        if payment["order_id"] == broken["order"]:
            raise RuntimeError("the order room is having a bad day")

    with outcome_listener(listener):
        ok(notify(shop, authorised(provider.intents["pi_0001"], "evt_1")))  # type: ignore[attr-defined]
        ok(notify(shop, authorised(provider.intents["pi_0002"], "evt_2")))  # type: ignore[attr-defined]
        assert apply_notifications(shop) == 2  # the second goes through; the first waits its retry
        rows = {e: (s, a, err) for e, s, a, err in stored(db)}
        assert rows["evt_2"][0] == "done"
        assert rows["evt_1"] == ("pending", 1, "RuntimeError: the order room is having a bad day")
        assert ok(shop.get(f"/api/v1/orders/{first['id']}"))["status"] == "awaiting_payment"  # nothing half done
        for _ in range(notifications.MAX_ATTEMPTS - 1):
            clock.advance(minutes=5)
            apply_notifications(shop)
        assert {e: s for e, s, *_ in stored(db)}["evt_1"] == "failed"  # kept, with its reason, for people
        clock.advance(minutes=60)
        assert apply_notifications(shop) == 0
    paid_once(shop, db, second["id"])


def test_a_replaced_account_applies_its_new_secret_at_once(shop: TestClient, provider: ProviderReceiver) -> None:
    """Unsealed accounts are kept in memory, keyed on the sealed value: a PUT (sealed anew) is seen at once."""
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    order = web_order(shop)
    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    problem(notify(shop, authorised(intent, "evt_0"), secret="whsec_rotated"), 401, "notification_not_verified")
    configure_stripe(shop, provider.base, webhook_secret="whsec_rotated")
    problem(notify(shop, authorised(intent, "evt_1")), 401, "notification_not_verified")  # the old one: refused
    assert delivered(shop, notify(shop, authorised(intent, "evt_2"), secret="whsec_rotated"))["status"] == \
        "authorized"
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "paid"


def test_applied_notifications_are_purged_after_a_week(shop: TestClient, provider: ProviderReceiver, db: Database,
                                                        clock: ManualClock, settings: Settings) -> None:
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    web_order(shop)
    delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    assert db.run(lambda conn: notifications.purge(conn, clock, settings)) == 0
    clock.advance(days=8)
    assert db.run(lambda conn: notifications.purge(conn, clock, settings)) == 1
    assert stored(db) == []
    # A repeat after the purge is stored again, and applying it changes nothing (provider_events remembers).
    again = delivered(shop, notify(shop, authorised(provider.intents["pi_0001"])))  # type: ignore[attr-defined]
    assert again["duplicate"] is True


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_on_postgres_a_notification_is_one_statement_while_the_accounts_stay_the_same(
        shop: TestClient, provider: ProviderReceiver, db: Database) -> None:
    """Verified against the accounts the process read last, stored only if they are still the provider's: one
    statement. Another channel's account configured meanwhile (its sealed value changes the accounts' digest):
    nothing stored by that statement, the accounts are read again, the notification verified and stored once.
    A forged one costs a look at the digest and is refused, nothing stored."""
    stripe_routes(provider)
    configure_stripe(shop, provider.base)
    web_order(shop)
    intent = provider.intents["pi_0001"]  # type: ignore[attr-defined]
    statements: list[str] = []

    def counted(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def sent(event_id: str, secret: str = STRIPE_WHSEC) -> tuple[Any, int]:
        statements.clear()
        answer = notify(shop, authorised(intent, event_id), secret=secret)
        return answer, len(statements)

    sa.event.listen(db.engine, "before_cursor_execute", counted)
    try:
        assert ok(sent("evt_1")[0])["outcome"] == "queued"  # the accounts read, then stored
        answer, count = sent("evt_2")
        assert ok(answer)["outcome"] == "queued" and count == 1
        answer, count = sent("evt_2")
        assert ok(answer)["outcome"] == "duplicate" and count == 1
        configure_stripe(shop, provider.base, channel="app", webhook_secret="whsec_app")
        answer, count = sent("evt_3")
        assert ok(answer)["outcome"] == "queued" and count == 3  # refused by the digest; read; stored
        answer, count = sent("evt_4", secret="whsec_app")  # the new account's secret, known at once
        assert ok(answer)["outcome"] == "queued" and count == 1
        answer, count = sent("evt_5", secret="whsec_forged")
        problem(answer, 401, "notification_not_verified")
        assert count == 1  # the digest: the accounts are still those it failed against
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counted)
    assert [(s.event_id, s.status) for s in stored(db)] == [(f"evt_{n}", "pending") for n in (1, 2, 3, 4)]
