"""Routes of the desk's organisation (mounted by service/api.py): SLA policies, teams and members, agents'
availability, conversation tags, and the public CSAT answer endpoint. Thin: parse, check scope, call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, requires
from omnihub.service import csat, desk_queries, errors, routing, service, sla, tags, teams
from omnihub.service.desk_schemas import (
    AgentOut,
    AgentsOut,
    AvailabilityIn,
    CsatIn,
    PoliciesOut,
    PolicyIn,
    PolicyOut,
    Priority,
    RoutingRuleIn,
    RoutingRuleOut,
    RoutingRulesOut,
    SurveyOut,
    TagsIn,
    TagsOut,
    TeamIn,
    TeamOut,
    TeamRename,
)

router = APIRouter(tags=["service"])
AGENTS = (Role.AGENT,)
TeamCode = Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
AgentId = Path(max_length=200, description="An API key id (key_…), user:<console user id>, or `me`.")
Token = Path(pattern=r"^[0-9a-f]{32}$")


# ---- SLA policies -------------------------------------------------------------------------------------------


@router.get("/sla-policies", response_model=PoliciesOut)
def list_policies(ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return {"items": desk_queries.policies(conn)}


@router.put("/sla-policies/{priority}", response_model=PolicyOut)
def put_policy(body: PolicyIn, response: Response, priority: Priority,
               ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        created = sla.put_policy(conn, ctx.clock, priority, body.first_response_minutes, body.resolution_minutes,
                                 body.next_response_minutes)
        response.status_code = 201 if created else 200
        return next(p for p in desk_queries.policies(conn) if p["priority"] == priority)


# ---- teams ----------------------------------------------------------------------------------------------------


@router.get("/teams", response_model=Page[TeamOut])
def list_teams(limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT), cursor: str | None = Query(None, max_length=500),
               ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return desk_queries.list_teams(conn, limit=limit, cursor=cursor)


@router.post("/teams", status_code=201, response_model=TeamOut)
def create_team(body: TeamIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        teams.create_team(conn, ctx.clock, body.code, body.name)
        return desk_queries.get_team(conn, body.code)


@router.get("/teams/{code}", response_model=TeamOut)
def get_team(code: str = TeamCode, ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return desk_queries.get_team(conn, code)


@router.put("/teams/{code}", response_model=TeamOut)
def rename_team(body: TeamRename, code: str = TeamCode, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        teams.rename_team(conn, ctx.clock, code, body.name)
        return desk_queries.get_team(conn, code)


@router.delete("/teams/{code}", status_code=204)
def delete_team(code: str = TeamCode, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        teams.delete_team(conn, ctx.clock, code)
    return Response(status_code=204)


@router.put("/teams/{code}/members/{agent}", response_model=TeamOut)
def add_member(response: Response, code: str = TeamCode, agent: str = AgentId,
               ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        response.status_code = 201 if teams.add_member(conn, ctx.clock, code, agent) else 200
        return desk_queries.get_team(conn, code)


@router.delete("/teams/{code}/members/{agent}", status_code=204)
def remove_member(code: str = TeamCode, agent: str = AgentId, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        teams.remove_member(conn, code, agent)
    return Response(status_code=204)


# ---- routing rules (service/routing.py) -----------------------------------------------------------------------

RuleId = Path(max_length=40)


def _rule(conn: Any, rule_id: str) -> dict[str, Any]:
    found = next((r for r in routing.list_rules(conn) if r["id"] == rule_id), None)
    if found is None:
        raise errors.routing_rule_not_found(rule_id)
    return found


@router.get("/routing-rules", response_model=RoutingRulesOut)
def list_routing_rules(ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return {"items": routing.list_rules(conn)}


@router.post("/routing-rules", status_code=201, response_model=RoutingRuleOut)
def create_routing_rule(body: RoutingRuleIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return _rule(conn, routing.create_rule(conn, ctx.clock, body.model_dump()))


@router.put("/routing-rules/{rule_id}", response_model=RoutingRuleOut)
def put_routing_rule(body: RoutingRuleIn, rule_id: str = RuleId, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        routing.replace_rule(conn, ctx.clock, rule_id, body.model_dump())
        return _rule(conn, rule_id)


@router.delete("/routing-rules/{rule_id}", status_code=204)
def delete_routing_rule(rule_id: str = RuleId, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        routing.delete_rule(conn, ctx.clock, rule_id)
    return Response(status_code=204)


# ---- agents -------------------------------------------------------------------------------------------------


@router.get("/agents", response_model=AgentsOut)
def list_agents(team: str | None = Query(None, max_length=64),
                ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return {"items": desk_queries.agents(conn, team=team)}


@router.put("/agents/{agent}/availability", response_model=AgentOut)
def put_availability(body: AvailabilityIn, agent: str = AgentId,
                     ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    """An agent sets their own (`me` or their own id); an admin sets anyone's."""
    me = ctx.principal.key_id
    agent = me if agent == "me" else agent
    if agent != me and not ctx.principal.is_admin:
        raise errors.not_your_availability(agent)
    with ctx.db.transaction() as conn:
        teams.set_availability(conn, ctx.clock, agent, body.available)
        return desk_queries.agent(conn, agent)


# ---- tags ---------------------------------------------------------------------------------------------------


@router.post("/conversations/{conversation_id}/tags", response_model=TagsOut)
def change_tags(body: TagsIn, conversation_id: str = Path(max_length=40),
                ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        now = tags.change_tags(conn, ctx.clock, conversation_id, add=body.add, remove=body.remove,
                               actor=ctx.principal.key_id)
        return {"conversation_id": service.current(conn, conversation_id).id, "tags": now}


# ---- CSAT (public: the token in the link is the credential) ---------------------------------------------------


@router.get("/csat/{token}", response_model=SurveyOut)
def get_survey(request: Request, token: str = Token) -> dict[str, Any]:
    with request.app.state.db.read() as conn:
        return desk_queries.survey(conn, token)


@router.post("/csat/{token}", response_model=SurveyOut)
def answer_survey(body: CsatIn, request: Request, token: str = Token) -> dict[str, Any]:
    state = request.app.state
    with state.db.transaction() as conn:
        csat.answer(conn, state.clock, token, body.score, body.comment, via="link")
        return desk_queries.survey(conn, token)
