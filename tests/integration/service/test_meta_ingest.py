"""Meta webhooks in two steps: the request stores the signed payload, the worker threads it. Threading a batch
gives exactly what threading message by message gave; a redelivery is stored once; a payload that fails keeps its
error and is tried again; two workers draining at once take each payload once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, ok
from tests.integration.service.helpers import conversations, message
from tests.integration.service.meta import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    signed,
    threaded,
    whatsapp_status,
    whatsapp_text,
)

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox
from omnihub.customers.writes import retrying
from omnihub.service import channels, ingest, rules, service
from omnihub.service.models import conversation_messages, inbound_payloads
from omnihub.service.models import conversations as conversations_table

HOOK = "/api/v1/connectors/meta/webhooks"
P = inbound_payloads.c


def _connect(admin: TestClient) -> None:
    channel(admin, "wa", kind="social")
    ok(admin.put("/api/v1/connectors/meta/wa", json={"app_secret": APP_SECRET, "verify_token": "verify-wa",
                                                     "access_token": "EAAG-token", "phone_number_id": PHONE_NUMBER_ID}),
       201)


def _accept(api: TestClient, payload: dict[str, Any]) -> str:
    body, headers = signed(payload)
    answer = api.post(HOOK, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def _drain(api: TestClient, limit: int = ingest.BATCH) -> int:
    state = api.app.state
    with state.db.transaction() as conn:
        return ingest.drain(conn, state.clock, state.settings, limit=limit)


def _payload(db: Database, payload_id: str) -> Any:
    with db.read() as conn:
        return conn.execute(sa.select(inbound_payloads).where(P.id == payload_id)).one()


# ---- a batch threads exactly as message by message ---------------------------------------------------------


def _before(admin: TestClient, clock: ManualClock, prefix: str) -> None:
    """Person 1 has a snoozed conversation, person 2 one resolved an hour ago (inside the reopen window)."""
    first = message(admin, "whatsapp", {"phone": f"+{prefix}1"}, "antes", external_id=f"{prefix}-old-1")
    ok(admin.post(f"/api/v1/conversations/{first['conversation_id']}/snooze",
                  json={"until": (clock.now() + timedelta(days=1)).isoformat()}))
    second = message(admin, "whatsapp", {"phone": f"+{prefix}2"}, "antes", external_id=f"{prefix}-old-2")
    ok(admin.post(f"/api/v1/conversations/{second['conversation_id']}/resolve"))


def _batch(prefix: str, ts: int) -> list[dict[str, Any]]:
    return [whatsapp_text(f"{prefix}1", "hola de nuevo", f"wamid.{prefix}.1", timestamp=ts),
            whatsapp_text(f"{prefix}2", "Mi pedido no llega, estoy harto", f"wamid.{prefix}.2", timestamp=ts),
            whatsapp_text(f"{prefix}3", "primero", f"wamid.{prefix}.3", name="Eva", timestamp=ts),
            whatsapp_text(f"{prefix}3", "segundo", f"wamid.{prefix}.4", name="Otra", timestamp=ts + 1),
            whatsapp_text(f"{prefix}4", "dos veces", f"wamid.{prefix}.5", timestamp=ts),
            whatsapp_text(f"{prefix}4", "dos veces", f"wamid.{prefix}.5", timestamp=ts)]


def _shape(admin: TestClient, db: Database, prefix: str) -> list[Any]:
    """Per person: their conversations (status, priority, reasons, messages) and the events about them."""
    people = []
    for n in (1, 2, 3, 5):  # each person's message in the batch names them
        with db.read() as conn:
            author = conn.execute(sa.select(conversation_messages.c.author).where(
                conversation_messages.c.external_id == f"wamid.{prefix}.{n}")).scalar()
        customer = ok(admin.get(f"/api/v1/customers/{author}"))
        convs = []
        with db.read() as conn:
            for conv in conn.execute(sa.select(conversations_table).where(
                    conversations_table.c.customer_id == customer["id"]).order_by(conversations_table.c.created_at)):
                texts = [(m.channel, m.direction, m.text, m.status) for m in conn.execute(
                    sa.select(conversation_messages).where(conversation_messages.c.conversation_id == conv.id)
                    .order_by(conversation_messages.c.at, conversation_messages.c.id))]
                events = sorted(e.type for e in conn.execute(sa.select(outbox.c.type, outbox.c.data))
                                if (e.data or {}).get("conversation_id") == conv.id)
                convs.append((conv.status, conv.priority, sorted(r["rule"] for r in conv.priority_reasons),
                              conv.active_for == customer["id"], texts, events))
        people.append((customer["name"], convs))
    return people


def test_a_batch_threads_exactly_as_one_message_at_a_time(admin: TestClient, db: Database,
                                                          clock: ManualClock) -> None:
    _connect(admin)
    ts = int(clock.now().timestamp())
    _before(admin, clock, "3461100000")
    _before(admin, clock, "3462200000")
    state = admin.app.state
    # As before: each message received on its own, in its own transaction.
    for payload in _batch("3461100000", ts):
        _, messages, _ = rules.parse_meta(payload, clock.now())
        for m in messages:
            inbound = channels.meta_inbound(m, {"channel": "wa", "kind": "whatsapp"})
            retrying(db, lambda conn, i=inbound: service.receive(
                conn, clock, i, reopen_window=timedelta(hours=state.settings.service_reopen_hours), actor="meta"))
    # Now: the same six payloads stored by the API, then threaded by the worker in one batch.
    ids = [_accept(admin, payload) for payload in _batch("3462200000", ts)]
    assert _drain(admin) == 6
    results = [dict(_payload(db, i).result) for i in ids]
    assert [r["received"] for r in results] == [1, 1, 1, 1, 1, 0] and results[-1]["duplicates"] == 1

    assert _shape(admin, db, "3462200000") == _shape(admin, db, "3461100000")
    woken, reopened, new, _ = _shape(admin, db, "3462200000")
    assert woken[1][0][0] == "open" and "conversation.woken" in woken[1][0][5]
    assert reopened[1][0][:3] == ("open", "high", ["complaint"]) and "conversation.reopened" in reopened[1][0][5]
    assert new[0] == "Eva" and [t[2] for t in new[1][0][4]] == ["primero", "segundo"]


# ---- redelivery, failures, retries -------------------------------------------------------------------------


def test_a_redelivered_payload_stores_its_message_once(admin: TestClient, db: Database) -> None:
    _connect(admin)
    payload = whatsapp_text("34612345678", "¿Y mi pedido?", "wamid.REDELIVERED")
    first, second = _accept(admin, payload), _accept(admin, payload)  # in the same batch
    assert _drain(admin) == 2
    third = _accept(admin, payload)  # and later, once threaded
    _drain(admin)
    assert [dict(_payload(db, i).result)["received"] for i in (first, second, third)] == [1, 0, 0]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(conversation_messages).where(
            conversation_messages.c.external_id == "wamid.REDELIVERED")).scalar() == 1
    [conv] = conversations(admin)
    assert conv["status"] == "open"


def test_a_payload_that_fails_keeps_its_error_and_is_tried_again(admin: TestClient, db: Database,
                                                                  clock: ManualClock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _connect(admin)
    good = _accept(admin, whatsapp_text("34612345678", "Hola", "wamid.GOOD"))
    bad = _accept(admin, whatsapp_status("wamid.OUT-X", "delivered", "34612345678"))
    real = channels.apply_status

    def broken(conn: Any, clock_: Any, status: rules.MetaStatus) -> bool:  # a fault while the batch is threaded
        raise RuntimeError("the status could not be applied")

    monkeypatch.setattr(channels, "apply_status", broken)
    assert _drain(admin) == 2
    assert _payload(db, good).status == "done"  # the rest of the batch went through
    kept = _payload(db, bad)
    assert (kept.status, kept.attempts, kept.processed_at) == ("pending", 1, None)
    assert kept.error == "RuntimeError: the status could not be applied"
    assert _drain(admin) == 0  # not before its retry time

    monkeypatch.setattr(channels, "apply_status", real)
    clock.advance(seconds=ingest.RETRY_SECONDS + 1)
    assert _drain(admin) == 1
    done = _payload(db, bad)
    assert (done.status, done.error, dict(done.result)["statuses"]) == ("done", None, 0)

    # Past MAX_ATTEMPTS a payload is kept as failed, with its error, and left alone.
    monkeypatch.setattr(channels, "apply_status", broken)
    hopeless = _accept(admin, whatsapp_status("wamid.OUT-Y", "read", "34612345678"))
    for _ in range(ingest.MAX_ATTEMPTS):
        _drain(admin)
        clock.advance(seconds=ingest.RETRY_SECONDS * ingest.MAX_ATTEMPTS + 1)
    row = _payload(db, hopeless)
    assert (row.status, row.attempts) == ("failed", ingest.MAX_ATTEMPTS) and row.error.startswith("RuntimeError")
    assert _drain(admin) == 0


def test_a_payload_for_a_connection_removed_meanwhile_waits_with_its_error(admin: TestClient, db: Database,
                                                                           clock: ManualClock) -> None:
    _connect(admin)
    payload_id = _accept(admin, whatsapp_text("34612345678", "Hola", "wamid.ORPHAN"))
    with db.transaction() as conn:
        conn.execute(sa.text("UPDATE meta_connectors SET account_id = '1' WHERE channel = 'wa'"))
    _drain(admin)
    row = _payload(db, payload_id)
    assert (row.status, row.attempts) == ("pending", 1) and row.error == f"no Meta connection for account " \
                                                                        f"{PHONE_NUMBER_ID}"
    with db.transaction() as conn:
        conn.execute(sa.text(f"UPDATE meta_connectors SET account_id = '{PHONE_NUMBER_ID}' WHERE channel = 'wa'"))
    clock.advance(seconds=ingest.RETRY_SECONDS + 1)
    assert threaded(admin, _Answer(payload_id)) == {"received": 1, "duplicates": 0, "statuses": 0, "ignored": 0}


class _Answer:
    """A webhook's answer, as `threaded` reads it."""

    status_code = 200
    text = ""

    def __init__(self, payload_id: str) -> None:
        self._id = payload_id

    def json(self) -> dict[str, str]:
        return {"id": self._id}


