"""CSAT after resolution (asked through the reply outbox, answered by a bare 1-5 reply or through the tokenised
link, shown on the conversation and the 360 view) and SMS replies through messaging.sms, checked against a local
receiver speaking Twilio's Messages API: retried on an outage, failed at once on a refusal, never doubled."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.service.helpers import conversation, events_of, message
from tests.provider_receiver import Mailbox, ProviderReceiver

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.worker import Worker

SID, TOKEN, FROM = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token", "+34910000000"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
LINK = "https://tienda.es/encuesta/"


@pytest.fixture
def twilio() -> Iterator[ProviderReceiver]:
    receiver = ProviderReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hub_settings(desk_settings: Settings, twilio: ProviderReceiver) -> Settings:
    return desk_settings.model_copy(update={
        "sms_account_sid": SID, "sms_auth_token": TOKEN, "sms_from": FROM, "sms_api_base": twilio.base,
        "service_csat": True, "service_csat_link_base": LINK})


@pytest.fixture
def hub(hub_settings: Settings, db: Database, clock: ManualClock, admin_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(hub_settings, db=db, clock=clock), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        yield client


@pytest.fixture
def sender(hub_settings: Settings, db: Database, clock: ManualClock) -> Iterator[Worker]:
    w = Worker(hub_settings, db, clock, handlers=[])
    yield w
    w.close()


def _twilio_ok(receiver: ProviderReceiver, **route: int) -> None:
    counter = iter(range(1, 1000))
    receiver.route("POST", MESSAGES, lambda call: (201, {
        "sid": f"SM{next(counter):032d}", "status": "queued", "to": call.form["To"], "from": call.form["From"],
        "body": call.form["Body"]}), **route)


def test_an_sms_reply_goes_out_through_twilio_and_an_outage_is_retried_once_sent(
        hub: TestClient, sender: Worker, twilio: ProviderReceiver, db: Database, clock: ManualClock) -> None:
    _twilio_ok(twilio, fail_first=1, fail_status=503)
    cid = message(hub, "sms", {"phone": "+34612345678"}, "¿Dónde está mi pedido?")["conversation_id"]
    queued = ok(hub.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Sale hoy, Ana."}), 202)
    assert queued["channel"] == "sms"

    assert sender.send_replies() == 1  # Twilio answers 503: back in the queue
    out = next(m for m in conversation(hub, cid)["messages"] if m["direction"] == "out")
    assert out["status"] == "queued" and "503" in out["error"]
    assert sender.send_replies() == 0  # not due yet (backoff)
    clock.advance(seconds=31)
    assert sender.send_replies() == 1
    calls = twilio.calls_to("POST", MESSAGES)
    assert len(calls) == 2
    call = calls[-1]
    assert call.headers["authorization"] == "Basic " + __import__("base64").b64encode(
        f"{SID}:{TOKEN}".encode()).decode()
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.form == {"To": "+34612345678", "From": FROM, "Body": "Sale hoy, Ana."}
    out = next(m for m in conversation(hub, cid)["messages"] if m["direction"] == "out")
    assert out["status"] == "sent"
    assert [e["message_id"] for e in events_of(db, "message.sent")] == [queued["id"]]
    clock.advance(hours=2)
    assert sender.send_replies() == 0 and len(twilio.calls) == 2  # never again


def test_a_refused_sms_fails_at_once_and_parallel_workers_send_once(
        hub: TestClient, hub_settings: Settings, db: Database, clock: ManualClock, twilio: ProviderReceiver) -> None:
    twilio.route("POST", MESSAGES, lambda call: (400 if call.form["To"].endswith("999") else 201, {
        "code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}
        if call.form["To"].endswith("999") else {"sid": "SM1", "status": "queued"}))
    bad = message(hub, "sms", {"phone": "+34611000999"}, "Hola")["conversation_id"]
    good = message(hub, "sms", {"phone": "+34612345679"}, "Hola")["conversation_id"]
    for cid in (bad, good):
        ok(hub.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Hola"}), 202)
    problem(hub.post(f"/api/v1/conversations/{good}/reply", json={"text": "x" * 1601}), 422, "sms_too_long")
    workers = [Worker(hub_settings, db, clock, handlers=[]) for _ in range(3)]
    threads = [threading.Thread(target=w.send_replies) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        w.close()
    assert sorted(c.form["To"] for c in twilio.calls) == ["+34611000999", "+34612345679"]  # each once
    failed = next(m for m in conversation(hub, bad)["messages"] if m["direction"] == "out")
    assert failed["status"] == "failed" and "21211" in failed["error"]
    assert [e["conversation_id"] for e in events_of(db, "message.failed")] == [bad]


def _survey_mail(mailbox: Mailbox) -> str:
    [token] = [re.search(re.escape(LINK) + r"([0-9a-f]{32})", m.get_content()).group(1)  # type: ignore[union-attr]
               for m in mailbox.messages if LINK in m.get_content()]
    return token


def test_csat_is_asked_after_resolution_and_answered_by_a_bare_reply(
        hub: TestClient, sender: Worker, mailbox: Mailbox, db: Database) -> None:
    first = message(hub, "email", {"email": "ana@correo.es"}, "Mi pedido", subject="Pedido 1042")
    cid, ana = first["conversation_id"], first["customer_id"]
    ok(hub.post(f"/api/v1/conversations/{cid}/reply", json={"text": "Ya sale."}), 202)
    ok(hub.post(f"/api/v1/conversations/{cid}/resolve"))
    assert sender.send_replies() == 2  # the reply and the question, by the same outbox
    token = _survey_mail(mailbox)
    question = [m for m in conversation(hub, cid)["messages"] if m["direction"] == "out"][-1]
    assert question["status"] == "sent" and "1 (bad) to 5 (great)" in question["text"]
    assert conversation(hub, cid)["status"] == "resolved"  # asking is no response: still resolved

    answer = message(hub, "email", {"email": "ana@correo.es"}, " 4 ")
    assert answer["conversation_id"] == cid and answer["conversation_status"] == "resolved"
    seen = conversation(hub, cid)
    assert seen["status"] == "resolved" and seen["csat"]["score"] == 4 and seen["csat"]["via"] == "reply"
    assert seen["messages"][-1]["text"] == "4" and seen["messages"][-1]["direction"] == "in"
    assert ok(hub.get(f"/api/v1/customers/{ana}"))["csat"]["last"]["score"] == 4
    public = TestClient(hub.app)
    assert ok(public.get(f"/api/v1/csat/{token}"))["score"] == 4
    problem(public.post(f"/api/v1/csat/{token}", json={"score": 1}), 409, "survey_answered")
    assert [e["score"] for e in events_of(db, "csat.answered")] == [4]


def test_csat_by_link_then_a_number_is_a_new_message(hub: TestClient, sender: Worker, mailbox: Mailbox) -> None:
    first = message(hub, "email", {"email": "luis@correo.es"}, "Hola", subject="Duda")
    cid = first["conversation_id"]
    ok(hub.post(f"/api/v1/conversations/{cid}/resolve"))
    sender.send_replies()
    token = _survey_mail(mailbox)
    public = TestClient(hub.app)
    problem(public.post("/api/v1/csat/" + "0" * 32, json={"score": 3}), 404, "survey_not_found")
    assert public.post(f"/api/v1/csat/{token}", json={"score": 6}).status_code == 422
    answered = ok(public.post(f"/api/v1/csat/{token}", json={"score": 2, "comment": "Tardasteis"}))
    assert answered["answered"] is True and answered["score"] == 2
    assert conversation(hub, cid)["csat"]["comment"] == "Tardasteis"
    assert ok(hub.get(f"/api/v1/customers/{first['customer_id']}"))["csat"]["average"] == 2
    again = message(hub, "email", {"email": "luis@correo.es"}, "5")  # the survey is answered: a new message
    assert again["conversation_status"] == "open"


def test_csat_for_an_unreachable_customer_is_a_link_only_survey(hub: TestClient, db: Database) -> None:
    cid = message(hub, "webchat", {"email": "eva@correo.es"}, "Hola")["conversation_id"]
    ok(hub.post(f"/api/v1/conversations/{cid}/resolve"))
    seen = conversation(hub, cid)
    assert seen["csat"]["channel"] is None and seen["csat"]["score"] is None
    assert [m for m in seen["messages"] if m["direction"] == "out"] == []
    assert [e["channel"] for e in events_of(db, "csat.asked")] == [None]
