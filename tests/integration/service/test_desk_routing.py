"""The desk's later features through HTTP: the next-response target and the clock paused while pending, a bot
answer that is not a first response, routing rules to teams (applied when a conversation opens and when the bot
hands off), Facebook Messenger in and out, and WhatsApp media described from the Graph API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.builders import channel, ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, events_of, message
from tests.integration.service.meta import APP_SECRET, PHONE_NUMBER_ID, signed, threaded
from tests.integration.service.outlets import Graph
from tests.integration.service.test_bot import load_kb
from tests.provider_receiver import Call

from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.service.bot import BotHandler
from omnihub.service.media import MediaHandler
from omnihub.service.routing import RoutingHandler
from omnihub.worker import Worker

HOOK = "/api/v1/connectors/meta/webhooks"
PAGE_ID = "104325532088731"  # a Facebook Page
PSID = "6915834191800523"  # a page-scoped id (the person on Messenger)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def desk_worker(desk_settings: Settings, db: Database, clock: ManualClock) -> Iterator[Worker]:
    """The service room's handlers in the dispatcher: routing, the bot, media descriptions."""
    w = Worker(desk_settings, db, clock, handlers=[RoutingHandler(clock, desk_settings),
                                                    BotHandler(clock, desk_settings),
                                                    MediaHandler(clock, desk_settings)])
    yield w
    w.close()


def reply(api: TestClient, cid: str, text: str = "Hola, lo miro") -> None:
    ok(api.post(f"/api/v1/conversations/{cid}/reply", json={"text": text}), 202)


# ---- SLA: next response and the paused clock ---------------------------------------------------------------


def test_next_response_is_owed_after_each_customer_message_and_pending_pauses_the_clock(
        desk: TestClient, worker: Worker, db: Database, clock: ManualClock) -> None:
    policy = ok(admin_put(desk, "normal", 10, 600, 20), 201)
    assert policy["next_response_minutes"] == 20
    items = {p["priority"]: p for p in ok(desk.get("/api/v1/sla-policies"))["items"]}
    assert items["urgent"]["next_response_minutes"] == 30  # the default: as quick as the first response
    problem(admin_put(desk, "high", 10, 60, 61), 422, "invalid_sla_policy")
    t0 = clock.now()
    who = {"email": "ines@correo.es"}
    cid = message(desk, "email", who, "Hola, una duda")["conversation_id"]
    assert conversation(desk, cid)["sla"]["next_response_due_at"] is None  # the first response is what is owed

    clock.advance(minutes=5)
    reply(desk, cid)  # a person answers: waiting on the customer, the clock stops
    sla = conversation(desk, cid)["sla"]
    assert sla["first_response_seconds"] == 300 and sla["paused"] is True
    clock.advance(minutes=30)
    assert conversation(desk, cid)["status"] == "pending"
    message(desk, "email", who, "Sigue sin funcionar")  # the clock runs again; an answer is owed in 20 minutes
    seen = conversation(desk, cid)
    assert seen["status"] == "open" and seen["sla"]["paused"] is False and seen["sla"]["paused_seconds"] == 1800
    assert _at(seen["sla"]["next_response_due_at"]) == t0 + timedelta(minutes=55)
    assert _at(seen["sla"]["resolution_due_at"]) == t0 + timedelta(minutes=630)  # shifted by the pause

    clock.advance(minutes=19)
    worker.run_jobs()
    assert events_of(db, "conversation.breached") == []
    clock.advance(minutes=2)
    assert [c["id"] for c in ok(desk.get("/api/v1/conversations", params={"breaching": "breached"}))["items"]] == [cid]
    worker.run_jobs()
    worker.run_jobs()  # once per wait
    assert [e["target"] for e in events_of(db, "conversation.breached")] == ["next_response"]

    reply(desk, cid)  # met (late): nothing owed while the customer has the word
    assert conversation(desk, cid)["sla"]["next_response_due_at"] is None
    assert ok(desk.get("/api/v1/conversations", params={"breaching": "breached"}))["items"] == []
    clock.advance(minutes=10)
    message(desk, "email", who, "¿Y ahora?")  # a new wait: it may breach again
    clock.advance(minutes=21)
    worker.run_jobs()
    assert [e["target"] for e in events_of(db, "conversation.breached")] == ["next_response", "next_response"]


