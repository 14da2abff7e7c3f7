"""Automatic team routing: routing rules (managed through the API) send a conversation to a team when it opens
and when the bot hands it off; then round robin among the team's available agents (teams.py).

When the bot will speak first (it is on and the channel is one it answers), opening only puts the conversation
in the team's queue — an assigned conversation silences the bot — and the agent is picked at the handoff. Where
the bot stays silent (it is off, or a logged call) the agent is picked at once. Nobody available: the
conversation waits unassigned in the team's queue."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import DomainError
from omnihub.core.events import Event, emit
from omnihub.service import bot_rules, errors, routing_rules, rules, teams
from omnihub.service.models import (
    conversation_messages,
    conversation_tags,
    conversations,
    service_agents,
    service_team_members,
    service_teams,
)
from omnihub.service.models import service_routing_rules as routing_table
from omnihub.service.service import current

log = logging.getLogger("omnihub.service.routing")
R = routing_table.c
TM = service_team_members.c
C = conversations.c
M = conversation_messages.c
ROUTER = "routing"  # the actor of automatic assignments
BOT_CHANNELS = ("instagram", "facebook", "whatsapp", "webchat", "email", "sms")  # bot.ANSWERS_ON


# ---- the rules ---------------------------------------------------------------------------------------------------


def _checked(conn: Connection, data: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: data.get(k) for k in routing_rules.CONDITIONS}
    problem = routing_rules.check_rule(values, rules.CHANNELS)
    if problem:
        raise errors.invalid_routing_rule(*problem)
    team = data.get("team")
    if not team or conn.execute(sa.select(service_teams.c.code).where(service_teams.c.code == team)).first() is None:
        raise errors.invalid_routing_rule("team", f"No team '{team}': create it first (POST /teams).")
    return {**values, "team": team}


def create_rule(conn: Connection, clock: Clock, data: Mapping[str, Any]) -> str:
    """A new rule, last unless `position` says where (1 = first; later ones move down)."""
    values = _checked(conn, data)
    count = conn.execute(sa.select(sa.func.count()).select_from(routing_table)).scalar_one()
    if count >= routing_rules.MAX_RULES:
        raise errors.invalid_routing_rule("position", f"At most {routing_rules.MAX_RULES} routing rules.")
    rule_id = new_id("rrl")
    now = clock.now()
    conn.execute(routing_table.insert().values(id=rule_id, position=count + 1, created_at=now, updated_at=now,
                                               **values))
    _place(conn, rule_id, data.get("position"))
    emit(conn, clock, "routing_rule.created", {"id": rule_id, **values})
    return rule_id


def replace_rule(conn: Connection, clock: Clock, rule_id: str, data: Mapping[str, Any]) -> None:
    if conn.execute(sa.select(R.id).where(R.id == rule_id)).first() is None:
        raise errors.routing_rule_not_found(rule_id)
    values = _checked(conn, data)
    conn.execute(routing_table.update().where(R.id == rule_id).values(**values, updated_at=clock.now()))
    _place(conn, rule_id, data.get("position"))
    emit(conn, clock, "routing_rule.updated", {"id": rule_id, **values})


def delete_rule(conn: Connection, clock: Clock, rule_id: str) -> None:
    if not conn.execute(routing_table.delete().where(R.id == rule_id)).rowcount:
        raise errors.routing_rule_not_found(rule_id)
    _place(conn, None, None)
    emit(conn, clock, "routing_rule.deleted", {"id": rule_id})


def _place(conn: Connection, rule_id: str | None, position: int | None) -> None:
    """Number the rules 1..n again, with `rule_id` at `position` (clamped) when given."""
    ids = list(conn.execute(sa.select(R.id).order_by(R.position, R.id)).scalars())
    if rule_id is not None and position is not None:
        ids.remove(rule_id)
        ids.insert(max(0, min(position - 1, len(ids))), rule_id)
    for i, rid in enumerate(ids, start=1):
        conn.execute(routing_table.update().where(R.id == rid, R.position != i).values(position=i))


def list_rules(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(sa.select(routing_table).order_by(R.position, R.id))]


# ---- applying them -------------------------------------------------------------------------------------------


def facts_of(conn: Connection, conv: Any) -> routing_rules.Facts:
    """The channel it opened on, its priority reasons, its tags and the language of the customer's latest words."""
    first = conn.execute(sa.select(M.channel).where(M.conversation_id == conv.id, M.direction == "in")
                         .order_by(M.at, M.id).limit(1)).scalar()
    texts = list(conn.execute(sa.select(M.text).where(M.conversation_id == conv.id, M.direction == "in")
                              .order_by(M.at.desc(), M.id.desc()).limit(3)).scalars())
    language = next((lang for t in texts if (lang := bot_rules.detect_language(t or ""))), None)
    tags = conn.execute(sa.select(conversation_tags.c.tag).where(conversation_tags.c.conversation_id == conv.id))
    return routing_rules.Facts(channel=first or conv.last_channel,
                               reasons=frozenset(r.get("rule") for r in conv.priority_reasons or []),
                               tags=frozenset(tags.scalars()), language=language)


