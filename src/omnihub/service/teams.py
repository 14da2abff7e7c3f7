"""Teams, agents' availability and assignment to a team, by hand or round robin.

An *agent* is a principal id, the same string `assignee` holds and `assignee=me` reads: an API key id (`key_…`)
for a key, `user:<id>` for a console user (console.web.Viewer.principal). Round robin: each automatic
assignment bumps the team's counter under the team row's lock and gives the conversation to the available
member assigned longest ago (the lowest counter value), so parallel assignments take turns instead of all
picking the same agent, and the conversation row's lock makes a conversation assigned once."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.events import emit
from omnihub.core.security import Role, api_keys
from omnihub.service import errors
from omnihub.service.models import conversations, service_agents, service_team_members, service_teams
from omnihub.service.service import writable

C = conversations.c
T = service_teams.c
TM = service_team_members.c
A = service_agents.c
CONSOLE_USER = re.compile(r"^user:[A-Za-z0-9_-]{1,40}$")


def check_agent(conn: Connection, agent: str, field: str = "agent") -> None:
    """An API key of an agent or admin (not revoked), or a console user id (`user:<id>`: the console owns those)."""
    if CONSOLE_USER.match(agent):
        return
    k = api_keys.c
    role = conn.execute(sa.select(k.role).where(k.id == agent, k.revoked_at.is_(None))).scalar()
    if role not in (Role.AGENT.value, Role.ADMIN.value):
        raise errors.unknown_agent(agent, field)


def _team(conn: Connection, code: str, field: str = "code") -> None:
    if conn.execute(sa.select(T.code).where(T.code == code)).first() is None:
        raise errors.team_not_found(code, field)


def create_team(conn: Connection, clock: Clock, code: str, name: str) -> None:
    if conn.execute(sa.select(T.code).where(T.code == code)).first() is not None:
        raise errors.team_exists(code)
    now = clock.now()
    conn.execute(service_teams.insert().values(code=code, name=name, rr_counter=0, created_at=now, updated_at=now))


def rename_team(conn: Connection, clock: Clock, code: str, name: str) -> None:
    if not conn.execute(service_teams.update().where(T.code == code).values(name=name, updated_at=clock.now())
                        ).rowcount:
        raise errors.team_not_found(code)


def delete_team(conn: Connection, clock: Clock, code: str) -> None:
    """The team goes; its conversations keep their assignee and leave the team's queue."""
    if not conn.execute(service_teams.delete().where(T.code == code)).rowcount:
        raise errors.team_not_found(code)
    conn.execute(service_team_members.delete().where(TM.team_code == code))
    conn.execute(conversations.update().where(C.team_id == code).values(team_id=None, updated_at=clock.now()))


def add_member(conn: Connection, clock: Clock, code: str, agent: str) -> bool:
    """True when added (False: a member already). A new member starts at the team's current counter: next in
    line after those never assigned, not owed a backlog of turns."""
    _team(conn, code)
    check_agent(conn, agent)
    if conn.execute(sa.select(TM.agent).where(TM.team_code == code, TM.agent == agent)).first() is not None:
        return False
    counter = conn.execute(sa.select(T.rr_counter).where(T.code == code)).scalar_one()
    conn.execute(service_team_members.insert().values(team_code=code, agent=agent, last_assigned=counter,
                                                      added_at=clock.now()))
    return True


def remove_member(conn: Connection, code: str, agent: str) -> None:
    _team(conn, code)
    if not conn.execute(service_team_members.delete().where(TM.team_code == code, TM.agent == agent)).rowcount:
        raise errors.member_not_found(code, agent)


def set_availability(conn: Connection, clock: Clock, agent: str, available: bool) -> None:
    check_agent(conn, agent)
    now = clock.now()
    if not conn.execute(service_agents.update().where(A.agent == agent).values(available=available, updated_at=now)
                        ).rowcount:
        conn.execute(service_agents.insert().values(agent=agent, available=available, updated_at=now))
    emit(conn, clock, "agent.availability_changed", {"agent": agent, "available": available})


def assign(conn: Connection, clock: Clock, conversation_id: str, *, team: str | None, assignee: str | None,
           actor: str, keep_team: bool = False) -> str | None:
    """Put a conversation in a team's queue, with an agent picked by hand, none (`assignee` None) or round robin
    (`assignee="auto"`). Returns the assignee. An automatic assignment of a conversation that already has an
    agent of that team leaves it as it is, so two racing requests assign it once."""
    conv = writable(conn, conversation_id)
    if keep_team:
        team = conv.team_id
    if team is not None:
        _team(conn, team, "team")
    if assignee == "auto":
        team = team or conv.team_id
        if team is None:
            raise errors.auto_needs_team()
        locked = conn.execute(sa.select(C.assignee, C.team_id).where(C.id == conv.id).with_for_update()).one()
        if locked.assignee is not None and locked.team_id == team:
            return str(locked.assignee)
        assignee = _next_agent(conn, team)
    now = clock.now()
    conn.execute(conversations.update().where(C.id == conv.id).values(
        assignee=assignee, team_id=team, updated_at=now))
    emit(conn, clock, "conversation.assigned", {"conversation_id": conv.id, "assignee": assignee, "team": team,
                                                "by": actor})
    return assignee


def _next_agent(conn: Connection, team: str) -> str:
    """The available member whose last turn is the oldest; the team row's lock (the counter's UPDATE) makes
    concurrent picks take turns."""
    conn.execute(service_teams.update().where(T.code == team).values(rr_counter=T.rr_counter + 1))
    counter = conn.execute(sa.select(T.rr_counter).where(T.code == team)).scalar_one()
    agent = conn.execute(
        sa.select(TM.agent).select_from(service_team_members.join(service_agents, A.agent == TM.agent))
        .where(TM.team_code == team, A.available.is_(True))
        .order_by(TM.last_assigned, TM.agent).limit(1)).scalar()
    if agent is None:
        raise errors.no_agent_available(team)
    conn.execute(service_team_members.update().where(TM.team_code == team, TM.agent == agent)
                 .values(last_assigned=counter))
    return str(agent)
