"""The abandoned-cart scan and the delivery job at volume's shape: the set-based page (PostgreSQL) writes the
documents the row path writes; scans running at once announce each idle period once; delivery passes running at
once hand each SMS to the provider once, and a provider failure leaves the message queued for the next pass."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.automation.conftest import SID, SMS_PATH, TOKEN
from tests.integration.automation.test_journey5 import app_cart
from tests.provider_receiver import ProviderReceiver

from omnihub.automation import carts
from omnihub.automation.delivery import deliver
from omnihub.automation.models import automation_abandoned, automation_messages
from omnihub.catalog import queries as catalog_queries
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox


def _postgres_only(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("row locks and SKIP LOCKED: PostgreSQL (SQLite has one writer at a time)")


def _announced(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [data for data in conn.execute(sa.select(outbox.c.data).where(outbox.c.type == "cart.abandoned")
                                              .order_by(outbox.c.seq)).scalars()]


def _idle_carts(shop: TestClient, db: Database, clock: ManualClock, count: int) -> set[str]:
    ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT1M"}))
    made = set()
    for i in range(count):
        made.add(app_cart(shop, db, clock, f"c{i}@correo.es", f"+3460000020{i}")["id"])
        clock.advance(seconds=1)
    clock.advance(minutes=2)
    return made


def test_the_set_based_page_writes_what_the_row_path_writes(
        shop: TestClient, db: Database, clock: ManualClock) -> None:
    _postgres_only(db)
    _idle_carts(shop, db, clock, 3)
    upto = clock.now() - carts.timedelta(minutes=1)
    written = []
    for page in (carts._page, carts._page_pg):
        with db.transaction() as conn:
            channel = next(c for c in catalog_queries.list_channels(conn, limit=50, cursor=None)["items"]
                           if c["code"] == "app")
            found, last = page(conn, clock, channel, carts.EPOCH, "", upto, 2)
            events = [row._asdict() for row in conn.execute(
                sa.select(outbox.c.id, outbox.c.data).where(outbox.c.type == "cart.abandoned").order_by(outbox.c.seq))]
            abandoned = sorted(tuple(r) for r in conn.execute(sa.select(automation_abandoned.c.customer_id,
                                                                        automation_abandoned.c.cart_id)))
            written.append((found, last, [e["data"] for e in events], abandoned))
            assert all(e["id"].startswith("evt_") and len(e["id"]) == 30 for e in events)
            assert len({e["id"] for e in events}) == len(events)
            conn.rollback()
    assert written[0] == written[1]
    found, _last, documents, _abandoned = written[0]
    assert found == 2 and documents[0]["subtotal"] == "51.00" and documents[0]["lines"][0] == {
        "sku": "TEE-M", "name": "Organic Tee M", "quantity": 2, "unit_price": "20.00"}


def test_scans_at_once_announce_each_idle_period_once(shop: TestClient, db: Database, clock: ManualClock) -> None:
    _postgres_only(db)
    made = _idle_carts(shop, db, clock, 5)
    start = threading.Barrier(3)

    def scanner() -> None:
        start.wait()
        while True:
            with db.transaction() as conn:
                if carts.scan(conn, clock, limit=1) == 0:
                    return

    threads = [threading.Thread(target=scanner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    announced = [data["id"] for data in _announced(db)]
    assert sorted(announced) == sorted(made)  # every cart, none twice, across pages of one
    clock.advance(hours=3)
    with db.transaction() as conn:
        assert carts.scan(conn, clock) == 0


def _queue(db: Database, clock: ManualClock, count: int) -> None:
    with db.transaction() as conn:
        conn.execute(automation_messages.insert(), [{
            "id": f"amsg_{i:04d}", "rule_id": "rule_t", "run_id": f"run_{i}", "customer_id": f"cus_{i}",
            "channel": "sms", "purpose": "sms", "to": f"+346100{i:05d}", "body": "Tu carrito te espera", "links": [],
            "token": f"tok{i}", "status": "queued", "attempts": 0, "created_at": clock.now()} for i in range(count)])


def _sms_settings(settings: Settings, twilio: ProviderReceiver) -> Settings:
    return settings.model_copy(update={"sms_account_sid": SID, "sms_auth_token": TOKEN, "sms_from": "+34910000000",
                                       "sms_api_base": twilio.base})


def test_delivery_passes_at_once_send_each_message_once(
        settings: Settings, db: Database, clock: ManualClock, twilio: ProviderReceiver) -> None:
    _postgres_only(db)
    _queue(db, clock, 60)
    sms = _sms_settings(settings, twilio)
    start = threading.Barrier(3)

    def sender() -> None:
        start.wait()
        while True:
            with db.transaction() as conn:
                if deliver(conn, clock, sms, limit=7) == 0:
                    return

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = [call.form["To"] for call in twilio.calls_to("POST", SMS_PATH)]
    assert sorted(received) == [f"+346100{i:05d}" for i in range(60)]  # each once
    with db.read() as conn:
        rows = conn.execute(sa.select(automation_messages.c.status, automation_messages.c.provider_id,
                                      automation_messages.c.attempts)).all()
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
    assert len({r.provider_id for r in rows}) == 60


def test_a_provider_failure_stays_queued_and_goes_on_the_next_pass(
        settings: Settings, db: Database, clock: ManualClock) -> None:
    receiver = ProviderReceiver().start()
    try:
        receiver.route("POST", SMS_PATH, lambda call: (201, {"sid": "SM" + call.form["To"][1:].rjust(32, "0")}),
                       fail_first=3, fail_status=503)
        _queue(db, clock, 10)
        sms = _sms_settings(settings, receiver)
        with db.transaction() as conn:
            assert deliver(conn, clock, sms) == 7
        with db.read() as conn:
            waiting = conn.execute(sa.select(automation_messages.c.attempts, automation_messages.c.error)
                                   .where(automation_messages.c.status == "queued")).all()
        assert len(waiting) == 3 and all(r.attempts == 1 and r.error.startswith("SMS provider 503") for r in waiting)
        with db.transaction() as conn:
            assert deliver(conn, clock, sms) == 3
        with db.read() as conn:
            states = conn.execute(sa.select(automation_messages.c.status, sa.func.count())
                                  .group_by(automation_messages.c.status)).all()
        assert dict(states) == {"sent": 10}
        assert len(receiver.calls) == 13  # 3 refused, then each message accepted once
        assert len({c.form["To"] for c in receiver.calls[3:]}) == 10
    finally:
        receiver.stop()
