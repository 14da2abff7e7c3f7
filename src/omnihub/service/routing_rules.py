"""Routing rules, pure: which team a conversation goes to. A rule names conditions — the channel it came
through, a priority reason (late_order, complaint, …), a tag, the customer's language — and a team; every
condition it names must hold (one it leaves out matches anything). The first rule by position that matches wins,
so a catch-all rule (no condition) goes last."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONDITIONS = ("channel", "reason", "tag", "language")
REASONS = ("late_order", "pickup_expired", "refund_asked", "high_value", "complaint")  # rules.priority_reasons
LANGUAGES = ("es", "en")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # tags.py's form
MAX_RULES = 200


@dataclass(frozen=True)
class Facts:
    """What the rules read from a conversation."""

    channel: str | None
    reasons: frozenset[str]
    tags: frozenset[str]
    language: str | None


def check_rule(rule: Mapping[str, Any], channels: Sequence[str]) -> tuple[str, str] | None:
    """(field, why) when a rule cannot be stored, else None. The team's existence is the caller's to check."""
    if rule.get("channel") is not None and rule["channel"] not in channels:
        return "channel", f"channel is one of {', '.join(channels)}."
    if rule.get("reason") is not None and rule["reason"] not in REASONS:
        return "reason", f"reason is one of {', '.join(REASONS)}."
    if rule.get("tag") is not None and not TAG.match(str(rule["tag"])):
        return "tag", "A tag is 1-64 lower-case letters, digits, '-' or '_'."
    if rule.get("language") is not None and rule["language"] not in LANGUAGES:
        return "language", "language is es or en."
    return None


def matches(rule: Mapping[str, Any], facts: Facts) -> bool:
    return ((rule.get("channel") is None or rule["channel"] == facts.channel)
            and (rule.get("reason") is None or rule["reason"] in facts.reasons)
            and (rule.get("tag") is None or rule["tag"] in facts.tags)
            and (rule.get("language") is None or rule["language"] == facts.language))


def first_match(rules: Iterable[Mapping[str, Any]], facts: Facts) -> Mapping[str, Any] | None:
    """The first rule (in the order given: by position) whose conditions all hold."""
    return next((r for r in rules if matches(r, facts)), None)
