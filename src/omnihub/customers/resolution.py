"""Identity resolution: hints become identities, identities find, create or merge profiles (batch-oriented: a
batch is normalised in Python, resolved with a few set-based queries, planned by the pure rules and written
with bulk statements)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit, emit_many
from omnihub.customers import errors, rules
from omnihub.customers.merging import merge_profiles
from omnihub.customers.models import customer_identities, customers, merge_suggestions
from omnihub.customers.queries import remember_locked_active
from omnihub.customers.rules import Identity, ProfileFacts
from omnihub.customers.writes import (
    RetryResolution,
    blocked,
    blocked_and_known,
    channel_regions,
    insert_into,
    known_keys,
    lock_profiles,
    profile_facts,
    write_rows,
)


@dataclass
class Resolution:
    customer_ids: list[str | None]
    created: list[str] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    suggestions: int = 0


def resolve_identities(conn: Connection, clock: Clock, items: list[list[Identity]], channels: Sequence[str | None],
                       *, actor: str | None = None, known: dict[str, tuple[str, bool]] | None = None) -> Resolution:
    """Attach each item's identities to one profile: existing, new, or merged (rules.plan decides).
    `known`: the profiles the items' keys belong to, when the caller has read them."""
    keys = {i.key for ids in items for i in ids}
    if known is None:
        known = known_keys(conn, keys)
    facts: dict[str, ProfileFacts] = {}
    plan = rules.plan(items, known, facts)
    while plan.missing_facts:
        facts.update(profile_facts(conn, plan.missing_facts))
        plan = rules.plan(items, known, facts)

    existing = {r for r in plan.assignments if r is not None and not r.startswith(rules.NEW)}
    existing |= {s for m in plan.merges for s in (m.survivor, m.merged)}
    statuses = lock_profiles(conn, existing, exclusive=bool(plan.merges))
    if any(statuses.get(cid) != "active" for cid in existing):
        raise RetryResolution()  # merged or erased since we read its identities

    now = clock.now()
    real: dict[str, str] = {ref: new_id("cus") for ref in plan.new_profiles}
    if real:
        write_rows(conn, customers, [
            {"id": cid, "name": None, "status": "active", "created_at": now, "updated_at": now}
            for cid in real.values()
        ])

    remember_locked_active(conn, [*existing, *real.values()])

    def final(ref: str) -> str:
        return real.get(ref, ref)

    result = Resolution([final(r) if r is not None else None for r in plan.assignments], created=list(real.values()))
    for step in plan.merges:
        result.merges.append(merge_profiles(conn, clock, step.survivor, step.merged, reason="auto", actor=actor,
                                            evidence=step.evidence))

    channel_of: dict[str, str | None] = {}
    for ids, channel in zip(items, channels, strict=True):
        for identity in ids:
            channel_of.setdefault(identity.key, channel)
    if plan.new_identities:
        rows = sorted(
            ({"key": i.key, "customer_id": final(ref), "owner_id": final(ref), "kind": i.kind,
              "namespace": i.namespace, "value": i.value, "verified": i.verified, "channel": channel_of.get(i.key),
              "created_at": now} for i, ref in plan.new_identities),
            key=lambda r: r["key"],
        )
        write_rows(conn, customer_identities, rows)
    if plan.verify:
        conn.execute(customer_identities.update().where(customer_identities.c.key.in_(plan.verify))
                     .values(verified=True))
    if plan.suggestions:
        stmt = insert_into(conn, merge_suggestions).on_conflict_do_nothing(index_elements=["customer_a", "customer_b"])
        rows = []
        for a, b, reason, evidence in plan.suggestions:
            fa, fb = sorted((final(a), final(b)))
            rows.append({"id": new_id("sug"), "customer_a": fa, "customer_b": fb, "reason": reason,
                         "evidence": evidence, "status": "open", "created_at": now})
        conn.execute(stmt, rows)
        result.suggestions = len(rows)

    created = set(real.values())
    gained = sorted({final(ref) for _, ref in plan.new_identities} - created)
    emit_many(conn, clock, [  # one insert however many: a batch can create hundreds of profiles
        *(("customer.created", {"customer_id": cid}) for cid in real.values()),
        *(("customer.updated", {"customer_id": cid, "changed": ["identities"]}) for cid in gained),
    ])
    return result


def usable_identities(conn: Connection, parsed: list[list[tuple[Identity, str]]], *, strict: bool,
                      blocks: dict[str, str] | None = None) -> list[list[Identity]]:
    """Drop identifiers that must never identify anyone. `strict` (explicit creates) makes them an error.
    `blocks`: the block list's entries for these keys, when the caller has read them."""
    if blocks is None:
        blocks = blocked(conn, (i.key for ids in parsed for i, _ in ids))
    usable = []
    for ids in parsed:
        keep = []
        for identity, where in ids:
            reason = "blocked" if rules.is_default_blocked(identity) else blocks.get(identity.key)
            if reason is None:
                keep.append(identity)
            elif strict and reason == "erased":
                raise errors.identity_erased(where)
            elif strict:
                raise errors.identity_blocked(where, identity.kind)
        usable.append(keep)
    return usable


