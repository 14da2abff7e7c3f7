"""SLA rules, pure: the targets per priority, the due times of a conversation, which targets it has breached.

A conversation's SLA cycle starts when it opens (or reopens). First response: due `first_response_minutes`
after the conversation opened, met by the first reply of a person (a bot's answer is not a response). Next
response: once a person has replied, each customer message that follows starts a wait, due
`next_response_minutes` after that message and met by the next reply of a person. Resolution: due
`resolution_minutes` after the cycle started, met by resolving it.

The clock is **paused while the conversation is `pending`** (waiting on the customer): every due time still
unmet shifts by the time spent pending since its wait began, and nothing breaches while paused. Snoozed and open
conversations run the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PRIORITIES = ("normal", "high", "urgent")
TARGETS = ("first_response", "next_response", "resolution")
LIVE = ("open", "pending", "snoozed")
PAUSED = "pending"  # the status that stops the clock
# Minutes: (first response, resolution, next response). Chosen like common help-desk defaults: an urgent case
# (two kinds of reasons, e.g. a late order and a complaint) is answered within half an hour and closed the same
# morning; each later answer is owed as quickly as the first.
DEFAULT_POLICIES: dict[str, tuple[int, int, int]] = {"urgent": (30, 240, 30), "high": (60, 480, 60),
                                                      "normal": (240, 1440, 240)}
DEFAULT_SOON_MINUTES = 30
MAX_MINUTES = 60 * 24 * 90


@dataclass(frozen=True)
class Policy:
    first_response_minutes: int
    resolution_minutes: int
    next_response_minutes: int | None = None  # None: the same as the first response

    @property
    def next_minutes(self) -> int:
        return self.next_response_minutes or self.first_response_minutes


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
    next_response_started_at: datetime | None = None  # the customer message a person still owes an answer to
    next_response_breached_at: datetime | None = None
    paused_at: datetime | None = None  # pending since (the clock stopped then)
    paused_seconds: int = 0  # time spent pending in all (pauses already ended), since the opening
    resolution_paused_base: int = 0  # paused_seconds when the resolution cycle started
    next_response_paused_base: int = 0  # paused_seconds when the awaited customer message came


@dataclass(frozen=True)
class Due:
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    first_response_seconds: int | None
    resolution_seconds: int | None
    check_at: datetime | None  # the earliest target still unmet and not flagged as breached (the job looks then)
    next_response_due_at: datetime | None = None


def policy_for(priority: str, stored: dict[str, Policy]) -> Policy:
    if priority in stored:
        return stored[priority]
    first, resolution, following = DEFAULT_POLICIES.get(priority, DEFAULT_POLICIES["normal"])
    return Policy(first, resolution, following)


def check_policy(first_response_minutes: int, resolution_minutes: int,
                 next_response_minutes: int | None = None) -> str | None:
    """Why a policy is refused, or None."""
    targets = [first_response_minutes, resolution_minutes]
    if next_response_minutes is not None:
        targets.append(next_response_minutes)
    if not all(1 <= t <= MAX_MINUTES for t in targets):
        return f"Targets are whole minutes between 1 and {MAX_MINUTES}."
    if first_response_minutes > resolution_minutes:
        return "The first response cannot be due after the resolution."
    if next_response_minutes is not None and next_response_minutes > resolution_minutes:
        return "The next response cannot be due after the resolution."
    return None


def pause(status: str, paused_at: datetime | None, paused_seconds: int, now: datetime
          ) -> tuple[datetime | None, int]:
    """The pause after a status change: entering `pending` stops the clock at `now`; leaving it adds the time spent
    to `paused_seconds`. (paused_at, paused_seconds)."""
    if status == PAUSED:
        return (paused_at or now), paused_seconds
    if paused_at is not None:
        return None, paused_seconds + max(0, int((now - paused_at).total_seconds()))
    return None, paused_seconds


def _seconds(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else max(0, int((end - start).total_seconds()))


def due(c: Clocked, policy: Policy) -> Due:
    """Due times shifted by the pauses since each wait began (a pause still running is added when it ends)."""
    first_due = c.created_at + timedelta(minutes=policy.first_response_minutes, seconds=c.paused_seconds)
    resolution_due = c.started_at + timedelta(minutes=policy.resolution_minutes,
                                              seconds=c.paused_seconds - c.resolution_paused_base)
    next_due = (c.next_response_started_at + timedelta(minutes=policy.next_minutes,
                                                       seconds=c.paused_seconds - c.next_response_paused_base)
                if c.next_response_started_at is not None else None)
    waiting = []
    if c.status in LIVE and c.paused_at is None:  # paused: nothing can breach until the customer writes
        if c.first_response_at is None and c.first_response_breached_at is None:
            waiting.append(first_due)
        if next_due is not None and c.next_response_breached_at is None:
            waiting.append(next_due)
        if c.resolution_breached_at is None:
            waiting.append(resolution_due)
    return Due(first_due, resolution_due, _seconds(c.created_at, c.first_response_at),
               _seconds(c.started_at, c.resolved_at) if c.status == "resolved" else None,
               min(waiting) if waiting else None, next_due)


def breaches(c: Clocked, d: Due, now: datetime) -> list[str]:
    """The targets missed by `now` and not flagged yet (each is flagged, and announced, once per wait or cycle)."""
    if c.status not in LIVE or c.paused_at is not None:
        return []
    found = []
    if (c.first_response_at is None and c.first_response_breached_at is None and d.first_response_due_at
            and d.first_response_due_at <= now):
        found.append("first_response")
    if (c.next_response_started_at is not None and c.next_response_breached_at is None and d.next_response_due_at
            and d.next_response_due_at <= now):
        found.append("next_response")
    if c.resolution_breached_at is None and d.resolution_due_at and d.resolution_due_at <= now:
        found.append("resolution")
    return found
