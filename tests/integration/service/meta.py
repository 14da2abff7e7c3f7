"""Meta's webhook bodies exactly as its documentation shows them, and their signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

APP_SECRET = "meta-app-secret-1"
PHONE_NUMBER_ID = "106540352242922"
IG_ACCOUNT_ID = "17841405822304914"


def signed(payload: dict[str, Any], secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


def whatsapp_text(wa_id: str, text: str, wamid: str, *, name: str = "Ana", timestamp: int = 1767603600,
                  phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                  "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                  "messages": [{"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": "text",
                                "text": {"body": text}}]},
        "field": "messages"}]}]}


def whatsapp_status(wamid: str, status: str, wa_id: str, *, timestamp: int = 1767603700) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                  "statuses": [{"id": wamid, "status": status, "timestamp": str(timestamp),
                                "recipient_id": wa_id}]},
        "field": "messages"}]}]}


def instagram_message(igsid: str, text: str, mid: str, *, timestamp_ms: int = 1767603600000,
                      attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid, "text": text}
    if attachments:
        message["attachments"] = attachments
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT_ID, "time": timestamp_ms + 50, "messaging": [{
        "sender": {"id": igsid}, "recipient": {"id": IG_ACCOUNT_ID}, "timestamp": timestamp_ms,
        "message": message}]}]}


def instagram_read(igsid: str, mid: str) -> dict[str, Any]:
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT_ID, "time": 1767603700000, "messaging": [{
        "sender": {"id": igsid}, "recipient": {"id": IG_ACCOUNT_ID}, "timestamp": 1767603700000,
        "read": {"mid": mid}}]}]}


def threaded(api: Any, answer: Any) -> dict[str, int]:
    """The worker's turn after a webhook was accepted (200, payload stored): drain the stored payloads as the
    `service.ingest_meta` job does, and return what this one gave (received, duplicates, statuses, ignored)."""
    import sqlalchemy as sa

    from omnihub.service import ingest
    from omnihub.service.models import inbound_payloads

    assert answer.status_code == 200, answer.text
    state = api.app.state
    while True:
        with state.db.transaction() as conn:
            if not ingest.drain(conn, state.clock, state.settings):
                break
    with state.db.read() as conn:
        row = conn.execute(sa.select(inbound_payloads).where(inbound_payloads.c.id == answer.json()["id"])).one()
    assert row.status == "done", row.error
    return dict(row.result)
