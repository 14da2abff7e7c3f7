"""Tags on conversations (lower-case codes such as `refund`, `vip`): added and removed by agents, listed with
the conversation, filtered on in the inbox (`?tag=`)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.events import emit
from omnihub.service import service as conversation_service  # (a module: service imports this one too)
from omnihub.service.models import conversation_tags, conversations

TG = conversation_tags.c


def change_tags(conn: Connection, clock: Clock, conversation_id: str, *, add: Sequence[str], remove: Sequence[str],
                actor: str) -> list[str]:
    """Add and remove in one go (adding a tag it has, or removing one it lacks, changes nothing); the tags after."""
    conv = conversation_service.writable(conn, conversation_id)
    now = clock.now()
    have = set(conn.execute(sa.select(TG.tag).where(TG.conversation_id == conv.id)).scalars())
    added = sorted(set(add) - have - set(remove))
    removed = sorted(set(remove) & have)
    if added:
        conn.execute(conversation_tags.insert(), [{"conversation_id": conv.id, "tag": t, "added_at": now}
                                                  for t in added])
    if removed:
        conn.execute(conversation_tags.delete().where(TG.conversation_id == conv.id, TG.tag.in_(removed)))
    if added or removed:
        conn.execute(conversations.update().where(conversations.c.id == conv.id).values(updated_at=now))
        emit(conn, clock, "conversation.tagged", {"conversation_id": conv.id, "added": added, "removed": removed,
                                                  "by": actor})
    return sorted((have | set(added)) - set(removed))


def move_tags(conn: Connection, from_id: str, to_id: str) -> None:
    """A conversation merged into another: its tags join the survivor's (a merge participant's step)."""
    theirs = set(conn.execute(sa.select(TG.tag).where(TG.conversation_id == from_id)).scalars())
    mine = set(conn.execute(sa.select(TG.tag).where(TG.conversation_id == to_id)).scalars())
    rows = conn.execute(sa.select(conversation_tags).where(TG.conversation_id == from_id,
                                                           TG.tag.in_(sorted(theirs - mine)))).all()
    if rows:
        conn.execute(conversation_tags.insert(), [{"conversation_id": to_id, "tag": r.tag, "added_at": r.added_at}
                                                  for r in rows])