def parse_with_fields(hints: Any, region: str | None, field_: str) -> list[tuple[Identity, str]]:
    identities = rules.parse_identities(hints, region, field_)
    return [(i, field_) for i in identities]


def create_customer(conn: Connection, clock: Clock, *, name: str | None, identities: Any, channel: str | None,
                    actor: str | None = None, channel_country: str | None = None) -> tuple[str, bool]:
    """Get-or-create: the same person sent twice (or by two channels at once) is one profile.
    Returns (customer id, created). `channel_country`: the channel's country when the caller has read the
    channel already (it decides how local phone numbers are read)."""
    region = channel_country
    if region is None and channel:
        region = channel_regions(conn, [channel], lambda _: "channel")[channel]
    parsed = [_parse_identities_for_create(identities, region)]
    blocks, known = blocked_and_known(conn, (i.key for i, _ in parsed[0]))
    items = usable_identities(conn, parsed, strict=True, blocks=blocks)
    if not items[0]:
        raise errors.identity_required("identities")
    resolution = resolve_identities(conn, clock, items, [channel], actor=actor, known=known)
    cid = resolution.customer_ids[0]
    assert cid is not None
    if name:
        changed = conn.execute(customers.update().where(customers.c.id == cid, customers.c.name.is_(None))
                               .values(name=name, updated_at=clock.now())).rowcount
        if changed and cid not in resolution.created:
            emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["name"]})
    return cid, cid in resolution.created


def create_customers(conn: Connection, clock: Clock, people: Sequence[tuple[str | None, Any]], *, channel: str | None,
                     actor: str | None = None) -> list[str]:
    """`create_customer` for many people at once (imports): one identity resolution for the whole batch, so a
    thousand profiles are a few statements, not a few thousand. `people`: (name, identities) each; returns
    their customer ids in order (get-or-create, as one by one)."""
    if not people:
        return []
    region = channel_regions(conn, [channel], lambda _: "channel")[channel] if channel else None
    parsed = [_parse_identities_for_create(identities, region) for _, identities in people]
    blocks, known = blocked_and_known(conn, (i.key for item in parsed for i, _ in item))
    items = usable_identities(conn, parsed, strict=True, blocks=blocks)
    if not all(items):
        raise errors.identity_required("identities")
    resolution = resolve_identities(conn, clock, items, [channel] * len(items), actor=actor, known=known)
    ids = [cid for cid in resolution.customer_ids if cid is not None]
    assert len(ids) == len(people)
    created = set(resolution.created)
    named = {cid: name for cid, (name, _) in zip(ids, people, strict=True) if name}
    fresh = [{"b_id": cid, "b_name": name} for cid, name in named.items() if cid in created]
    if fresh:
        conn.execute(customers.update().where(customers.c.id == sa.bindparam("b_id"))
                     .values(name=sa.bindparam("b_name"), updated_at=clock.now()), fresh)
    known = sorted(cid for cid in named if cid not in created)
    # Existing profiles take the name only when they have none: read which in one query (most have one), then
    # the same conditional update as one by one for those (it, not the read, decides a race).
    unnamed = set(conn.execute(sa.select(customers.c.id).where(customers.c.id.in_(known), customers.c.name.is_(None)))
                  .scalars()) if known else set()
    for cid, name in named.items():
        if cid in unnamed:
            changed = conn.execute(customers.update().where(customers.c.id == cid, customers.c.name.is_(None))
                                   .values(name=name, updated_at=clock.now())).rowcount
            if changed:
                emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["name"]})
    return ids


def identify_buyer(conn: Connection, clock: Clock, hints: Any, *, channel: str, channel_country: str | None = None,
                   actor: str | None = None) -> tuple[str | None, dict[str, str]]:
    """Who is buying: the profile the usable identifiers name (get-or-create, as `create_customer`), or None.
    A sale is never refused for its identifiers: block-listed ones (no@email.com, anything at example.com…) and
    an erased person's are ignored for identity — they never join two people — and come back as the order's
    contact `{kind: value}`. Malformed identifiers are still a 422."""
    region = channel_country if channel_country is not None else channel_regions(conn, [channel],
                                                                                  lambda _: "channel")[channel]
    parsed = [_parse_identities_for_create(hints, region)]
    blocks, known = blocked_and_known(conn, (i.key for i, _ in parsed[0]))
    contact = {i.kind: i.value for i, _ in parsed[0] if rules.is_default_blocked(i) or i.key in blocks}
    items = usable_identities(conn, parsed, strict=False, blocks=blocks)
    if not items[0]:
        return None, contact
    return resolve_identities(conn, clock, items, [channel], actor=actor, known=known).customer_ids[0], contact


def _parse_identities_for_create(hints: Any, region: str | None) -> list[tuple[Identity, str]]:
    if isinstance(hints, list):
        result = []
        for i, raw in enumerate(hints):
            result.append((rules.normalise_identity(raw, region, f"identities.{i}"), f"identities.{i}.value"))
        return result
    return [(i, f"identities.{i.kind}") for i in rules.parse_identities(hints, region, "identities")]