def test_old_processed_payloads_are_purged_failed_ones_kept(admin: TestClient, db: Database,
                                                           clock: ManualClock) -> None:
    _connect(admin)
    done = _accept(admin, whatsapp_text("34612345678", "Hola", "wamid.OLD"))
    _drain(admin)
    clock.advance(days=8)
    with db.transaction() as conn:
        assert ingest.purge(conn, clock, admin.app.state.settings) == 1
        assert conn.execute(sa.select(P.id).where(P.id == done)).first() is None


# ---- two workers at once (PostgreSQL: FOR UPDATE SKIP LOCKED) ------------------------------------------------


def test_two_drainers_in_parallel_take_each_payload_once(admin: TestClient, db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    _connect(admin)
    ids = [_accept(admin, whatsapp_text(f"3461234{10 + n % 15:04d}", f"mensaje {n}", f"wamid.PAR{n}"))
           for n in range(60)]
    errors: list[BaseException] = []

    def drainer() -> None:
        try:
            while _drain(admin, limit=5):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drainer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = [_payload(db, i) for i in ids]
    assert {r.status for r in rows} == {"done"}
    assert [dict(r.result) for r in rows if dict(r.result)["received"] != 1] == []  # each threaded once
    with db.read() as conn:
        external = conversation_messages.c.external_id
        stored = conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(external)))
                              .where(conversation_messages.c.external_id.like("wamid.PAR%"))).one()
        received = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                .where(outbox.c.type == "message.received")).scalar()
    assert tuple(stored) == (60, 60) and received == 60
    assert len(conversations(admin, limit=100)) == 15  # one per person


def test_a_reconfigured_app_secret_applies_on_the_next_webhook(admin: TestClient, db: Database) -> None:
    _connect(admin)
    payload = whatsapp_text("34612345678", "Hola", "wamid.ROTATE")
    _accept(admin, payload)  # the secret is now cached
    ok(admin.put("/api/v1/connectors/meta/wa", json={"app_secret": "the-new-secret", "verify_token": "verify-wa",
                                                     "access_token": "EAAG-token", "phone_number_id": PHONE_NUMBER_ID}))
    body, headers = signed(payload)  # the old secret
    assert admin.post(HOOK, content=body, headers=headers).status_code == 401
    body, headers = signed(payload, "the-new-secret")
    assert admin.post(HOOK, content=body, headers=headers).status_code == 200