def admin_put(api: TestClient, priority: str, first: int, resolution: int, following: int) -> Any:
    return api.put(f"/api/v1/sla-policies/{priority}", json={
        "first_response_minutes": first, "resolution_minutes": resolution, "next_response_minutes": following})


def test_a_bot_answer_is_not_the_first_response(desk: TestClient, desk_worker: Worker, clock: ManualClock) -> None:
    load_kb(desk, ("es",))
    who = {"email": "marta@correo.es"}
    cid = message(desk, "email", who, "¿Cuánto cuesta el envío a Canarias?")["conversation_id"]
    desk_worker.dispatch()
    seen = conversation(desk, cid)
    assert [m["author"] for m in seen["messages"] if m["direction"] == "out"] == ["bot"]
    assert seen["first_response_at"] is None and seen["sla"]["first_response_seconds"] is None
    assert seen["status"] == "pending" and seen["sla"]["paused"] is True  # waiting on the customer
    clock.advance(minutes=10)
    message(desk, "email", who, "Quiero hablar con una persona")
    desk_worker.dispatch()
    assert conversation(desk, cid)["handoff"]["reason"] == "asked_for_person"
    clock.advance(minutes=3)
    reply(desk, cid, "Hola Marta, soy Luis")
    sla = conversation(desk, cid)["sla"]
    assert sla["first_response_seconds"] == 13 * 60 and sla["next_response_due_at"] is None


# ---- routing rules --------------------------------------------------------------------------------------------


def _team(api: TestClient, code: str, *agents: str) -> None:
    ok(api.post("/api/v1/teams", json={"code": code, "name": code.title()}), 201)
    for agent in agents:
        ok(api.put(f"/api/v1/teams/{code}/members/{agent}"), 201)
        ok(api.put(f"/api/v1/agents/{agent}/availability", json={"available": True}))


def test_routing_rules_are_managed_and_checked_field_by_field(desk: TestClient, db: Database,
                                                               clock: ManualClock) -> None:
    _team(desk, "returns")
    rule = {"reason": "refund_asked", "team": "returns"}
    for bad, field in (({"channel": "fax"}, "channel"), ({"reason": "angry"}, "reason"),
                       ({"language": "fr"}, "language"), ({"tag": "No Tag"}, "tag"), ({"team": "nobody"}, "team")):
        body = problem(desk.post("/api/v1/routing-rules", json={**rule, **bad}), 422, "invalid_routing_rule")
        assert body["field"] == field, body
    assert desk.post("/api/v1/routing-rules", json={**rule, "priority": "x"}).status_code == 422  # unknown field
    first = ok(desk.post("/api/v1/routing-rules", json=rule), 201)
    second = ok(desk.post("/api/v1/routing-rules", json={"language": "en", "team": "returns", "position": 1}), 201)
    assert (first["position"], second["position"]) == (1, 1)
    assert [r["id"] for r in ok(desk.get("/api/v1/routing-rules"))["items"]] == [second["id"], first["id"]]
    moved = ok(desk.put(f"/api/v1/routing-rules/{second['id']}", json={"channel": "email", "team": "returns",
                                                                       "position": 5}))
    assert moved["position"] == 2 and moved["channel"] == "email" and moved["language"] is None
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}
    assert desk.get("/api/v1/routing-rules", headers=agent).status_code == 200
    assert desk.post("/api/v1/routing-rules", json=rule, headers=agent).status_code == 403
    assert desk.delete(f"/api/v1/routing-rules/{first['id']}").status_code == 204
    problem(desk.delete(f"/api/v1/routing-rules/{first['id']}"), 404, "routing_rule_not_found")
    assert [r["position"] for r in ok(desk.get("/api/v1/routing-rules"))["items"]] == [1]


