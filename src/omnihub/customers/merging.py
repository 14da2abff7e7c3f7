"""Merging two profiles into one (automatic, suggested or manual) and undoing it from the audit record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.customers import errors, rules
from omnihub.customers.models import (
    customer_aliases,
    customer_consents,
    customer_credit,
    customer_events,
    customer_identities,
    customer_merges,
    customer_stats,
    customer_tags,
    customers,
    merge_suggestions,
)
from omnihub.customers.participants import merge_participants
from omnihub.customers.queries import forget_locked_active
from omnihub.customers.writes import CONSENTS_OF, RetryResolution, active_id, lock_profiles, profile_facts

# Tables whose rows follow a profile through merges and back through unmerges.
OWNED_TABLES = (customer_identities, customer_events, customer_consents, customer_tags, customer_stats,
                customer_credit)


def merge_profiles(conn: Connection, clock: Clock, survivor_id: str, merged_id: str, *, reason: str, actor: str | None,
                   evidence: dict[str, Any]) -> dict[str, Any]:
    """Move everything of `merged_id` onto `survivor_id`, keep the old id resolving, audit field by field."""
    now = clock.now()
    rows = {r.id: r for r in conn.execute(sa.select(customers).where(customers.c.id.in_([survivor_id, merged_id])))}
    survivor, merged = rows[survivor_id], rows[merged_id]
    absorbed = [merged_id, *conn.execute(
        sa.select(customer_aliases.c.merged_id).where(customer_aliases.c.survivor_id == merged_id)
        .order_by(customer_aliases.c.merged_id)).scalars()]

    name, name_from = rules.merged_name(survivor.name, merged.name)
    consent_rows = [dict(r._mapping) for r in conn.execute(CONSENTS_OF(conn), {"b_values": [survivor_id, merged_id]})]
    consents_before = {
        "survivor": rules.current_consents(r for r in consent_rows if r["customer_id"] == survivor_id),
        "merged": rules.current_consents(r for r in consent_rows if r["customer_id"] == merged_id),
    }
    moved_identities = [
        {"kind": r.kind, "value": r.value, "namespace": r.namespace or None, "verified": bool(r.verified)}
        for r in conn.execute(sa.select(customer_identities).where(customer_identities.c.customer_id == merged_id)
                              .order_by(customer_identities.c.id))
    ]
    manual_tags = list(conn.execute(
        sa.select(customer_tags.c.tag).where(customer_tags.c.customer_id == merged_id,
                                             customer_tags.c.source == "manual")).scalars())
    credit = [
        {"currency": cur, "amount": str(Decimal(amt))}
        for cur, amt in conn.execute(sa.select(customer_credit.c.currency, sa.func.sum(customer_credit.c.amount))
                                     .where(customer_credit.c.customer_id == merged_id)
                                     .group_by(customer_credit.c.currency))
    ]
    consents_after = rules.current_consents(consent_rows)
    fields = {
        "name": {"value": name, "from": survivor_id if name_from == "survivor" else merged_id,
                 "survivor_before": survivor.name, "merged_before": merged.name},
        "identities": [{**i, "from": merged_id} for i in moved_identities],
        "consents": {p: {"granted": bool(r["granted"]), "from": r["owner_id"]} for p, r in consents_after.items()},
        "consents_before": {side: {p: bool(r["granted"]) for p, r in c.items()} for side, c in consents_before.items()},
        "manual_tags": [{"tag": t, "from": merged_id} for t in manual_tags],
        "store_credit": [{**c, "from": merged_id} for c in credit],
    }

    # Tables the reads above showed empty for the merged profile need no UPDATE.
    skip = {t for t, empty in ((customer_consents, not consents_before["merged"]), (customer_credit, not credit),
                               (customer_identities, not moved_identities)) if empty}
    for table in OWNED_TABLES:
        if table not in skip:
            conn.execute(table.update().where(table.c.customer_id == merged_id).values(customer_id=survivor_id))
    merge_id = new_id("mrg")
    conn.execute(customer_aliases.update().where(customer_aliases.c.survivor_id == merged_id)
                 .values(survivor_id=survivor_id))
    conn.execute(customer_aliases.insert(), dict(merged_id=merged_id, survivor_id=survivor_id, merge_id=merge_id,
                                                  created_at=now))
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == merged_id)
                 .values(status="merged", merged_into=survivor_id, updated_at=now))
    conn.execute(customers.update().where(customers.c.id == survivor_id).values(name=name, updated_at=now))
    pair = sorted((survivor_id, merged_id))
    conn.execute(merge_suggestions.update()
                 .where(merge_suggestions.c.customer_a == pair[0], merge_suggestions.c.customer_b == pair[1],
                        merge_suggestions.c.status == "open")
                 .values(status="accepted", decided_at=now, decided_by=actor, merge_id=merge_id))
    for participant in merge_participants():
        participant.on_merge(conn, survivor_id, absorbed)
    record = {"id": merge_id, "survivor_id": survivor_id, "merged_id": merged_id, "reason": reason, "actor": actor,
              "absorbed_ids": absorbed, "evidence": evidence, "fields": fields, "created_at": now,
              "undone_at": None}
    conn.execute(customer_merges.insert(), dict(**{k: v for k, v in record.items() if k != "undone_at"}))
    emit(conn, clock, "customer.merged", {"customer_id": survivor_id, "merged_id": merged_id, "merge_id": merge_id,
                                          "reason": reason, "absorbed_ids": absorbed})
    return record


def merge_customers(conn: Connection, clock: Clock, customer_id: str, other_id: str, *,
                    actor: str | None = None) -> dict[str, Any]:
    """Manual merge: the person asking names the survivor, so `customer_id` keeps its id."""
    survivor = active_id(conn, customer_id)
    other = active_id(conn, other_id, "other")
    if other_id == customer_id:
        raise errors.cannot_merge_self(customer_id)
    if survivor == other:
        raise errors.already_merged(other_id, survivor)
    statuses = lock_profiles(conn, [survivor, other], exclusive=True)
    if statuses.get(survivor) != "active" or statuses.get(other) != "active":
        raise RetryResolution()
    return merge_profiles(conn, clock, survivor, other, reason="manual", actor=actor, evidence={"requested_by": actor})


def _suggestion(conn: Connection, suggestion_id: str) -> Any:
    row = conn.execute(sa.select(merge_suggestions).where(merge_suggestions.c.id == suggestion_id)).first()
    if row is None:
        raise errors.suggestion_not_found(suggestion_id)
    if row.status != "open":
        raise errors.suggestion_closed(suggestion_id, row.status)
    return row


def accept_suggestion(conn: Connection, clock: Clock, suggestion_id: str, *, actor: str | None = None
                      ) -> dict[str, Any]:
    """A person confirmed the pair is one customer: merge with the deterministic survivor rule."""
    row = _suggestion(conn, suggestion_id)
    a, b = active_id(conn, row.customer_a), active_id(conn, row.customer_b)
    now = clock.now()
    merge_id = None
    if a != b:
        statuses = lock_profiles(conn, [a, b], exclusive=True)
        if statuses.get(a) != "active" or statuses.get(b) != "active":
            raise RetryResolution()
        facts = profile_facts(conn, [a, b])
        survivor, merged = (p.id for p in rules.choose_survivor([facts[a], facts[b]]))
        merge_id = merge_profiles(conn, clock, survivor, merged, reason="suggestion", actor=actor,
                                  evidence={"suggestion_id": suggestion_id, **(row.evidence or {})})["id"]
    conn.execute(merge_suggestions.update().where(merge_suggestions.c.id == suggestion_id)
                 .values(status="accepted", decided_at=now, decided_by=actor, merge_id=merge_id))
    return {"suggestion_id": suggestion_id, "merge_id": merge_id}


def reject_suggestion(conn: Connection, clock: Clock, suggestion_id: str, *, actor: str | None = None) -> None:
    """Not the same person: the pair is never proposed again."""
    _suggestion(conn, suggestion_id)
    conn.execute(merge_suggestions.update().where(merge_suggestions.c.id == suggestion_id)
                 .values(status="rejected", decided_at=clock.now(), decided_by=actor))


def undo_merge(conn: Connection, clock: Clock, merge_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """Unmerge from the audit record: the absorbed profile comes back with what it brought; what arrived
    after the merge stays with the survivor."""
    record = conn.execute(sa.select(customer_merges).where(customer_merges.c.id == merge_id)).first()
    if record is None:
        raise errors.merge_not_found(merge_id)
    if record.undone_at is not None:
        raise errors.merge_not_undoable(merge_id, "it was already undone")
    statuses = lock_profiles(conn, [record.survivor_id, record.merged_id], exclusive=True)
    if statuses.get(record.survivor_id) != "active":
        raise errors.merge_not_undoable(merge_id, "the survivor was merged or erased since; undo that first")
    merged_row = conn.execute(sa.select(customers).where(customers.c.id == record.merged_id)).first()
    if merged_row is None or merged_row.status != "merged" or merged_row.merged_into != record.survivor_id:
        raise errors.merge_not_undoable(merge_id, "the merged profile changed since")
    absorbed = list(record.absorbed_ids)
    now = clock.now()
    for table in OWNED_TABLES:
        conn.execute(table.update().where(table.c.customer_id == record.survivor_id, table.c.owner_id.in_(absorbed))
                     .values(customer_id=record.merged_id))
    conn.execute(customer_aliases.delete().where(customer_aliases.c.merged_id == record.merged_id))
    others = [a for a in absorbed if a != record.merged_id]
    if others:
        conn.execute(customer_aliases.update().where(customer_aliases.c.merged_id.in_(others))
                     .values(survivor_id=record.merged_id))
    names = record.fields.get("name", {})
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == record.merged_id)
                 .values(status="active", merged_into=None, name=names.get("merged_before"), updated_at=now))
    conn.execute(customers.update().where(customers.c.id == record.survivor_id)
                 .values(name=names.get("survivor_before"), updated_at=now))
    for participant in merge_participants():
        participant.on_unmerge(conn, record.survivor_id, record.merged_id, absorbed)
    conn.execute(customer_merges.update().where(customer_merges.c.id == merge_id)
                 .values(undone_at=now, undone_by=actor))
    emit(conn, clock, "customer.unmerged", {"customer_id": record.survivor_id, "restored_id": record.merged_id,
                                            "merge_id": merge_id})
    return {"merge_id": merge_id, "survivor_id": record.survivor_id, "restored_id": record.merged_id}

