"""Consent, the identity block list and GDPR erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.events import emit
from omnihub.customers import errors, rules
from omnihub.customers.models import (
    customer_aliases,
    customer_consents,
    customer_erasures,
    customer_events,
    customer_identities,
    customer_merges,
    customer_tags,
    customers,
    identity_blocks,
    merge_suggestions,
)
from omnihub.customers.participants import erasure_participants
from omnihub.customers.queries import forget_locked_active, resolve_id
from omnihub.customers.writes import active_id, channel_regions, insert_into, lock_profiles, utc_or_now


def record_consent(conn: Connection, clock: Clock, customer_id: str, purpose: str, *, granted: bool,
                   channel: str | None = None, at: datetime | None = None, proof: Any = None,
                   max_ahead_seconds: float = 300.0) -> str:
    """Append an explicit choice; the latest choice (by when it was made) is the one that counts. A choice
    dated beyond the clock skew allowed is refused: it would outrank every real choice made until then."""
    if purpose not in rules.PURPOSES:
        raise errors.invalid_identity("purpose", f"purpose must be one of: {', '.join(rules.PURPOSES)}.")
    if at is not None and rules.dated_in_the_future(as_utc(at), clock.now(), max_ahead_seconds):
        raise errors.consent_in_future(as_utc(at), clock.now(), max_ahead_seconds)
    cid = active_id(conn, customer_id)
    if channel is not None:
        catalog_queries.get_channel(conn, channel, field="channel")
    now = clock.now()
    conn.execute(customer_consents.insert(), dict(
        customer_id=cid, owner_id=cid, purpose=purpose, granted=granted, channel=channel, at=utc_or_now(at, clock),
        proof=proof, recorded_at=now))
    emit(conn, clock, "customer.updated", {"customer_id": cid, "changed": ["consents"], "purpose": purpose,
                                           "granted": granted})
    return cid


def can_contact(conn: Connection, customer_id: str, purpose: str) -> bool:
    """What every send checks: an explicit, current grant for this purpose. No record means no."""
    cid = resolve_id(conn, customer_id)
    if cid is None:
        return False
    status = conn.execute(sa.select(customers.c.status).where(customers.c.id == cid)).scalar()
    if status != "active":
        return False
    latest = conn.execute(
        sa.select(customer_consents.c.granted)
        .where(customer_consents.c.customer_id == cid, customer_consents.c.purpose == purpose)
        .order_by(customer_consents.c.at.desc(), customer_consents.c.id.desc()).limit(1)
    ).scalar()
    return bool(latest)


def add_block(conn: Connection, clock: Clock, raw: dict[str, Any], *, channel: str | None, note: str | None
              ) -> dict[str, Any]:
    """Block an identifier shared by many people (a store's phone or e-mail) from ever joining two profiles.
    Profiles that already carry it keep it; new events no longer match on it."""
    region = channel_regions(conn, [channel], lambda _: "channel")[channel] if channel else None
    identity = rules.normalise_identity(raw, region, "value")
    now = clock.now()
    stmt = insert_into(conn, identity_blocks).on_conflict_do_nothing(index_elements=["hash"])
    conn.execute(stmt.values(hash=rules.identity_hash(identity.key), reason="blocked", kind=identity.kind,
                             namespace=identity.namespace or None, value=identity.value, note=note, created_at=now))
    return {"kind": identity.kind, "value": identity.value, "namespace": identity.namespace or None, "note": note,
            "created_at": now}


def erase_customer(conn: Connection, clock: Clock, customer_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """GDPR erasure: personal data goes, financial aggregates stay, and the erased identifiers are kept only
    as hashes so that they never rebuild the person. Audited; `customer.erased` tells the other rooms."""
    cid = active_id(conn, customer_id)
    lock_profiles(conn, [cid], exclusive=True)
    now = clock.now()
    erasure_id = new_id("era")
    keys = list(conn.execute(sa.select(customer_identities.c.key, customer_identities.c.kind)
                             .where(customer_identities.c.customer_id == cid)))
    if keys:
        stmt = insert_into(conn, identity_blocks).on_conflict_do_nothing(index_elements=["hash"])
        conn.execute(stmt, [{"hash": rules.identity_hash(k), "reason": "erased", "kind": kind, "namespace": None,
                             "value": None, "note": None, "erasure_id": erasure_id, "created_at": now}
                            for k, kind in keys])
    merged_ids = list(conn.execute(sa.select(customer_aliases.c.merged_id)
                                   .where(customer_aliases.c.survivor_id == cid)).scalars())
    events_deleted = conn.execute(customer_events.delete().where(customer_events.c.customer_id == cid)).rowcount
    for table in (customer_identities, customer_consents, customer_tags):
        conn.execute(table.delete().where(table.c.customer_id == cid))
    everyone = [cid, *merged_ids]
    conn.execute(customers.update().where(customers.c.id.in_(everyone)).values(name=None, updated_at=now))
    forget_locked_active(conn)
    conn.execute(customers.update().where(customers.c.id == cid).values(status="erased", erased_at=now))
    conn.execute(merge_suggestions.delete().where(sa.or_(merge_suggestions.c.customer_a.in_(everyone),
                                                         merge_suggestions.c.customer_b.in_(everyone))))
    conn.execute(customer_merges.update().where(sa.or_(customer_merges.c.survivor_id.in_(everyone),
                                                       customer_merges.c.merged_id.in_(everyone)))
                 .values(fields={"erased": True}, evidence={"erased": True}))
    record = {"id": erasure_id, "customer_id": cid, "actor": actor, "identities_blocked": len(keys),
              "events_deleted": events_deleted, "at": now}
    conn.execute(customer_erasures.insert(), dict(**record))
    for participant in erasure_participants():
        participant.on_erase(conn, everyone)
    emit(conn, clock, "customer.erased", {"customer_id": cid, "merged_ids": merged_ids, "erasure_id": erasure_id})
    return record