def staffed_teams(conn: Connection) -> set[str]:
    """The teams with at least one available agent (a batch of handoffs reads it once: round robin in a team
    without one finds nobody, so it is not tried)."""
    return set(conn.execute(sa.select(TM.team_code).distinct().select_from(
        service_team_members.join(service_agents, service_agents.c.agent == TM.agent))
        .where(service_agents.c.available.is_(True))).scalars())


def route(conn: Connection, clock: Clock, conversation_id: str, *, pick_agent: bool,
          stored: list[dict[str, Any]] | None = None, row: Any = None, staffed: set[str] | None = None) -> str | None:
    """Send the conversation to the team of the first matching rule (when it has no team yet) and, with
    `pick_agent`, to the next available agent of its team by round robin (when nobody has it). Returns the team.
    `stored`: the rules (`list_rules`), when the caller has read them already; `row`: the conversation as the
    caller's own update left it (not merged), when it has it; `staffed`: `staffed_teams`, read in this transaction
    (a team not in it has nobody to pick: the conversation waits in its queue, as when the pick finds nobody)."""
    conv = current(conn, conversation_id) if row is None else row
    if conv.status not in rules.LIVE:
        return None
    team, rule_id = conv.team_id, None
    if team is None:
        stored = list_rules(conn) if stored is None else stored
        rule = routing_rules.first_match(stored, facts_of(conn, conv)) if stored else None  # no rule: no facts
        if rule is None:
            return None
        team, rule_id = rule["team"], rule["id"]
    assignee = conv.assignee
    if pick_agent and assignee is None and staffed is not None and team not in staffed:
        log.info("routing %s to %s without an agent: nobody available", conv.id, team)
    elif pick_agent and assignee is None:
        try:
            with conn.begin_nested():
                assignee = teams.assign(conn, clock, conv.id, team=team, assignee="auto", actor=ROUTER)
        except DomainError as exc:  # nobody available: it waits in the team's queue
            log.info("routing %s to %s without an agent: %s", conv.id, team, exc.code)
            assignee = None
    if team != conv.team_id and assignee is None:
        teams.assign(conn, clock, conv.id, team=team, assignee=None, actor=ROUTER)
    if rule_id is not None or assignee != conv.assignee:
        emit(conn, clock, "conversation.routed", {"conversation_id": conv.id, "team": team, "rule_id": rule_id,
                                                  "assignee": assignee})
    return team


def on_handoff(conn: Connection, clock: Clock, conversation_id: str,
               stored: list[dict[str, Any]] | None = None, row: Any = None, *, staffed: set[str] | None = None) -> None:
    """The bot handed off: a person is needed now."""
    route(conn, clock, conversation_id, pick_agent=True, stored=stored, row=row, staffed=staffed)


class RoutingHandler:
    """Routes each conversation that opens (the dispatcher's `conversation.opened`), before the bot's turn."""

    name = "service.routing"

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        opened = [e for e in events if e.type == "conversation.opened"]
        if not opened:
            return
        ruled = bool(list_rules(conn))  # read once: without rules, a conversation the bot has first stays as it is
        for event in opened:
            bot_first = self.settings.service_bot_enabled and event.data.get("channel") in BOT_CHANNELS
            if bot_first and not ruled:  # `route` would find no team and pick nobody
                continue
            try:
                with conn.begin_nested():
                    route(conn, self.clock, event.data["conversation_id"], pick_agent=not bot_first)
            except sa.exc.DBAPIError:
                raise
            except Exception:
                log.exception("routing failed for %s", event.data.get("conversation_id"))

    def close(self) -> None:
        """Nothing to release."""
