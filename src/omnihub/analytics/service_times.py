"""Service-desk times for the dashboard: first-response and resolution times of conversations, by the channel
they opened on or by team, read by DuckDB from the service room's `conversations` (the times it records:
`first_response_seconds`, `resolution_seconds`) and `conversation_messages` (the first inbound channel).

A conversation counts in the period it was opened ([start, end), UTC); merged-away ones are left out (their
messages live on in the one they joined). Times are seconds; the median and the 90th percentile interpolate
linearly between the two nearest values (DuckDB's `quantile_cont`). Read live (not from the periodic copy of
`OMNIHUB_ANALYTICS_MAX_AGE_SECONDS`), so a figure never lags a resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from omnihub.analytics.engine import Engine, engine_for
from omnihub.core.db import Database

NO_TEAM = "(none)"
DEFAULT_DAYS = 30


class TimeStats(BaseModel):
    count: int
    avg_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    breached: int


class ServiceGroup(BaseModel):
    key: str
    conversations: int
    first_response: TimeStats
    resolution: TimeStats


class ServiceTimesOut(BaseModel):
    start: datetime
    end: datetime
    by: Literal["channel", "team"]
    groups: list[ServiceGroup]
    total: ServiceGroup


def _naive(moment: datetime) -> datetime:
    return (moment.astimezone(UTC) if moment.tzinfo else moment).replace(tzinfo=None)


def _sql(e: Engine, key: str) -> str:
    return f"""
    WITH c AS (
      SELECT id, COALESCE(team_id, '{NO_TEAM}') AS team, first_response_seconds AS fr, resolution_seconds AS res,
             first_response_breached_at IS NOT NULL AS fr_late, resolution_breached_at IS NOT NULL AS res_late,
             {e.timestamp('created_at')} AS opened
      FROM {{op}}.conversations WHERE status <> 'merged'),
    ch AS (SELECT origin_conversation_id AS id, arg_min(channel, {e.timestamp('"at"')}) AS channel
           FROM {{op}}.conversation_messages WHERE direction = 'in' GROUP BY origin_conversation_id)
    SELECT {key} AS k, COUNT(*) AS n,
           COUNT(fr), AVG(fr), quantile_cont(fr, 0.5), quantile_cont(fr, 0.9), COUNT(*) FILTER (WHERE fr_late),
           COUNT(res), AVG(res), quantile_cont(res, 0.5), quantile_cont(res, 0.9), COUNT(*) FILTER (WHERE res_late)
    FROM c LEFT JOIN ch ON ch.id = c.id
    WHERE opened >= $start AND opened < $end
    GROUP BY {'ALL' if key != "'all'" else 'k'} ORDER BY k"""


def _stats(values: tuple[Any, ...]) -> dict[str, Any]:
    count, avg, median, p90, breached = values

    def r(x: Any) -> float | None:
        return None if x is None else round(float(x), 1)

    return {"count": int(count), "avg_seconds": r(avg), "median_seconds": r(median), "p90_seconds": r(p90),
            "breached": int(breached)}


def _group(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"key": row[0] if row[0] is not None else "(unknown)", "conversations": int(row[1]),
            "first_response": _stats(row[2:7]), "resolution": _stats(row[7:12])}


def service_times(db: Database | Engine | str, *, by: Literal["channel", "team"] = "channel",
                  start: datetime | None = None, end: datetime | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """First-response and resolution times per channel (or team) of the conversations opened in [start, end)."""
    e = engine_for(db)
    e._ensure()
    end = end or now or datetime.now(UTC)
    start = start or end - timedelta(days=DEFAULT_DAYS)
    params = {"start": _naive(start), "end": _naive(end)}
    rows = e.rows(_sql(e, "channel" if by == "channel" else "team"), params)
    total = e.rows(_sql(e, "'all'"), params)
    empty = ("all", 0, 0, None, None, None, 0, 0, None, None, None, 0)
    return {"start": start, "end": end, "by": by, "groups": [_group(r) for r in rows],
            "total": _group(total[0] if total else empty)}
