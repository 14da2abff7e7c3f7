"""I/O shapes of the desk's organisation: SLA policies, teams, agents' availability, tags, CSAT answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from omnihub.core.schemas import Code, Strict

Priority = Literal["normal", "high", "urgent"]


class PolicyIn(Strict):
    first_response_minutes: int = Field(ge=1, le=129_600, description="Minutes from opening to the first reply.")
    resolution_minutes: int = Field(ge=1, le=129_600, description="Minutes from (re)opening to resolution.")
    next_response_minutes: int | None = Field(None, ge=1, le=129_600, description=(
        "Minutes from each customer message after a person's reply to the next reply (default: the priority's)."))


class PolicyOut(BaseModel):
    priority: str
    first_response_minutes: int
    resolution_minutes: int
    next_response_minutes: int
    default: bool = Field(description="True while the priority uses the built-in default.")
    updated_at: datetime | None


class PoliciesOut(BaseModel):
    items: list[PolicyOut]


class TeamIn(Strict):
    code: Code
    name: str = Field(min_length=1, max_length=200)


class TeamRename(Strict):
    name: str = Field(min_length=1, max_length=200)


class MemberOut(BaseModel):
    agent: str
    available: bool


class TeamOut(BaseModel):
    code: str
    name: str
    members: list[MemberOut]
    created_at: datetime
    updated_at: datetime


class AvailabilityIn(Strict):
    available: bool


class AgentOut(BaseModel):
    agent: str = Field(description="The principal id: an API key id (key_…) or user:<console user id>.")
    available: bool
    updated_at: datetime | None
    teams: list[str]


class AgentsOut(BaseModel):
    items: list[AgentOut]


class TagsIn(Strict):
    add: list[Code] = Field(default_factory=list, max_length=20)
    remove: list[Code] = Field(default_factory=list, max_length=20)


class TagsOut(BaseModel):
    conversation_id: str
    tags: list[str]


class CsatIn(Strict):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class SurveyOut(BaseModel):
    scale: list[int]
    asked_at: datetime
    answered: bool
    score: int | None
    answered_at: datetime | None


class RoutingRuleIn(Strict):
    """Conditions left out (or null) match anything; all given must hold. The first matching rule wins."""

    channel: str | None = Field(None, max_length=16, description="The channel the conversation opened on.")
    reason: str | None = Field(None, max_length=40, description="A priority reason: late_order, complaint, …")
    tag: str | None = Field(None, max_length=64)
    language: str | None = Field(None, max_length=8, description="es or en: the customer's words.")
    team: str = Field(max_length=64, description="The team's code.")
    position: int | None = Field(None, ge=1, le=1000, description="1 = first; default: last.")


class RoutingRuleOut(BaseModel):
    id: str
    position: int
    channel: str | None
    reason: str | None
    tag: str | None
    language: str | None
    team: str
    created_at: datetime
    updated_at: datetime


class RoutingRulesOut(BaseModel):
    items: list[RoutingRuleOut]
