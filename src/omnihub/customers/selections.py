"""Read-only selectables over the customers room's tables, for other rooms to compose into their own SQL (the
automation room compiles segment rules into one query with them). Each returns a SELECT of customer ids or an
aggregate subquery keyed by `customer_id`; none writes, and they mean what the 360 view means (a tag is live when
its decayed score clears the same floor; a consent is the latest choice per purpose)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from omnihub.customers import rules
from omnihub.customers.models import (
    customer_consents,
    customer_events,
    customer_identities,
    customer_stats,
    customer_tags,
    customers,
)

C, ST, TG, CO, ID, E = (customers.c, customer_stats.c, customer_tags.c, customer_consents.c, customer_identities.c,
                       customer_events.c)


def active_profiles() -> sa.Select:
    """Profiles that can be reached (not merged away, not erased): `id`."""
    return sa.select(C.id).where(C.status == "active")


def profile_id_column() -> sa.ColumnElement:
    """The profile id column `active_profiles()` selects, to correlate the other selectables with."""
    return C.id


def stats_per_profile(only: Sequence[str] | None = None) -> sa.Subquery:
    """Per profile, over its channels: orders_count, lifetime_value, channels_count (channels with any activity,
    as the 360 view lists them), last_order_at. `only`: just these profiles (the planner cannot push an IN list
    through the grouping by itself)."""
    query = sa.select(ST.customer_id.label("customer_id"),
                      sa.func.sum(ST.orders_count).label("orders_count"),
                      sa.func.sum(ST.revenue).label("lifetime_value"),
                      sa.func.count(sa.distinct(ST.channel)).label("channels_count"),
                      sa.func.max(ST.last_order_at).label("last_order_at"))
    if only is not None:
        query = query.where(ST.customer_id.in_(only))
    return query.group_by(ST.customer_id).subquery("customer_stats_agg")


def with_channel(channel: str) -> sa.Select:
    """Profiles with activity (events or orders) in a channel."""
    return sa.select(ST.customer_id).where(ST.channel == channel)


def with_tag(tag: str, now: datetime) -> sa.Select:
    """Profiles carrying a tag now: a manual one, or a behavioural one whose decayed score clears MIN_TAG_SCORE.
    The stored scores are expressed at a fixed epoch, so the floor is moved to the epoch instead (no per-row math)."""
    tags = TG
    floor = rules.MIN_TAG_SCORE * math.pow(2.0, (now - rules.TAG_EPOCH).total_seconds()
                                           / (rules.TAG_HALF_LIFE_DAYS * 86400))
    manual = sa.select(tags.customer_id).where(tags.tag == tag, tags.source == "manual")
    auto = (sa.select(tags.customer_id).where(tags.tag == tag, tags.source != "manual")
            .group_by(tags.customer_id).having(sa.func.sum(tags.score) >= floor))
    return sa.union(manual, auto).subquery().select()


def with_consent(purpose: str) -> sa.Select:
    """Profiles whose latest choice for a purpose (by when it was made, then by arrival) is a grant."""
    later = customer_consents.alias("later")
    return sa.select(CO.customer_id).where(CO.purpose == purpose, CO.granted.is_(True), ~sa.exists().where(
        later.c.customer_id == CO.customer_id, later.c.purpose == CO.purpose,
        sa.or_(later.c.at > CO.at, sa.and_(later.c.at == CO.at, later.c.id > CO.id))))


def with_identity(kind: str) -> sa.Select:
    """Profiles holding an identifier of a kind (`email`, `phone`)."""
    return sa.select(ID.customer_id).where(ID.kind == kind)


def with_latest_phone_like(prefixes: Sequence[str]) -> sa.Select:
    """Profiles whose latest phone number (E.164, as `contacts` picks it) starts with one of the prefixes: set-wise
    (phones with the prefix that no later phone of the profile replaced: an anti-join), not one lookup per
    profile."""
    later = customer_identities.alias("later_phone")
    return sa.select(ID.customer_id).where(
        ID.kind == "phone", sa.or_(*(ID.value.like(f"{p}%") for p in prefixes)) if prefixes else sa.false(),
        ~sa.exists().where(later.c.customer_id == ID.customer_id, later.c.kind == "phone", later.c.id > ID.id))


def visits(channel: str | None = None, since: datetime | None = None) -> sa.Select:
    """Profiles with a `store_visit` on their timeline (in one store, since an instant)."""
    query = sa.select(E.customer_id).where(E.type == "store_visit")
    if channel is not None:
        query = query.where(E.channel == channel)
    if since is not None:
        query = query.where(E.occurred_at >= since)
    return query


def last_visit_per_profile(only: Sequence[str] | None = None) -> sa.Subquery:
    """Per profile, the instant of its latest `store_visit`: `customer_id`, `last_visit_at`."""
    query = (sa.select(E.customer_id.label("customer_id"), sa.func.max(E.occurred_at).label("last_visit_at"))
             .where(E.type == "store_visit"))
    if only is not None:
        query = query.where(E.customer_id.in_(only))
    return query.group_by(E.customer_id).subquery("last_store_visit")