def test_a_conversation_is_routed_when_it_opens_and_assigned_at_the_bots_handoff(
        desk: TestClient, desk_worker: Worker, db: Database, clock: ManualClock) -> None:
    load_kb(desk, ("es",))
    agents = [make_key(db, clock, "agent") for _ in range(3)]
    ids = []
    for key in agents:
        ids.append(ok(desk.put("/api/v1/agents/me/availability", json={"available": True},
                               headers={"Authorization": f"Bearer {key}"}))["agent"])
    _team(desk, "returns", ids[0], ids[1])
    _team(desk, "phone", ids[2])
    ok(desk.post("/api/v1/routing-rules", json={"channel": "phone", "team": "phone"}), 201)
    ok(desk.post("/api/v1/routing-rules", json={"reason": "refund_asked", "team": "returns"}), 201)

    call = message(desk, "phone", {"phone": "+34612000111"}, "Llamó por una factura")["conversation_id"]
    refund = message(desk, "email", {"email": "rosa@correo.es"}, "Quiero un reembolso de mi pedido")[
        "conversation_id"]
    other = message(desk, "email", {"email": "leo@correo.es"}, "¿Vendéis tarjetas regalo?")["conversation_id"]
    desk_worker.dispatch()
    # the bot never speaks on a logged call: the agent is picked at once
    seen = conversation(desk, call)
    assert seen["team"] == "phone" and seen["assignee"] == ids[2]
    # the bot had its turn first and handed off (a refund): then round robin within the team
    seen = conversation(desk, refund)
    assert seen["handoff"]["reason"] == "refund_asked"
    assert seen["team"] == "returns" and seen["assignee"] in ids[:2]
    assert conversation(desk, other)["team"] is None  # no rule matched: the general queue
    routed = {e["conversation_id"]: e for e in events_of(db, "conversation.routed")}
    assert set(routed) == {call, refund} and routed[call]["assignee"] == ids[2]

    first = conversation(desk, refund)["assignee"]
    again = message(desk, "email", {"email": "tomas@correo.es"}, "Necesito un reembolso")["conversation_id"]
    desk_worker.dispatch()
    assert conversation(desk, again)["assignee"] == next(i for i in ids[:2] if i != first)  # takes turns
    for key in agents[:2]:
        ok(desk.put("/api/v1/agents/me/availability", json={"available": False},
                    headers={"Authorization": f"Bearer {key}"}))
    waiting = message(desk, "email", {"email": "noa@correo.es"}, "Quiero el reembolso ya")["conversation_id"]
    desk_worker.dispatch()
    seen = conversation(desk, waiting)  # nobody available: in the team's queue, unassigned
    assert seen["team"] == "returns" and seen["assignee"] is None and seen["handoff"] is not None


# ---- Facebook Messenger ---------------------------------------------------------------------------------------


def messenger_message(text: str, mid: str, *, timestamp_ms: int = 1767603600000,
                      attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Messenger `messages` event, as Meta's Messenger Platform documents the webhook."""
    body: dict[str, Any] = {"mid": mid, "text": text}
    if attachments:
        body["attachments"] = attachments
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": timestamp_ms + 40, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": timestamp_ms, "message": body}]}]}


def hook(api: TestClient, payload: dict[str, Any], secret: str = APP_SECRET) -> Any:
    body, headers = signed(payload, secret)
    return api.post(HOOK, content=body, headers=headers)


def hooked(api: TestClient, payload: dict[str, Any]) -> dict[str, int]:
    """A signed webhook accepted, then the worker's turn at it: what it gave (received, duplicates, statuses)."""
    return threaded(api, hook(api, payload))


