"""Journey 6's core through HTTP: one conversation per person across channels, duplicates stored once,
reopening, agents' actions, merges, erasure and who may see what — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, conversations, events_of, message, thread

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

ANA_IG = {"kind": "handle", "value": "@ana_g", "network": "instagram"}


def _ana(admin: TestClient) -> str:
    """Ana's profile knows her Instagram handle, her e-mail and her phone (a checkout and a till met her)."""
    channel(admin, "web")
    body = {"name": "Ana García", "channel": "web", "identities": [
        ANA_IG, {"kind": "email", "value": "ana@correo.es"}, {"kind": "phone", "value": "612345678"}]}
    return ok(admin.post("/api/v1/customers", json=body), 201)["id"]


def test_messages_from_any_identity_on_any_channel_join_one_conversation(admin: TestClient, db: Database) -> None:
    ana = _ana(admin)

    first = message(admin, "instagram", ANA_IG, "Mi pedido no ha llegado")
    by_mail = message(admin, "email", {"email": "Ana@Correo.es"}, "Os escribo también por correo")
    by_whatsapp = message(admin, "whatsapp", {"phone": "+34 612 345 678"}, "¿Alguna novedad?")

    assert first["customer_id"] == ana and first["duplicate"] is False
    assert by_mail["conversation_id"] == by_whatsapp["conversation_id"] == first["conversation_id"]
    assert thread(admin, first["conversation_id"]) == [
        ("instagram", "in", "Mi pedido no ha llegado"), ("email", "in", "Os escribo también por correo"),
        ("whatsapp", "in", "¿Alguna novedad?")]
    seen = conversation(admin, first["conversation_id"])
    assert seen["status"] == "open" and seen["channels"] == ["email", "instagram", "whatsapp"]
    assert seen["last_channel"] == "whatsapp"
    assert [m["author"] for m in seen["messages"]] == [ana, ana, ana]
    assert seen["customer"]["id"] == ana and seen["customer"]["name"] == "Ana García"
    # the customers room counts messages and opened tickets as contacts
    assert seen["customer"]["support"]["contacts"] == 4 and seen["customer"]["support"]["open_problems"] == 1
    assert seen["orders"] == []
    assert [e["conversation_id"] for e in events_of(db, "conversation.opened")] == [first["conversation_id"]]
    assert len(events_of(db, "message.received")) == 3
    assert "text" not in events_of(db, "message.received")[0]  # events carry ids, never what people wrote


def test_a_repeated_external_id_is_answered_with_the_first_result_and_stored_once(admin: TestClient) -> None:
    _ana(admin)
    first = message(admin, "instagram", ANA_IG, "Hola", external_id="mid.1")
    again = message(admin, "instagram", ANA_IG, "Hola", external_id="mid.1", status=200)
    other_channel = message(admin, "whatsapp", {"phone": "+34612345678"}, "Hola", external_id="mid.1")

    assert again == {**first, "duplicate": True}
    assert other_channel["message_id"] != first["message_id"]  # ids are unique per channel
    assert len(thread(admin, first["conversation_id"])) == 2


def test_parallel_duplicates_store_one_message(admin: TestClient, db: Database, clock: ManualClock) -> None:
    channel(admin, "web")
    results: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        response = admin.post("/api/v1/messages", json={
            "channel": "whatsapp", "identity": {"phone": "+34699000111"}, "text": "¿Dónde está mi pedido?",
            "external_id": "wamid.same"})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(r.status_code for r in results) == [200] * 7 + [201], [r.text for r in results]
    bodies = [r.json() for r in results]
    assert len({b["message_id"] for b in bodies}) == 1 and len({b["conversation_id"] for b in bodies}) == 1
    assert thread(admin, bodies[0]["conversation_id"]) == [("whatsapp", "in", "¿Dónde está mi pedido?")]


def test_parallel_first_messages_of_one_person_open_one_conversation(admin: TestClient) -> None:
    results: list[Any] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        response = admin.post("/api/v1/messages", json={
            "channel": "webchat", "identity": {"email": "luis@correo.es"}, "text": f"mensaje {i}"})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in results] == [201] * 6, [r.text for r in results]
    assert len({r.json()["conversation_id"] for r in results}) == 1
    assert len({r.json()["customer_id"] for r in results}) == 1
    assert len(thread(admin, results[0].json()["conversation_id"])) == 6


