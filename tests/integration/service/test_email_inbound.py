"""E-mail in: a raw RFC 822 message becomes a message in the sender's conversation, trimmed for the thread,
threaded by In-Reply-To/References and by the reply token, the original kept."""

from __future__ import annotations

from email.message import EmailMessage

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.service.helpers import conversation, message

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.service.models import conversations

INBOUND = "/api/v1/connectors/email/inbound"
RAW = (b"From: Ana Garcia <ana@correo.es>\r\n"
       b"To: support@omnihub.local\r\n"
       b"Subject: Pedido 1042\r\n"
       b"Date: Mon, 05 Jan 2026 08:30:00 +0000\r\n"
       b"Message-ID: <CAF=ana-1@mail.correo.es>\r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n"
       b"\r\n" +
       "Hola, el pedido sigue sin llegar.\r\n"
       "¿Podéis mirarlo?\r\n"
       "\r\n"
       "-- \r\n"
       "Ana García\r\n"
       "Tel. 612 345 678\r\n"
       "\r\n"
       "El vie, 2 ene 2026 a las 10:00, Tienda <support@omnihub.local> escribió:\r\n"
       "> Gracias por tu compra.\r\n".encode())


def send(api: TestClient, raw: bytes, *, status: int = 201) -> dict:
    return ok(api.post(INBOUND, content=raw, headers={"Content-Type": "message/rfc822"}), status)


def mail(sender: str, text: str, *, message_id: str | None = None, to: str = "support@omnihub.local",
         in_reply_to: str | None = None, references: str | None = None, html: str | None = None,
         attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Consulta"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="factura.pdf")
    return bytes(msg)


def test_a_raw_email_is_trimmed_for_the_thread_and_kept_whole(admin: TestClient) -> None:
    receipt = send(admin, RAW)
    seen = conversation(admin, receipt["conversation_id"])
    [msg] = seen["messages"]
    assert (msg["channel"], msg["direction"], msg["subject"]) == ("email", "in", "Pedido 1042")
    assert msg["text"] == "Hola, el pedido sigue sin llegar.\n¿Podéis mirarlo?"
    assert msg["external_id"] == "CAF=ana-1@mail.correo.es" and msg["has_original"] is True
    assert msg["at"].startswith("2026-01-05T08:30:00")
    assert seen["customer"]["name"] == "Ana Garcia"
    assert [(i["kind"], i["value"]) for i in seen["customer"]["identities"]] == [("email", "ana@correo.es")]
    original = admin.get(f"/api/v1/conversations/{receipt['conversation_id']}/messages/{msg['id']}/original")
    assert original.status_code == 200 and original.headers["content-type"].startswith("message/rfc822")
    assert original.content.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")
    again = send(admin, RAW, status=200)
    assert again == {**receipt, "duplicate": True}


def test_html_only_mail_attachments_and_a_message_without_id(admin: TestClient) -> None:
    raw = mail("luis@correo.es", "x", attachment=b"%PDF-1.4 tiny")
    receipt = send(admin, raw)
    assert send(admin, raw, status=200)["message_id"] == receipt["message_id"]  # its hash stands in for the id
    [msg] = conversation(admin, receipt["conversation_id"])["messages"]
    assert msg["attachments"] == [{"type": "file", "filename": "factura.pdf", "content_type": "application/pdf",
                                   "size": 13}]
    html = EmailMessage()
    html["From"] = "luis@correo.es"
    html["To"] = "support@omnihub.local"
    html["Message-ID"] = "<html-1@correo.es>"
    html.set_content("<html><body><p>Quiero <b>devolver</b> las zapatillas</p><style>p{}</style></body></html>",
                     subtype="html")
    second = send(admin, bytes(html))
    assert second["conversation_id"] == receipt["conversation_id"]
    assert conversation(admin, receipt["conversation_id"])["messages"][1]["text"] == \
        "Quiero devolver las zapatillas"


def test_threading_by_references_and_by_reply_token_after_the_window(admin: TestClient, db: Database,
                                                                     clock: ManualClock) -> None:
    first = send(admin, mail("eva@correo.es", "Primera", message_id="<eva-1@correo.es>"))
    cid = first["conversation_id"]
    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    clock.advance(days=30)
    by_reference = send(admin, mail("eva@correo.es", "Re: primera", message_id="<eva-2@correo.es>",
                                    in_reply_to="<eva-1@correo.es>", references="<eva-0@x> <eva-1@correo.es>"))
    assert by_reference["conversation_id"] == cid and by_reference["conversation_status"] == "open"

    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    clock.advance(days=30)
    with db.read() as conn:
        token = conn.execute(sa.select(conversations.c.reply_token).where(conversations.c.id == cid)).scalar()
    by_token = send(admin, mail("eva@correo.es", "Otra vez", message_id="<eva-3@correo.es>",
                                to=f"Soporte <support+{token}@omnihub.local>"))
    assert by_token["conversation_id"] == cid

    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    clock.advance(days=30)
    unthreaded = send(admin, mail("eva@correo.es", "Tema nuevo", message_id="<eva-4@correo.es>"))
    assert unthreaded["conversation_id"] != cid


def test_email_and_other_channels_of_one_person_are_one_thread(admin: TestClient) -> None:
    chat = message(admin, "webchat", {"email": "ana@correo.es"}, "Hola desde el chat")
    assert send(admin, RAW)["conversation_id"] == chat["conversation_id"]


def test_bad_mail_and_wrong_keys(admin: TestClient, db: Database, clock: ManualClock) -> None:
    problem(admin.post(INBOUND, content=RAW, headers={"Content-Type": "text/plain"}), 422, "unsupported_media_type")
    problem(admin.post(INBOUND, content=b"Subject: nobody\r\n\r\nhola", headers={"Content-Type": "message/rfc822"}),
            422, "invalid_email")
    problem(admin.post(INBOUND, content=b"x" * (4 * 1024 * 1024 + 1), headers={"Content-Type": "message/rfc822"}),
            413, "request_too_large")  # OMNIHUB_MAX_BODY_BYTES, before anything reads it
    agent = {"Authorization": f"Bearer {make_key(db, clock, 'agent')}", "Content-Type": "message/rfc822"}
    problem(admin.post(INBOUND, content=RAW, headers=agent), 403, "role_not_allowed")
    assert ok(admin.get("/api/v1/conversations"))["items"] == []


def test_oversized_headers_are_stored_within_their_limits(admin: TestClient) -> None:
    long_id = "<" + "x" * 400 + "@correo.es>"
    raw = mail(f"{'N' * 300} <largo@correo.es>", "Hola", message_id=long_id, in_reply_to=long_id)
    receipt = send(admin, raw)
    [msg] = conversation(admin, receipt["conversation_id"])["messages"]
    assert msg["external_id"].startswith("sha256:")
    assert send(admin, raw, status=200)["message_id"] == receipt["message_id"]
