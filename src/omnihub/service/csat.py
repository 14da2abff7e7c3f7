"""Customer satisfaction (CSAT) after resolution: when a conversation is resolved (and OMNIHUB_SERVICE_CSAT is on)
the customer is asked, on the channel they last wrote from, through the same outbox as agents' replies, to rate
it 1-5 — by answering with the bare number, or through the survey's tokenised link
(`POST /api/v1/csat/{token}`). One survey per resolution; its first answer counts."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import DomainError
from omnihub.core.events import emit
from omnihub.service import errors
from omnihub.service.models import conversation_messages, conversations, csat_surveys, reply_templates

if TYPE_CHECKING:  # replies imports service, which reads survey answers from here
    from omnihub.service import replies

S = csat_surveys.c
C = conversations.c
ANSWER_WINDOW = timedelta(days=7)  # a bare "4" later than this is a new message, not an answer
SCORE_REPLY = re.compile(r"^\s*([1-5])\s*(?:/\s*5)?\s*[.!]?\s*$")
TEMPLATE = "csat"  # a reply template with this code words the question (variables: csat.url, csat.token)
DEFAULT_TEXT = ("How did we do? Reply with a number from 1 (bad) to 5 (great).{link}\n"
                "¿Qué tal te atendimos? Responde con un número del 1 (mal) al 5 (muy bien).")


def score_in(text: str) -> int | None:
    """The score a reply gives, when the reply is nothing but a score ("4", " 5 ", "3/5")."""
    match = SCORE_REPLY.match(text or "")
    return int(match.group(1)) if match else None


def ask(conn: Connection, clock: Clock, conversation_id: str, *, outlets: replies.Outlets, link_base: str,
        actor: str) -> dict[str, Any]:
    """Open a survey for a conversation just resolved and queue the question where the customer last wrote.
    A customer who cannot be reached (web chat only, WhatsApp window closed, channel not configured) still gets a
    survey that the shop can show through the link."""
    from omnihub.service import replies

    conv = conn.execute(sa.select(conversations).where(C.id == conversation_id)).one()
    token = secrets.token_hex(16)
    link = f"{link_base}{token}" if link_base else ""
    has_template = conn.execute(sa.select(reply_templates.c.code).where(reply_templates.c.code == TEMPLATE)
                                ).first() is not None
    channel = message_id = None
    try:
        out = replies.reply(conn, clock, conv.id, text=None if has_template else DEFAULT_TEXT.format(
            link=f" {link}" if link else ""), template=TEMPLATE if has_template else None,
            variables={"csat": {"url": link, "token": token}} if has_template else {}, channel=None, actor=actor,
            outlets=outlets, automatic=True)
        channel, message_id = out["channel"], out["id"]
    except DomainError:
        pass
    conn.execute(csat_surveys.insert().values(token=token, conversation_id=conv.id, customer_id=conv.customer_id,
                                              channel=channel, message_id=message_id, asked_at=clock.now()))
    emit(conn, clock, "csat.asked", {"conversation_id": conv.id, "customer_id": conv.customer_id,
                                     "channel": channel})
    return {"token": token, "channel": channel, "message_id": message_id}


def answer(conn: Connection, clock: Clock, token: str, score: int, comment: str | None, *, via: str) -> None:
    """Record an answer (by link, or by reply). A second answer is refused: the first counts."""
    row = conn.execute(sa.select(csat_surveys).where(S.token == token)).first()
    if row is None:
        raise errors.survey_not_found()
    now = clock.now()
    if not conn.execute(csat_surveys.update().where(S.token == token, S.answered_at.is_(None)).values(
            score=score, comment=comment, answered_at=now, answered_via=via)).rowcount:
        raise errors.survey_answered()
    emit(conn, clock, "csat.answered", {"conversation_id": row.conversation_id, "customer_id": row.customer_id,
                                        "score": score, "via": via})


def answer_by_reply(conn: Connection, clock: Clock, customer_id: str, *, channel: str, text: str,
                    external_id: str | None, address: str | None, at: datetime) -> dict[str, Any] | None:
    """A bare score from a customer with no live conversation and an open survey: it answers the survey and is
    kept in the resolved conversation, which stays resolved. None when the message is not such an answer."""
    score = score_in(text)
    if score is None or conn.execute(sa.select(C.id).where(C.active_for == customer_id)).first() is not None:
        return None
    now = clock.now()
    survey = conn.execute(sa.select(csat_surveys).where(
        S.customer_id == customer_id, S.answered_at.is_(None), S.asked_at >= now - ANSWER_WINDOW)
        .order_by(S.asked_at.desc()).limit(1)).first()
    if survey is None:
        return None
    conv = conn.execute(sa.select(conversations).where(C.id == survey.conversation_id)).first()
    if conv is None or conv.status != "resolved" or conv.customer_id != customer_id:
        return None
    answer(conn, clock, survey.token, score, None, via="reply")
    message_id = new_id("cmsg")
    conn.execute(conversation_messages.insert(), dict(
        id=message_id, conversation_id=conv.id, origin_conversation_id=conv.id, channel=channel, direction="in",
        author=customer_id, text=text, attachments=[], external_id=external_id, address=address, status="received",
        attempts=0, at=at, updated_at=now))
    emit(conn, clock, "message.received", {"message_id": message_id, "conversation_id": conv.id,
                                           "customer_id": customer_id, "channel": channel, "csat": score})
    return {"message_id": message_id, "conversation_id": conv.id, "customer_id": customer_id,
            "conversation_status": "resolved", "channel": channel, "duplicate": False}