def test_a_resolved_conversation_reopens_within_the_window_and_not_after(admin: TestClient, clock: ManualClock,
                                                                         db: Database) -> None:
    first = message(admin, "webchat", {"email": "eva@correo.es"}, "Hola")
    cid = first["conversation_id"]
    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    problem(admin.post(f"/api/v1/conversations/{cid}/resolve"), 409, "conversation_resolved")

    clock.advance(hours=71)
    again = message(admin, "webchat", {"email": "eva@correo.es"}, "Otra cosa")
    assert again["conversation_id"] == cid and again["conversation_status"] == "open"
    assert [e["conversation_id"] for e in events_of(db, "conversation.reopened")] == [cid]

    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    clock.advance(hours=73)
    fresh = message(admin, "webchat", {"email": "eva@correo.es"}, "Nueva consulta")
    assert fresh["conversation_id"] != cid
    # an explicit reply to the old thread reopens it whatever its age (it becomes the live one again only once
    # the new one is resolved: one live conversation per person)
    ok(admin.post(f"/api/v1/conversations/{fresh['conversation_id']}/resolve"))
    clock.advance(hours=100)
    replied = message(admin, "webchat", {"email": "eva@correo.es"}, "Sobre aquello", thread=cid)
    assert replied["conversation_id"] == cid


def test_a_thread_reference_never_puts_a_message_in_someone_elses_conversation(admin: TestClient) -> None:
    eva = message(admin, "webchat", {"email": "eva@correo.es"}, "Hola")
    ok(admin.post(f"/api/v1/conversations/{eva['conversation_id']}/resolve"))
    stranger = message(admin, "webchat", {"email": "otro@correo.es"}, "Hola", thread=eva["conversation_id"])
    assert stranger["conversation_id"] != eva["conversation_id"]
    assert stranger["customer_id"] != eva["customer_id"]


def test_agents_assign_snooze_note_and_resolve(admin: TestClient, db: Database, clock: ManualClock) -> None:
    agent_key = make_key(db, clock, "agent")
    agent = {"Authorization": f"Bearer {agent_key}"}
    cid = message(admin, "whatsapp", {"phone": "+34611000222"}, "Necesito ayuda")["conversation_id"]

    assigned = ok(admin.post(f"/api/v1/conversations/{cid}/assign", json={"assignee": "me"}, headers=agent))
    assert assigned["assignee"].startswith("key_")
    assert [c["id"] for c in conversations(admin, assignee="me")] == []  # the admin's own queue
    assert [c["id"] for c in ok(admin.get("/api/v1/conversations", params={"assignee": "me"},
                                          headers=agent))["items"]] == [cid]
    noted = ok(admin.post(f"/api/v1/conversations/{cid}/notes", json={"text": "Cliente VIP, ojo"}, headers=agent),
               201)
    assert noted["messages"][-1]["direction"] == "note" and noted["messages"][-1]["channel"] == "internal"

    problem(admin.post(f"/api/v1/conversations/{cid}/snooze", json={"until": "2020-01-01T00:00:00Z"}),
            422, "invalid_snooze")
    snoozed = ok(admin.post(f"/api/v1/conversations/{cid}/snooze", json={"until": "2026-01-06T09:00:00Z"}))
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"].startswith("2026-01-06T09:00:00")
    woken = message(admin, "whatsapp", {"phone": "+34611000222"}, "¿Hola?")
    assert woken["conversation_status"] == "open"

    resolved = ok(admin.post(f"/api/v1/conversations/{cid}/resolve", headers=agent))
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert [e["conversation_id"] for e in events_of(db, "conversation.resolved")] == [cid]
    assert resolved["customer"]["support"]["open_problems"] == 0


