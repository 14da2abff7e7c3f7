"""SLA rules, pure: the targets per priority, the due times of a conversation, which targets it has breached.

A conversation's SLA cycle starts when it opens (or reopens). First response: due `first_response_minutes`
after the conversation opened, met by the first agent reply. Resolution: due `resolution_minutes` after the
cycle started, met by resolving it. The clock runs whatever the status (open, pending, snoozed): a waiting
customer does not stop it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PRIORITIES = ("normal", "high", "urgent")
TARGETS = ("first_response", "resolution")
LIVE = ("open", "pending", "snoozed")
# Minutes: (first response, resolution). Chosen like common help-desk defaults: an urgent case (two kinds of
# reasons, e.g. a late order and a complaint) is answered within half an hour and closed the same morning.
DEFAULT_POLICIES: dict[str, tuple[int, int]] = {"urgent": (30, 240), "high": (60, 480), "normal": (240, 1440)}
DEFAULT_SOON_MINUTES = 30
MAX_MINUTES = 60 * 24 * 90


@dataclass(frozen=True)
class Policy:
    first_response_minutes: int
    resolution_minutes: int


@dataclass(frozen=True)
class Clocked:
    """What the SLA reads from a conversation."""

    status: str
    priority: str
    created_at: datetime
    started_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None


@dataclass(frozen=True)
class Due:
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_seconds: int | None
    resolution_seconds: int | None
    check_at: datetime | None  # the earliest target still unmet and not flagged as breached (the job looks then)


def policy_for(priority: str, stored: dict[str, Policy]) -> Policy:
    if priority in stored:
        return stored[priority]
    first, resolution = DEFAULT_POLICIES.get(priority, DEFAULT_POLICIES["normal"])
    return Policy(first, resolution)


def check_policy(first_response_minutes: int, resolution_minutes: int) -> str | None:
    """Why a policy is refused, or None."""
    if not 1 <= first_response_minutes <= MAX_MINUTES or not 1 <= resolution_minutes <= MAX_MINUTES:
        return f"Targets are whole minutes between 1 and {MAX_MINUTES}."
    if first_response_minutes > resolution_minutes:
        return "The first response cannot be due after the resolution."
    return None


def _seconds(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else max(0, int((end - start).total_seconds()))


def due(c: Clocked, policy: Policy) -> Due:
    first_due = c.created_at + timedelta(minutes=policy.first_response_minutes)
    resolution_due = c.started_at + timedelta(minutes=policy.resolution_minutes)
    pending = []
    if c.first_response_at is None and c.first_response_breached_at is None and c.status in LIVE:
        pending.append(first_due)
    if c.status in LIVE and c.resolution_breached_at is None:
        pending.append(resolution_due)
    return Due(first_due, resolution_due, _seconds(c.created_at, c.first_response_at),
               _seconds(c.started_at, c.resolved_at) if c.status == "resolved" else None,
               min(pending) if pending else None)


def breaches(c: Clocked, d: Due, now: datetime) -> list[str]:
    """The targets missed by `now` and not flagged yet (each is flagged, and announced, once per cycle)."""
    if c.status not in LIVE:
        return []
    found = []
    if (c.first_response_at is None and c.first_response_breached_at is None and d.first_response_due_at
            and d.first_response_due_at <= now):
        found.append("first_response")
    if c.resolution_breached_at is None and d.resolution_due_at and d.resolution_due_at <= now:
        found.append("resolution")
    return found