def test_messenger_messages_join_the_conversation_and_replies_use_the_send_api(
        desk: TestClient, worker: Worker, graph: Graph, db: Database) -> None:
    channel(desk, "fb", kind="social")
    problem(desk.put("/api/v1/connectors/meta/fb", json={
        "app_secret": APP_SECRET, "verify_token": "v-fb", "access_token": "EAAG-page",
        "phone_number_id": "123", "kind": "facebook"}), 422, "invalid_connector")
    made = ok(desk.put("/api/v1/connectors/meta/fb", json={
        "app_secret": APP_SECRET, "verify_token": "v-fb", "access_token": "EAAG-page", "page_id": PAGE_ID,
        "kind": "facebook", "api_base": graph.base}), 201)
    assert made["kind"] == "facebook" and made["page_id"] == PAGE_ID
    assert hook(desk, messenger_message("Hola", "m.IN1"), "wrong-secret").status_code == 401
    photo = [{"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}}]
    assert hooked(desk, messenger_message("¿Tenéis esta talla?", "m.IN1", attachments=photo)) == {
        "received": 1, "duplicates": 0, "statuses": 0, "ignored": 0}
    assert hooked(desk, messenger_message("¿Tenéis esta talla?", "m.IN1"))["duplicates"] == 1
    cid = ok(desk.get("/api/v1/conversations", params={"channel": "facebook"}))["items"][0]["id"]
    seen = conversation(desk, cid)
    [msg] = seen["messages"]
    assert msg["channel"] == "facebook" and msg["attachments"] == [
        {"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}]
    assert {"kind": "external", "system": "facebook", "value": PSID} in [
        {k: i[k] for k in ("kind", "system", "value")} for i in seen["customer"]["identities"]]

    reply(desk, cid, "Sí, la tenemos en la 42")
    worker.send_replies()
    [call] = graph.calls
    assert call.method == "POST" and call.path == f"/v21.0/{PAGE_ID}/messages"
    assert call.headers["authorization"] == "Bearer EAAG-page"
    assert call.body == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                         "message": {"text": "Sí, la tenemos en la 42"}}
    out = [m for m in conversation(desk, cid)["messages"] if m["direction"] == "out"][-1]
    assert out["status"] == "sent"
    delivered = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1767603700000, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1767603700000,
        "delivery": {"mids": ["mid.OUT1"], "watermark": 1767603700000}}]}]}
    assert hooked(desk, delivered)["statuses"] == 1
    assert [m for m in conversation(desk, cid)["messages"] if m["direction"] == "out"][-1]["status"] == "delivered"
    assert len(events_of(db, "message.delivered")) == 1


# ---- WhatsApp media ---------------------------------------------------------------------------------------------


def test_whatsapp_media_is_described_from_the_graph_api(desk: TestClient, desk_worker: Worker, graph: Graph) -> None:
    def media(call: Call) -> tuple[int, Any]:
        media_id = call.path.rsplit("/", 1)[1]
        if media_id == "1037543291543636":
            return 200, {"messaging_product": "whatsapp", "url": f"https://lookaside.fbsbx.com/whatsapp_business/"
                                                                 f"attachments/?mid={media_id}&ext=1767603900",
                         "mime_type": "image/jpeg", "sha256": "e3b0c44298fc1c149afbf4c8996fb924", "file_size": "83117",
                         "id": media_id}
        return 400, {"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100}}

    graph.receiver.route("GET", r"^/v21\.0/\d+$", media)
    channel(desk, "wa", kind="social")
    ok(desk.put("/api/v1/connectors/meta/wa", json={
        "app_secret": APP_SECRET, "verify_token": "v-wa", "access_token": "EAAG-wa",
        "phone_number_id": PHONE_NUMBER_ID, "api_base": graph.base}), 201)
    images = [("wamid.IMG1", "1037543291543636", "image"), ("wamid.DOC1", "9990001112223334", "document")]
    for wamid, media_id, kind in images:
        payload = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                      "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34612345678"}],
                      "messages": [{"from": "34612345678", "id": wamid, "timestamp": "1767603600", "type": kind,
                                    kind: {"caption": "mira", "mime_type": "image/jpeg", "sha256": "abc=",
                                           "id": media_id}}]},
            "field": "messages"}]}]}
        hooked(desk, payload)
    desk_worker.dispatch()
    cid = ok(desk.get("/api/v1/conversations"))["items"][0]["id"]
    found = {m["external_id"]: m["attachments"] for m in conversation(desk, cid)["messages"] if m["direction"] == "in"}
    [image] = found["wamid.IMG1"]
    assert image["type"] == "image" and image["id"] == "1037543291543636"
    assert image["url"].startswith("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1037543291543636")
    assert image["mime_type"] == "image/jpeg" and image["sha256"] == "e3b0c44298fc1c149afbf4c8996fb924"
    assert image["file_size"] == 83117
    [doc] = found["wamid.DOC1"]
    assert "url" not in doc and doc["media_error"].startswith("Graph API 400: Unsupported get request")
    gets = graph.receiver.calls_to("GET", r"^/v21\.0/\d+$")
    assert len(gets) == 2 and all(c.bearer == "EAAG-wa" for c in gets)
    assert gets[0].query == {"phone_number_id": [PHONE_NUMBER_ID]}
    desk_worker.dispatch()
    assert len(graph.receiver.calls_to("GET", r"^/v21\.0/\d+$")) == 2  # described once