def test_the_inbox_list_filters_and_pages(admin: TestClient, clock: ManualClock) -> None:
    ids = []
    for i, (ch, who, text) in enumerate([("email", {"email": "a@correo.es"}, "factura"),
                                         ("whatsapp", {"phone": "+34600000001"}, "pedido tarde"),
                                         ("instagram", {"kind": "handle", "value": "c_c", "network": "instagram"},
                                          "talla"),
                                         ("webchat", {"email": "d@correo.es"}, "PEDIDO roto")]):
        clock.advance(minutes=1)
        ids.append(message(admin, ch, who, text, external_id=f"e{i}")["conversation_id"])
    ok(admin.post(f"/api/v1/conversations/{ids[0]}/resolve"))
    ok(admin.post(f"/api/v1/conversations/{ids[1]}/assign", json={"assignee": "marta"}))

    assert [c["id"] for c in conversations(admin)] == ids[::-1]
    assert [c["id"] for c in conversations(admin, status="open")] == [ids[3], ids[2], ids[1]]
    assert [c["id"] for c in conversations(admin, status="resolved")] == [ids[0]]
    assert [c["id"] for c in conversations(admin, assignee="marta")] == [ids[1]]
    assert [c["id"] for c in conversations(admin, assignee="none", status="open")] == [ids[3], ids[2]]
    assert [c["id"] for c in conversations(admin, channel="instagram")] == [ids[2]]
    assert [c["id"] for c in conversations(admin, q="pedido")] == [ids[3], ids[1]]
    assert [c["id"] for c in conversations(admin, q="100%")] == []
    customer_id = conversation(admin, ids[2])["customer_id"]
    assert [c["id"] for c in conversations(admin, customer=customer_id)] == [ids[2]]
    assert [c["id"] for c in conversations(admin, priority="normal")] == ids[::-1]

    first = ok(admin.get("/api/v1/conversations", params={"limit": 3}))
    second = ok(admin.get("/api/v1/conversations", params={"limit": 3, "cursor": first["next_cursor"]}))
    assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1] and second["next_cursor"] is None
    problem(admin.get("/api/v1/conversations", params={"cursor": "nope"}), 422, "invalid_cursor")
    problem(admin.get("/api/v1/conversations", params={"status": "lost"}), 422, "validation_error")


def test_when_two_profiles_merge_their_conversations_merge_and_unmerge_splits_them(admin: TestClient,
                                                                                   db: Database) -> None:
    insta = message(admin, "instagram", ANA_IG, "Hola por Instagram")
    mail = message(admin, "email", {"email": "ana@correo.es"}, "Hola por correo")
    assert insta["customer_id"] != mail["customer_id"]

    merge = ok(admin.post(f"/api/v1/customers/{insta['customer_id']}/merge",
                          json={"other": mail["customer_id"]}), 201)

    merged = conversation(admin, insta["conversation_id"])
    assert [(m["channel"], m["text"]) for m in merged["messages"]] == [
        ("instagram", "Hola por Instagram"), ("email", "Hola por correo")]
    assert merged["merged_ids"] == [mail["conversation_id"]]
    assert conversation(admin, mail["conversation_id"])["id"] == insta["conversation_id"]  # the old id leads here
    assert [c["id"] for c in conversations(admin)] == [insta["conversation_id"]]
    assert [(e["conversation_id"], e["merged_id"]) for e in events_of(db, "conversation.merged")] == [
        (insta["conversation_id"], mail["conversation_id"])]
    after = message(admin, "email", {"email": "ana@correo.es"}, "Sigo aquí")
    assert after["conversation_id"] == insta["conversation_id"]

    ok(admin.post(f"/api/v1/customers/merges/{merge['id']}/undo"))
    assert thread(admin, mail["conversation_id"]) == [("email", "in", "Hola por correo")]
    assert conversation(admin, mail["conversation_id"])["customer_id"] == mail["customer_id"]
    assert thread(admin, insta["conversation_id"]) == [("instagram", "in", "Hola por Instagram"),
                                                       ("email", "in", "Sigo aquí")]
    assert message(admin, "email", {"email": "ana@correo.es"}, "¿Y ahora?")["conversation_id"] == \
        mail["conversation_id"]


def test_erasure_strips_what_the_person_wrote(admin: TestClient) -> None:
    first = message(admin, "email", {"email": "borrar@correo.es"}, "Mi dirección es Calle Mayor 1",
                    subject="Datos", attachments=[{"type": "image", "url": "https://cdn.example.net/x.jpg"}])
    ok(admin.delete(f"/api/v1/customers/{first['customer_id']}"))
    seen = conversation(admin, first["conversation_id"])
    assert [(m["text"], m["subject"], m["attachments"]) for m in seen["messages"]] == [("", None, [])]


