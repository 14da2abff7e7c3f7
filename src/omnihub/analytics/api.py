"""Analytics routes: thin. Who may read what:

- admin and marketer: everything;
- a channel key: its own channel only (summary, timeseries, cohorts, channels, NPS — forced to its channel;
  asking for another is a 403 `channel_not_allowed`); omnichannel, CLV and inventory span every channel: refused;
- an associate: its own location only (summary, timeseries, inventory, NPS — forced to its location); the rest
  is refused;
- an agent: no analytics (403 `role_not_allowed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from omnihub.analytics import queries, service_times
from omnihub.analytics.engine import Engine, engine_for
from omnihub.analytics.schemas import (
    ChannelsOut,
    ClvOut,
    CohortsOut,
    InventoryOut,
    NpsOut,
    OmnichannelOut,
    SummaryOut,
    TimeseriesOut,
)
from omnihub.core.errors import Forbidden
from omnihub.core.security import Principal, Role
from omnihub.deps import Context, requires

router = APIRouter(prefix="/analytics", tags=["analytics"])

CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
From = Query(None, alias="from", description="Start (inclusive), ISO 8601; default: 30 days before `to`.")
To = Query(None, alias="to", description="End (exclusive), ISO 8601; default: now.")
Channel = Query(None, pattern=CODE, description="Only this channel's orders.")
Location = Query(None, pattern=CODE, description="Only orders of this location (see docs/analytics.md).")
READERS = (Role.MARKETER, Role.CHANNEL, Role.ASSOCIATE)


def _scope(p: Principal, channel: str | None, location: str | None, *, channel_keys: bool, associates: bool
           ) -> tuple[str | None, str | None]:
    """The filters the caller may see: a channel key is held to its channel, an associate to its location."""
    if p.role is Role.CHANNEL:
        if not channel_keys:
            raise _refused(p)
        if channel is not None:
            p.ensure_channel(channel)
        return p.channel, location
    if p.role is Role.ASSOCIATE:
        if not associates:
            raise _refused(p)
        if location is not None:
            p.ensure_location(location)
        return channel, p.location
    return channel, location


def _engine(ctx: Context) -> Engine:
    return engine_for(ctx.db, max_age=ctx.settings.analytics_max_age_seconds)


def _refused(p: Principal) -> Forbidden:
    return Forbidden("role_not_allowed", f"A {p.role.value} key cannot read this report: it spans every "
                     "channel and location.", role=p.role.value)


@router.get("/summary", response_model=SummaryOut, response_model_by_alias=True)
def summary(start: datetime | None = From, end: datetime | None = To, channel: str | None = Channel,
            location: str | None = Location, currency: str | None = Query(None, pattern=r"^[A-Z]{3}$"),
            ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    channel, location = _scope(ctx.principal, channel, location, channel_keys=True, associates=True)
    return queries.summary(_engine(ctx), start=start, end=end, channel=channel, location=location, currency=currency,
                           now=ctx.clock.now())


@router.get("/timeseries", response_model=TimeseriesOut, response_model_by_alias=True)
def timeseries(metric: Literal["revenue", "orders", "units", "customers"] = "revenue",
               by: Literal["day", "week", "month", "year"] = "day",
               split: Literal["channel", "location"] | None = None, start: datetime | None = From,
               end: datetime | None = To, channel: str | None = Channel, location: str | None = Location,
               ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    channel, location = _scope(ctx.principal, channel, location, channel_keys=True, associates=True)
    return queries.timeseries(_engine(ctx), metric=metric, by=by, split=split, start=start, end=end, channel=channel,
                              location=location, now=ctx.clock.now())


@router.get("/cohorts", response_model=CohortsOut)
def cohorts(period: Literal["month", "year"] = "month", end: datetime | None = To,
            channel: str | None = Channel, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    channel, _ = _scope(ctx.principal, channel, None, channel_keys=True, associates=False)
    return queries.cohorts(_engine(ctx), period=period, end=end, channel=channel, now=ctx.clock.now())


@router.get("/channels", response_model=ChannelsOut, response_model_by_alias=True)
def channels(start: datetime | None = From, end: datetime | None = To, channel: str | None = Channel,
             ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    channel, _ = _scope(ctx.principal, channel, None, channel_keys=True, associates=False)
    return queries.channels(_engine(ctx), start=start, end=end, channel=channel, now=ctx.clock.now())


@router.get("/omnichannel", response_model=OmnichannelOut, response_model_by_alias=True)
def omnichannel(start: datetime | None = Query(None, alias="from", description="Default: all history."),
                end: datetime | None = To, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    _scope(ctx.principal, None, None, channel_keys=False, associates=False)
    return queries.omnichannel(_engine(ctx), start=start, end=end, now=ctx.clock.now())


@router.get("/clv", response_model=ClvOut)
def clv(top: int = Query(20, ge=1, le=500), end: datetime | None = To,
        ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    _scope(ctx.principal, None, None, channel_keys=False, associates=False)
    return queries.clv(_engine(ctx), top=top, end=end, now=ctx.clock.now())


@router.get("/inventory", response_model=InventoryOut, response_model_by_alias=True)
def inventory(start: datetime | None = From, end: datetime | None = To, location: str | None = Location,
              sku: str | None = Query(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
              limit: int = Query(500, ge=1, le=5000), ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    _, location = _scope(ctx.principal, None, location, channel_keys=False, associates=True)
    return queries.inventory(_engine(ctx), start=start, end=end, location=location, sku=sku, limit=limit,
                             now=ctx.clock.now())


@router.get("/nps", response_model=NpsOut, response_model_by_alias=True)
def nps(start: datetime | None = From, end: datetime | None = To, channel: str | None = Channel,
        location: str | None = Location, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    channel, location = _scope(ctx.principal, channel, location, channel_keys=True, associates=True)
    return queries.nps(_engine(ctx), start=start, end=end, channel=channel, location=location, now=ctx.clock.now())


# ---- the service desk's times (analytics/service_times.py) ------------------------------------------------------


@router.get("/service", response_model=service_times.ServiceTimesOut)
def service(start: datetime | None = From, end: datetime | None = To,
            by: Literal["channel", "team"] = Query("channel", description="Group by the channel a conversation "
                                                                          "opened on, or by team."),
            ctx: Context = Depends(requires(Role.MARKETER))) -> dict[str, Any]:
    """First-response and resolution times (count, average, median, p90, breaches) of the conversations opened in
    the period. Admins and marketers; not agents (their inbox is the conversations)."""
    return service_times.service_times(_engine(ctx), by=by, start=start, end=end, now=ctx.clock.now())
