"""Read side of the desk's organisation: SLA policies, teams and their members, agents' availability, tags,
the SLA block of a conversation, CSAT (the survey behind a link, the 360 view's section)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import as_utc
from omnihub.core.pagination import decode_cursor, page
from omnihub.customers import queries as customers_queries
from omnihub.service import errors, sla_rules
from omnihub.service.models import (
    conversation_tags,
    csat_surveys,
    service_agents,
    service_team_members,
    service_teams,
    sla_policies,
)

S = csat_surveys.c
T = service_teams.c
TM = service_team_members.c
A = service_agents.c


def _ts(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def policies(conn: Connection) -> list[dict[str, Any]]:
    """Every priority's targets: the stored one, else the default (`default: true`)."""
    stored = {r.priority: r for r in conn.execute(sa.select(sla_policies))}
    out = []
    for priority in sla_rules.PRIORITIES:
        row = stored.get(priority)
        policy = sla_rules.policy_for(priority, {priority: sla_rules.Policy(
            row.first_response_minutes, row.resolution_minutes, row.next_response_minutes)} if row else {})
        out.append({"priority": priority, "first_response_minutes": policy.first_response_minutes,
                    "resolution_minutes": policy.resolution_minutes, "next_response_minutes": policy.next_minutes,
                    "default": row is None, "updated_at": _ts(row.updated_at) if row else None})
    return out


def sla_of(row: Any) -> dict[str, Any]:
    """A conversation's SLA block (from its row)."""
    return {"first_response_due_at": _ts(row.first_response_due_at), "resolution_due_at": _ts(row.resolution_due_at),
            "first_response_breached_at": _ts(row.first_response_breached_at),
            "resolution_breached_at": _ts(row.resolution_breached_at),
            "first_response_seconds": row.first_response_seconds, "resolution_seconds": row.resolution_seconds,
            "next_response_due_at": _ts(row.next_response_due_at) if row.next_response_started_at else None,
            "next_response_breached_at": _ts(row.next_response_breached_at),
            "paused": row.paused_at is not None, "paused_seconds": row.paused_seconds or 0}


def tags_of(conn: Connection, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {cid: [] for cid in conversation_ids}
    if conversation_ids:
        tg = conversation_tags.c
        for r in conn.execute(sa.select(tg.conversation_id, tg.tag).where(
                tg.conversation_id.in_(list(conversation_ids))).order_by(tg.tag)):
            found[r.conversation_id].append(r.tag)
    return found


def _members(conn: Connection, codes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {c: [] for c in codes}
    if codes:
        for r in conn.execute(sa.select(TM.team_code, TM.agent, A.available)
                              .select_from(service_team_members.outerjoin(service_agents, A.agent == TM.agent))
                              .where(TM.team_code.in_(list(codes))).order_by(TM.agent)):
            found[r.team_code].append({"agent": r.agent, "available": bool(r.available)})
    return found


def _team_out(row: Any, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "members": members, "created_at": _ts(row.created_at),
            "updated_at": _ts(row.updated_at)}


def get_team(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(sa.select(service_teams).where(T.code == code)).first()
    if row is None:
        raise errors.team_not_found(code)
    return _team_out(row, _members(conn, [code])[code])


def list_teams(conn: Connection, *, limit: int, cursor: str | None) -> dict[str, Any]:
    query = sa.select(service_teams).order_by(T.code).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(T.code > str(after))
    rows = conn.execute(query).all()
    members = _members(conn, [r.code for r in rows])
    return page([_team_out(r, members[r.code]) for r in rows], limit, key=lambda x: x["code"])


def agents(conn: Connection, *, team: str | None = None) -> list[dict[str, Any]]:
    """Agents with an availability set or a team, with their teams."""
    teams: dict[str, list[str]] = {}
    for r in conn.execute(sa.select(TM.agent, TM.team_code).order_by(TM.team_code)):
        teams.setdefault(r.agent, []).append(r.team_code)
    state = {r.agent: r for r in conn.execute(sa.select(service_agents))}
    names = sorted(set(teams) | set(state))
    if team is not None:
        names = [n for n in names if team in teams.get(n, [])]
    return [{"agent": n, "available": bool(state[n].available) if n in state else False,
             "updated_at": _ts(state[n].updated_at) if n in state else None, "teams": teams.get(n, [])}
            for n in names]


def teams_of(conn: Connection, agent: str) -> list[str]:
    """The codes of the teams an agent belongs to (the inbox's "My teams" queue)."""
    return list(conn.execute(sa.select(TM.team_code).where(TM.agent == agent).order_by(TM.team_code)).scalars())


def agent(conn: Connection, name: str) -> dict[str, Any]:
    found = [a for a in agents(conn) if a["agent"] == name]
    return found[0] if found else {"agent": name, "available": False, "updated_at": None, "teams": []}


def survey(conn: Connection, token: str) -> dict[str, Any]:
    """What the answer page shows: whether it is answered (not who the customer is)."""
    row = conn.execute(sa.select(csat_surveys).where(S.token == token)).first()
    if row is None:
        raise errors.survey_not_found()
    return {"scale": [1, 2, 3, 4, 5], "asked_at": _ts(row.asked_at), "answered": row.answered_at is not None,
            "score": row.score, "answered_at": _ts(row.answered_at)}


def latest_survey_token(conversation: sa.ColumnElement[str]) -> sa.ScalarSelect[str]:
    """The token of a conversation's latest survey, as a subquery (the thread view joins it)."""
    return (sa.select(S.token).where(S.conversation_id == conversation).order_by(S.asked_at.desc()).limit(1)
            .scalar_subquery())


def csat_of_conversation(conn: Connection, conversation_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(csat_surveys).where(S.conversation_id == conversation_id)
                       .order_by(S.asked_at.desc()).limit(1)).first()
    return csat_out(row) if row is not None else None


def csat_out(row: Any) -> dict[str, Any]:
    """A conversation's survey as its view shows it (from a `csat_surveys` row, or anything with its fields)."""
    return {"asked_at": _ts(row.asked_at), "channel": row.channel, "score": row.score,
            "comment": row.comment, "answered_at": _ts(row.answered_at), "via": row.answered_via}


# The person's answered surveys, newest first, in one read: the 360 view passes the profile's resolved id.
_ANSWERED_BY_PERSON = sa.select(S.score, S.answered_at, S.conversation_id, S.answered_via, S.comment).where(
    S.customer_id.in_(customers_queries.person_ids_select(sa.bindparam("b_cid", type_=sa.String()))),
    S.answered_at.is_not(None)).order_by(S.answered_at.desc())


def _csat_from(rows: list[Any]) -> dict[str, Any] | None:
    """The 360 view's `csat` section: the person's answered surveys (count, average) and the latest one (the
    surveys under ids merged into the profile count too)."""
    if not rows:
        return None
    last = rows[0]
    return {"answered": len(rows), "average": round(sum(r.score for r in rows) / len(rows), 2),
            "last": {"score": last.score, "answered_at": _ts(last.answered_at),
                     "conversation_id": last.conversation_id, "via": last.answered_via, "comment": last.comment}}


# The 360 view's `csat` section, read with the rest of the view (customers.queries.ReadSection).
CSAT_SECTION = customers_queries.ReadSection((_ANSWERED_BY_PERSON,), lambda _conn, found: _csat_from(found[0]))