def test_roles_and_scopes(admin: TestClient, db: Database, clock: ManualClock) -> None:
    channel(admin, "web")
    channel(admin, "store", kind="store")
    web_key = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='web')}"}
    marketer = {"Authorization": f"Bearer {make_key(db, clock, 'marketer')}"}
    associate = {"Authorization": f"Bearer {make_key(db, clock, 'associate', location='x')}"}
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}

    posted = ok(admin.post("/api/v1/messages", headers=web_key, json={
        "channel": "webchat", "identity": {"phone": "612000333"}, "text": "Hola"}), 201)  # read in the web's ES
    assert ok(admin.get(f"/api/v1/customers/{posted['customer_id']}"))["identities"][0]["value"] == "+34612000333"
    problem(admin.post("/api/v1/messages", headers=web_key, json={
        "channel": "webchat", "identity": {"email": "x@correo.es"}, "text": "Hola", "sales_channel": "store"}),
        403, "channel_not_allowed")
    cid = posted["conversation_id"]
    for who in (web_key, marketer, associate):
        problem(admin.get("/api/v1/conversations", headers=who), 403, "role_not_allowed")
        problem(admin.get(f"/api/v1/conversations/{cid}", headers=who), 403, "role_not_allowed")
        problem(admin.post(f"/api/v1/conversations/{cid}/resolve", headers=who), 403, "role_not_allowed")
    problem(admin.post("/api/v1/messages", headers=marketer, json={
        "channel": "phone", "identity": {"email": "x@correo.es"}, "text": "Llamada"}), 403, "role_not_allowed")
    assert ok(admin.get(f"/api/v1/conversations/{cid}", headers=agent))["id"] == cid
    logged = ok(admin.post("/api/v1/messages", headers=agent, json={
        "channel": "phone", "identity": {"phone": "+34612000333"}, "text": "Llamó por la devolución"}), 201)
    assert logged["conversation_id"] == cid
    admin.headers.pop("Authorization")
    problem(admin.get("/api/v1/conversations"), 401, "missing_api_key")


def test_bad_input_is_a_clear_problem_and_stores_nothing(admin: TestClient) -> None:
    problem(admin.post("/api/v1/messages", json={"channel": "pigeon", "identity": {"email": "a@correo.es"},
                                                 "text": "x"}), 422, "validation_error")
    problem(admin.post("/api/v1/messages", json={"channel": "email", "identity": {"email": "a@correo.es"},
                                                 "text": " "}), 422, "validation_error")
    problem(admin.post("/api/v1/messages", json={"channel": "email", "identity": {"email": "a@correo.es"},
                                                 "text": "x" * 10_001}), 422, "validation_error")
    problem(admin.post("/api/v1/messages", json={"channel": "email", "identity": {"email": "not-an-email"},
                                                 "text": "x"}), 422, "invalid_identity")
    problem(admin.post("/api/v1/messages", json={"channel": "email", "identity": {"email": "test@example.com"},
                                                 "text": "x"}), 422, "identity_blocked")
    problem(admin.get("/api/v1/conversations/cnv_nope"), 404, "conversation_not_found")
    problem(admin.post("/api/v1/conversations/cnv_nope/notes", json={"text": "x"}), 404, "conversation_not_found")
    assert conversations(admin) == []


def test_parallel_messages_after_resolving_reopen_the_one_conversation(admin: TestClient) -> None:
    cid = message(admin, "webchat", {"email": "rosa@correo.es"}, "Hola")["conversation_id"]
    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    results: list[Any] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        response = admin.post("/api/v1/messages", json={
            "channel": "whatsapp" if i % 2 else "email", "identity": {"email": "rosa@correo.es"},
            "text": f"otra vez {i}"})
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status_code for r in results] == [201] * 6, [r.text for r in results]
    assert {r.json()["conversation_id"] for r in results} == {cid}
    assert conversation(admin, cid)["status"] == "open" and len(thread(admin, cid)) == 7


def test_the_orders_beside_a_conversation_never_show_a_pickup_code(admin: TestClient) -> None:
    from tests.builders import location, product, stock

    location(admin, "mad", pickup=True)
    product(admin, "TEE")
    channel(admin, "web", locations=["mad"])
    ok(admin.put("/api/v1/channels/web/prices", json=[{"sku": "TEE", "amount": "20.00"}]))
    stock(admin, "mad", "TEE", 3)
    order = ok(admin.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "pick@correo.es"}, "lines": [{"sku": "TEE", "quantity": 1}],
        "fulfilment": {"type": "pickup", "location": "mad"}, "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    ready = ok(admin.post(f"/api/v1/orders/{order['id']}/ready"))
    assert ready["pickup"]["code"]  # the store's admin sees it
    cid = message(admin, "webchat", {"email": "pick@correo.es"}, "¿Cuál es mi código?")["conversation_id"]
    [shown] = conversation(admin, cid)["orders"]
    assert shown["id"] == order["id"] and shown["pickup"]["location"] == "mad" and shown["pickup"]["code"] is None
