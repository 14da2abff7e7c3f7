"""Meta connections: configuration with sealed secrets, the verification handshake, and signed WhatsApp Cloud
API / Instagram Messaging webhooks becoming messages in the customer's one conversation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import channel, ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, conversations, thread
from tests.integration.service.meta import (
    APP_SECRET,
    IG_ACCOUNT_ID,
    PHONE_NUMBER_ID,
    instagram_message,
    signed,
    threaded,
    whatsapp_text,
)

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.service.models import inbound_payloads, meta_connectors

HOOK = "/api/v1/connectors/meta/webhooks"


def connect(admin: TestClient, code: str = "wa", *, status: int = 201, **account: Any) -> dict[str, Any]:
    body = {"app_secret": APP_SECRET, "verify_token": f"verify-{code}", "access_token": f"EAAG-token-{code}",
            **(account or {"phone_number_id": PHONE_NUMBER_ID})}
    return ok(admin.put(f"/api/v1/connectors/meta/{code}", json=body), status)


def _shop(admin: TestClient) -> None:
    channel(admin, "wa", kind="social")
    channel(admin, "ig", kind="social")
    connect(admin, "wa", phone_number_id=PHONE_NUMBER_ID)
    connect(admin, "ig", page_id=IG_ACCOUNT_ID)


def post(admin: TestClient, payload: dict[str, Any], *, secret: str = APP_SECRET, headers: dict[str, str] | None = None
         ) -> Any:
    body, signature = signed(payload, secret)
    return admin.post(HOOK, content=body, headers={**signature, **(headers or {})})


def test_a_connection_keeps_its_secrets_sealed_and_never_shows_them(admin: TestClient, db: Database) -> None:
    channel(admin, "wa", kind="social")
    created = connect(admin, "wa", phone_number_id=PHONE_NUMBER_ID)
    assert created["kind"] == "whatsapp" and created["phone_number_id"] == PHONE_NUMBER_ID
    assert created["api_base"] == "https://graph.facebook.com/v21.0"
    replaced = admin.put("/api/v1/connectors/meta/wa", json={
        "app_secret": APP_SECRET, "verify_token": "verify-wa", "access_token": "EAAG-token-new",
        "phone_number_id": PHONE_NUMBER_ID, "api_base": "https://graph.example.net/v21.0/"})
    assert replaced.status_code == 200 and replaced.json()["api_base"] == "https://graph.example.net/v21.0"
    shown = admin.get("/api/v1/connectors/meta/wa")
    for response in (replaced, shown):
        for secret in (APP_SECRET, "verify-wa", "EAAG-token-new"):
            assert secret not in response.text
    with db.read() as conn:
        row = conn.execute(sa.select(meta_connectors)).one()
    stored = " ".join(str(v) for v in row)
    assert APP_SECRET not in stored and "EAAG-token-new" not in stored and "verify-wa" not in stored


def test_connection_input_is_checked(admin: TestClient, db: Database, clock: ManualClock) -> None:
    channel(admin, "wa", kind="social")
    channel(admin, "other", kind="social")
    base = {"app_secret": "s", "verify_token": "v", "access_token": "t"}
    put = "/api/v1/connectors/meta/wa"
    problem(admin.put(put, json=base), 422, "invalid_connector")
    problem(admin.put(put, json={**base, "phone_number_id": "1", "page_id": "2"}), 422, "invalid_connector")
    problem(admin.put(put, json={**base, "phone_number_id": "1", "api_base": "ftp://graph.facebook.com"}),
            422, "invalid_connector")
    problem(admin.put(put, json={**base, "phone_number_id": "1", "api_base": "https://u:p@graph.facebook.com"}),
            422, "invalid_connector")
    problem(admin.put(put, json={**base, "phone_number_id": "12ab"}), 422, "validation_error")
    for private in ("http://169.254.169.254/latest", "http://10.0.0.5/v21.0", "http://[::1]:8080/v21.0"):
        refused = problem(admin.put(put, json={**base, "phone_number_id": "1", "api_base": private}), 422,
                          "invalid_connector")  # the outbound guard: no metadata, private or loopback targets
                                                # (the tests allow 127.0.0.1 only: their local receivers)
        assert refused["field"] == "api_base"
    problem(admin.put("/api/v1/connectors/meta/nope", json={**base, "phone_number_id": "1"}), 404,
            "channel_not_found")
    connect(admin, "wa", phone_number_id="1")
    problem(admin.put("/api/v1/connectors/meta/other", json={**base, "phone_number_id": "1"}), 409,
            "meta_account_in_use")
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}"}
    problem(admin.put(put, json={**base, "phone_number_id": "1"}, headers=agent), 403, "role_not_allowed")
    problem(admin.get("/api/v1/connectors/meta/wa", headers=agent), 403, "role_not_allowed")


def test_the_verification_handshake(admin: TestClient) -> None:
    _shop(admin)
    admin.headers.pop("Authorization")  # Meta sends no key
    answered = admin.get(HOOK, params={"hub.mode": "subscribe", "hub.verify_token": "verify-ig",
                                       "hub.challenge": "1158201444"})
    assert answered.status_code == 200 and answered.text == "1158201444"
    problem(admin.get(HOOK, params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}),
            403, "invalid_verify_token")
    problem(admin.get(HOOK, params={"hub.mode": "unsubscribe", "hub.verify_token": "verify-ig",
                                    "hub.challenge": "1"}), 403, "invalid_verify_token")


def test_a_signed_whatsapp_message_lands_in_the_customers_conversation(admin: TestClient) -> None:
    _shop(admin)
    ana = ok(admin.post("/api/v1/customers", json={"channel": "wa", "identities": {"phone": "612345678"}}), 201)
    admin_key = admin.headers.pop("Authorization")

    accepted = post(admin, whatsapp_text("34612345678", "¿Dónde está mi pedido?", "wamid.HBgLMzQ2MTIzNDU2NzgVAgA"))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    received = threaded(admin, accepted)  # the worker's turn
    repeated = threaded(admin, post(admin, whatsapp_text("34612345678", "¿Dónde está mi pedido?",
                                                         "wamid.HBgLMzQ2MTIzNDU2NzgVAgA")))

    assert received == {"received": 1, "duplicates": 0, "statuses": 0, "ignored": 0}
    assert repeated == {"received": 0, "duplicates": 1, "statuses": 0, "ignored": 0}
    admin.headers["Authorization"] = admin_key
    [conv] = conversations(admin)
    assert conv["customer_id"] == ana["id"]
    seen = conversation(admin, conv["id"])
    assert [(m["channel"], m["text"], m["external_id"]) for m in seen["messages"]] == [
        ("whatsapp", "¿Dónde está mi pedido?", "wamid.HBgLMzQ2MTIzNDU2NzgVAgA")]
    assert seen["messages"][0]["at"].startswith("2026-01-05T09:00:00")  # Meta's timestamp
    assert seen["customer"]["name"] == "Ana"  # from the WhatsApp profile


def test_a_signed_instagram_message_with_an_attachment(admin: TestClient) -> None:
    _shop(admin)
    admin_key = admin.headers.pop("Authorization")
    response = post(admin, instagram_message("1254459154682919", "Mira la foto", "aWdfZAG1faXRlbToxOklH", attachments=[
        {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]))
    assert threaded(admin, response)["received"] == 1
    admin.headers["Authorization"] = admin_key
    [conv] = conversations(admin)
    [msg] = conversation(admin, conv["id"])["messages"]
    assert (msg["channel"], msg["text"]) == ("instagram", "Mira la foto")
    assert msg["attachments"] == [{"type": "image",
                                   "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}]
    identities = ok(admin.get(f"/api/v1/customers/{conv['customer_id']}"))["identities"]
    assert [(i["kind"], i["value"], i.get("system")) for i in identities] == [
        ("external", "1254459154682919", "instagram")]


def test_a_bad_or_missing_signature_is_401_and_stores_nothing(admin: TestClient, db: Database) -> None:
    _shop(admin)
    admin_key = admin.headers.pop("Authorization")
    payload = whatsapp_text("34612345678", "hola", "wamid.A")
    problem(post(admin, payload, secret="not-the-app-secret"), 401, "invalid_signature")
    body, _ = signed(payload)
    problem(admin.post(HOOK, content=body, headers={"Content-Type": "application/json"}), 401, "invalid_signature")
    problem(admin.post(HOOK, content=body, headers={"X-Hub-Signature-256": "sha256=00"}), 401, "invalid_signature")
    problem(post(admin, whatsapp_text("34612345678", "hola", "wamid.B", phone_number_id="999")), 401,
            "invalid_signature")  # an account that is not ours: no secret can vouch for it
    problem(admin.post(HOOK, content=b"{not json", headers={"X-Hub-Signature-256": "sha256=00"}), 401,
            "invalid_signature")
    problem(admin.post(HOOK, content=b"x" * (1024 * 1024 + 1), headers={"X-Hub-Signature-256": "sha256=00"}), 422,
            "body_too_large")
    admin.headers["Authorization"] = admin_key
    assert conversations(admin) == []
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbound_payloads)).scalar() == 0


def test_whatsapp_and_instagram_messages_of_one_person_share_the_thread(admin: TestClient) -> None:
    _shop(admin)
    ok(admin.post("/api/v1/customers", json={"channel": "wa", "identities": [
        {"kind": "phone", "value": "+34612345678"},
        {"kind": "external", "value": "1254459154682919", "system": "instagram"}]}), 201)
    key = admin.headers.pop("Authorization")
    assert threaded(admin, post(admin, instagram_message("1254459154682919", "Hola por Insta", "mid.1"))
                    )["received"] == 1
    assert threaded(admin, post(admin, whatsapp_text("34612345678", "Y por WhatsApp", "wamid.2")))["received"] == 1
    admin.headers["Authorization"] = key
    [conv] = conversations(admin)
    assert thread(admin, conv["id"]) == [("instagram", "in", "Hola por Insta"), ("whatsapp", "in", "Y por WhatsApp")]


def test_an_erased_persons_whatsapp_message_is_ignored_not_refused(admin: TestClient) -> None:
    _shop(admin)
    gone = ok(admin.post("/api/v1/customers", json={"channel": "wa", "identities": {"phone": "+34612345678"}}), 201)
    ok(admin.delete(f"/api/v1/customers/{gone['id']}"))
    key = admin.headers.pop("Authorization")
    answered = post(admin, whatsapp_text("34612345678", "hola otra vez", "wamid.E1"))
    assert threaded(admin, answered)["ignored"] == 1  # Meta must not retry it forever
    admin.headers["Authorization"] = key
    assert conversations(admin) == []
