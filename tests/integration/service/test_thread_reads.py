"""What opening a conversation reads: the same few statements whatever the customer's history (orders are read
with their lines in one go, not one order at a time), and the channels of a thread longer than what it shows —
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock
from tests.integration.service.helpers import conversation, message

from omnihub.core import reads as reads_module
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.customers import queries as customers_queries
from omnihub.service import queries


def _opened(db: Database, clock: ManualClock, conversation_id: str,
            monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    """What `GET /conversations/{id}` sends to build its answer (authentication aside): the statements executed
    one by one, and the reads sent together (`core.reads`: one round trip each on PostgreSQL, where they do not
    pass through SQLAlchemy's cursor; one statement per read on SQLite, counted with the others)."""
    seen: list[str] = []
    together = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def counted(conn: Any, reads: Any) -> Any:
        together[0] += conn.dialect.name == "postgresql"
        return reads_module.read_together(conn, reads)

    monkeypatch.setattr(queries, "read_together", counted)
    monkeypatch.setattr(customers_queries, "read_together", counted)
    with db.read() as conn:
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            queries.conversation_detail(conn, clock, conversation_id)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    return seen, together[0]


def _pickup_order(admin: TestClient, email: str) -> dict[str, Any]:
    """A click & collect order, ready: it has a pickup code (agents must not see it)."""
    order = ok(admin.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": email}, "lines": [{"sku": "TEE", "quantity": 1}],
        "fulfilment": {"type": "pickup", "location": "mad"}, "payments": [{"method": "card", "amount": "20.00"}]}),
        201)
    return ok(admin.post(f"/api/v1/orders/{order['id']}/ready"))


def test_opening_a_conversation_reads_as_much_with_one_order_as_with_many(
        admin: TestClient, db: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    location(admin, "mad", pickup=True)
    product(admin, "TEE")
    channel(admin, "web", locations=["mad"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "20.00"}]))
    stock(admin, "mad", "TEE", 20)
    _pickup_order(admin, "eva@correo.es")
    cid = message(admin, "webchat", {"email": "eva@correo.es"}, "¿Y mi pedido?")["conversation_id"]
    one, _ = _opened(db, clock, cid, monkeypatch)
    assert len(conversation(admin, cid)["orders"]) == 1

    for _ in range(4):
        _pickup_order(admin, "eva@correo.es")
    five, round_trips = _opened(db, clock, cid, monkeypatch)
    seen = conversation(admin, cid)

    # the conversation with its tags, CSAT and handoff, its thread (2); the 360 view with the rooms' sections (15);
    # the orders and their lines (2)
    assert len(five) == len(one), "\n".join(five)
    if db.is_postgres:  # two round trips: the first two; the 360 view with the orders and their lines
        assert round_trips == 2 and five == [], "\n".join(five)
    else:
        assert len(five) <= 19, "\n".join(five)
    customer = seen["customer_id"]
    listed = ok(admin.get("/api/v1/orders", params={"customer": customer, "limit": 10}))["items"]
    assert len(listed) == 5 and all(o["pickup"]["code"] for o in listed)  # the admin's list shows the codes
    # the same orders, newest first, as the orders API shows them — without the pickup codes
    assert seen["orders"] == [{**o, "pickup": {**o["pickup"], "code": None}} for o in listed]


def test_the_channels_of_a_thread_longer_than_shown_count_every_message(
        admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    channel(admin, "web")
    cid = message(admin, "email", {"email": "leo@correo.es"}, "Primero por correo")["conversation_id"]
    message(admin, "webchat", {"email": "leo@correo.es"}, "Luego por el chat")
    message(admin, "webchat", {"email": "leo@correo.es"}, "¿Hola?")
    whole = conversation(admin, cid)
    assert [m["text"] for m in whole["messages"]] == ["Primero por correo", "Luego por el chat", "¿Hola?"]

    monkeypatch.setattr(queries, "THREAD_LIMIT", 2)
    shown = conversation(admin, cid)

    assert [m["text"] for m in shown["messages"]] == ["Luego por el chat", "¿Hola?"]  # the latest, oldest first
    assert shown["channels"] == whole["channels"] == ["email", "webchat"]


def test_a_merged_conversation_shows_its_tags_once_and_each_merged_id_once(admin: TestClient) -> None:
    channel(admin, "web")
    insta = message(admin, "instagram", {"kind": "handle", "value": "@rosa_m", "network": "instagram"}, "Hola")
    mail = message(admin, "email", {"email": "rosa@correo.es"}, "Hola por correo")
    ok(admin.post(f"/api/v1/conversations/{mail['conversation_id']}/tags", json={"add": ["refund"]}))
    ok(admin.post(f"/api/v1/customers/{insta['customer_id']}/merge", json={"other": mail["customer_id"]}), 201)
    ok(admin.post(f"/api/v1/conversations/{insta['conversation_id']}/tags", json={"add": ["vip", "late"]}))

    for opened in (insta["conversation_id"], mail["conversation_id"]):  # the old id leads to the same view
        seen = conversation(admin, opened)
        assert seen["id"] == insta["conversation_id"] and seen["merged_ids"] == [mail["conversation_id"]]
        assert seen["tags"] == ["late", "refund", "vip"]  # the merged one's tag came along, each tag once
        assert [m["text"] for m in seen["messages"]] == ["Hola", "Hola por correo"]
