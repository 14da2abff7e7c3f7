"""Read side of the customers room: the 360 view, lookup by any identity, timeline, export."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import transaction_memo
from omnihub.core.errors import DomainError
from omnihub.core.pagination import check_limit, decode_cursor, newest_first, page, within
from omnihub.core.reads import Read, read_together
from omnihub.customers import errors, rules
from omnihub.customers.models import (
    customer_aliases,
    customer_consents,
    customer_credit,
    customer_erasures,
    customer_events,
    customer_identities,
    customer_merges,
    customer_stats,
    customer_tags,
    customers,
    identity_blocks,
    merge_suggestions,
)

RECENT_ACTIVITY = 10


@dataclass(frozen=True)
class ReadSection:
    """A 360 view section that names its reads — statements of one parameter, `b_cid`, the profile's id — so
    that they go with the view's own in one round trip; `shape` makes the section of their rows (each read's, in
    order), and may read more when it must (an open cart's lines)."""

    reads: tuple[Executable, ...]
    shape: Callable[[Connection, list[list[Any]]], Any]


# Other rooms add to the 360 view without this room importing them: commerce registers "open_cart". A plain
# function is called with the profile's id after the view's reads.
ViewSection = Callable[[Connection, str], Any] | ReadSection
_sections: dict[str, ViewSection] = {}


def register_view_section(name: str, section: ViewSection) -> None:
    _sections[name] = section


def unregister_view_section(name: str) -> None:
    _sections.pop(name, None)


# Built once: every order resolves its customer.
_ID_AND_STATUS = sa.select(customers.c.id, customers.c.status).where(customers.c.id == sa.bindparam("b_id"))
_SURVIVOR = (sa.select(customers.c.id, customers.c.status)
             .select_from(customer_aliases.join(customers, customers.c.id == customer_aliases.c.survivor_id))
             .where(customer_aliases.c.merged_id == sa.bindparam("b_id")))


def resolve_id(conn: Connection, customer_id: str) -> str | None:
    """The profile an id stands for now (a merged id resolves to its survivor); None when unknown."""
    resolved = resolve_with_status(conn, customer_id)
    return resolved[0] if resolved else None


# Per transaction: profiles it has locked (or created) and found active. The lock holds until the transaction
# ends, so they stay active unless the transaction itself merges or erases (which forget them).
_LOCKED_ACTIVE = "customers.locked_active"


def remember_locked_active(conn: Connection, ids: Iterable[str]) -> None:
    transaction_memo(conn, _LOCKED_ACTIVE).update(dict.fromkeys(ids, True))


def forget_locked_active(conn: Connection) -> None:
    transaction_memo(conn, _LOCKED_ACTIVE).clear()


def resolve_with_status(conn: Connection, customer_id: str) -> tuple[str, str] | None:
    """(id, status) of the profile an id stands for now; None when unknown."""
    if customer_id in transaction_memo(conn, _LOCKED_ACTIVE):
        return customer_id, "active"
    row = conn.execute(_ID_AND_STATUS, {"b_id": customer_id}).first()
    if row is None:
        return None
    if row.status == "merged":
        row = conn.execute(_SURVIVOR, {"b_id": customer_id}).first()
        if row is None:
            return None
    return row.id, row.status


def resolve_many_with_status(conn: Connection, customer_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """`resolve_with_status` for many ids in two queries (imports): id → (id it stands for now, status); unknown
    ids are left out."""
    memo = transaction_memo(conn, _LOCKED_ACTIVE)
    out: dict[str, tuple[str, str]] = {}
    wanted = []
    for cid in set(customer_ids):
        if cid in memo:
            out[cid] = (cid, "active")
        else:
            wanted.append(cid)
    merged = []
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        for row in conn.execute(sa.select(customers.c.id, customers.c.status).where(customers.c.id.in_(chunk))):
            if row.status == "merged":
                merged.append(row.id)
            else:
                out[row.id] = (row.id, row.status)
    for start in range(0, len(merged), 5000):
        chunk = merged[start:start + 5000]
        for row in conn.execute(
                sa.select(customer_aliases.c.merged_id, customers.c.id, customers.c.status)
                .select_from(customer_aliases.join(customers, customers.c.id == customer_aliases.c.survivor_id))
                .where(customer_aliases.c.merged_id.in_(chunk))):
            out[row.merged_id] = (row.id, row.status)
    return out


_ROW = sa.select(customers).where(customers.c.id == sa.bindparam("b_id"))
_SURVIVOR_ROW = (sa.select(customers)
                 .select_from(customer_aliases.join(customers, customers.c.id == customer_aliases.c.survivor_id))
                 .where(customer_aliases.c.merged_id == sa.bindparam("b_id")))


def _resolved_row(conn: Connection, customer_id: str) -> Any:
    """The row of the profile an id stands for now (`resolve_id`'s answer) in one read; a merged id takes two."""
    row = conn.execute(_ROW, {"b_id": customer_id}).first()
    if row is not None and row.status == "merged" and customer_id not in transaction_memo(conn, _LOCKED_ACTIVE):
        row = conn.execute(_SURVIVOR_ROW, {"b_id": customer_id}).first()
    if row is None:
        raise errors.customer_not_found(customer_id)
    return row


def _identity(row: Any) -> dict[str, Any]:
    identity = rules.Identity(row.kind, row.value, row.namespace, bool(row.verified))
    return {
        "kind": row.kind,
        "value": row.value,
        "network": row.namespace or None if row.kind == "handle" else None,
        "system": row.namespace or None if row.kind == "external" else None,
        "verified": bool(row.verified),
        "trust": identity.trust,
        "channel": row.channel,
        "created_at": as_utc(row.created_at),
    }


def _timeline_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "channel": row.channel,
        "at": as_utc(row.occurred_at),
        "source": row.source,
        "custom": row.source == "events" and row.type not in rules.STANDARD_EVENT_TYPES,
        "properties": row.properties or {},
    }


# The 360 view's reads of one profile, built once: building a statement costs about as much as running it here.
_CID = sa.bindparam("b_cid")
_EV = customer_events.c
_IDENTITIES = sa.select(customer_identities).where(customer_identities.c.customer_id == _CID).order_by(
    customer_identities.c.id)
_CONSENTS = sa.select(customer_consents).where(customer_consents.c.customer_id == _CID)
_TAGS = sa.select(customer_tags.c.tag, customer_tags.c.source, customer_tags.c.score).where(
    customer_tags.c.customer_id == _CID)
_CREDIT = sa.select(customer_credit.c.currency, customer_credit.c.amount).where(customer_credit.c.customer_id == _CID)
_STATS = sa.select(customer_stats).where(customer_stats.c.customer_id == _CID)
_MERGED_IDS = sa.select(customer_aliases.c.merged_id).where(customer_aliases.c.survivor_id == _CID)
_NPS_SCANNED = 20  # the latest `survey_answered` events looked at for a 0-10 score
# The recent activity and the latest surveys (for `last_nps`) in one read, each part newest first.
_RECENT = (sa.select(customer_events).where(_EV.customer_id == _CID)
           .order_by(_EV.occurred_at.desc(), _EV.id.desc()).limit(RECENT_ACTIVITY).subquery())
_SURVEYS = (sa.select(customer_events).where(_EV.customer_id == _CID, _EV.type == "survey_answered")
            .order_by(_EV.occurred_at.desc(), _EV.id.desc()).limit(_NPS_SCANNED).subquery())
_RECENT_AND_SURVEYS = sa.union_all(sa.select(sa.false().label("survey"), _RECENT),
                                   sa.select(sa.true().label("survey"), _SURVEYS)).subquery()
_EVENTS_SHOWN = sa.select(_RECENT_AND_SURVEYS).order_by(
    _RECENT_AND_SURVEYS.c.survey, _RECENT_AND_SURVEYS.c.occurred_at.desc(), _RECENT_AND_SURVEYS.c.id.desc())
SUPPORT_CONTACT_TYPES = ("message_received", "ticket_opened")
_SUPPORT = (sa.select(_EV.type, sa.func.count().label("n"), sa.func.max(_EV.occurred_at).label("last"))
            .where(_EV.customer_id == _CID, _EV.type.in_((*SUPPORT_CONTACT_TYPES, "ticket_resolved")))
            .group_by(_EV.type))


def customer_consents_of(conn: Connection, cid: str) -> dict[str, dict[str, Any]]:
    return _consents_from(conn.execute(_CONSENTS, {"b_cid": cid}).all())


def _consents_from(found: Iterable[Any]) -> dict[str, dict[str, Any]]:
    rows = [r._asdict() for r in found]
    return {
        purpose: {"granted": bool(r["granted"]), "channel": r["channel"], "at": as_utc(r["at"]), "proof": r["proof"]}
        for purpose, r in sorted(rules.current_consents(rows).items())
    }


def _tags(conn: Connection, cid: str, now: datetime) -> list[dict[str, Any]]:
    return _tags_from(conn.execute(_TAGS, {"b_cid": cid}).all(), now)


def _tags_from(found: Iterable[Any], now: datetime) -> list[dict[str, Any]]:
    manual: set[str] = set()
    auto: dict[str, float] = {}
    for tag, source, score in found:
        if source == "manual":
            manual.add(tag)
        else:
            auto[tag] = auto.get(tag, 0.0) + rules.decayed_score(score or 0.0, now)
    result = [{"tag": t, "source": "manual", "score": None} for t in sorted(manual)]
    result += [{"tag": t, "source": "auto", "score": round(s, 3)}
               for t, s in sorted(auto.items(), key=lambda kv: (-kv[1], kv[0])) if s >= rules.MIN_TAG_SCORE]
    return result


def _store_credit(found: Iterable[Any]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for currency, amount in found:
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount)
    return {c: a.quantize(Decimal("0.01")) for c, a in sorted(totals.items())}


def store_credit_balance(conn: Connection, customer_id: str, currency: str) -> Decimal:
    """The exact wallet balance in one currency (summed as Decimal: SQLite keeps NUMERIC as REAL)."""
    cid = resolve_id(conn, customer_id) or customer_id
    amounts = conn.execute(sa.select(customer_credit.c.amount).where(
        customer_credit.c.customer_id == cid, customer_credit.c.currency == currency)).scalars()
    return sum((Decimal(a) for a in amounts), Decimal(0)).quantize(Decimal("0.0001"))


def stats_of(conn: Connection, customer_id: str) -> dict[str, Any]:
    """A customer's purchase stats (orders, lifetime value, …) as the 360 view shows them, for other rooms' rules."""
    return _stats(conn.execute(_STATS, {"b_cid": customer_id}).all())


def lifetime_values(conn: Connection, customer_ids: Iterable[str]) -> dict[str, Decimal]:
    """`stats_of(...)["lifetime_value"]` for many customers in one query (the service desk's priority rules read
    it for a batch of messages); a customer without stats has 0.00."""
    wanted = sorted(set(customer_ids))
    values = dict.fromkeys(wanted, Decimal(0))
    if wanted:
        for r in conn.execute(sa.select(customer_stats.c.customer_id, customer_stats.c.revenue)
                              .where(customer_stats.c.customer_id.in_(wanted))):
            values[r.customer_id] += Decimal(r.revenue)
    return {cid: value.quantize(Decimal("0.01")) for cid, value in values.items()}


def _stats(found: Iterable[Any]) -> dict[str, Any]:
    per_channel: dict[str, dict[str, Any]] = {}
    for r in found:
        entry = per_channel.setdefault(r.channel, {"events": 0, "orders": 0, "revenue": Decimal(0), "first": None,
                                                   "last": None, "seen": None})
        entry["events"] += r.events_count
        entry["orders"] += r.orders_count
        entry["revenue"] += Decimal(r.revenue)
        for key, value, pick in (("first", r.first_order_at, min), ("last", r.last_order_at, max),
                                 ("seen", r.last_seen_at, max)):
            if value is not None:
                value = as_utc(value)
                entry[key] = value if entry[key] is None else pick(entry[key], value)
    orders = sum(e["orders"] for e in per_channel.values())
    revenue = sum((e["revenue"] for e in per_channel.values()), Decimal(0))
    firsts = [e["first"] for e in per_channel.values() if e["first"]]
    lasts = [e["last"] for e in per_channel.values() if e["last"]]
    seen = [e["seen"] for e in per_channel.values() if e["seen"]]
    first, last = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
    frequency = None
    if orders > 1 and first and last:
        frequency = round((last - first).total_seconds() / 86400 / (orders - 1), 2)
    buyers = [(e["orders"], ch) for ch, e in per_channel.items() if e["orders"]]
    return {
        "orders_count": orders,
        "lifetime_value": revenue.quantize(Decimal("0.01")),
        "average_ticket": (revenue / orders).quantize(Decimal("0.01")) if orders else None,
        "first_order_at": first,
        "last_order_at": last,
        "purchase_frequency_days": frequency,
        "channels": sorted(per_channel),
        "preferred_channel": max(buyers, key=lambda b: (b[0], b[1]))[1] if buyers else None,
        "events_count": sum(e["events"] for e in per_channel.values()),
        "last_seen_at": max(seen) if seen else None,
    }


def _last_nps(surveys: Iterable[Any]) -> dict[str, Any] | None:
    """The latest `survey_answered` event with a 0-10 score (`nps` or `score` property), from the latest ones
    (newest first)."""
    for row in surveys:
        props = row.properties or {}
        score = props.get("nps", props.get("score"))
        if isinstance(score, int | float) and 0 <= score <= 10:
            return {"score": score, "at": as_utc(row.occurred_at), "channel": row.channel}
    return None


def _support(found: Iterable[Any]) -> dict[str, Any]:
    """Support contacts and open problems, from what the service room writes to the timeline."""
    counts: dict[str, int] = {}
    lasts = []
    for r in found:
        counts[r.type] = r.n
        if r.type in SUPPORT_CONTACT_TYPES and r.last is not None:
            lasts.append(as_utc(r.last))
    return {"contacts": sum(counts.get(t, 0) for t in SUPPORT_CONTACT_TYPES),
            "open_problems": max(0, counts.get("ticket_opened", 0) - counts.get("ticket_resolved", 0)),
            "last_contact_at": max(lasts) if lasts else None}


def names_of(conn: Connection, customer_ids: Iterable[str]) -> dict[str, str | None]:
    """Profiles' names by id, in one read (lists that show a customer per row: the inbox)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    c = customers.c
    return dict(conn.execute(sa.select(c.id, c.name).where(c.id.in_(ids))).tuples().all())


def _identities(conn: Connection, cid: str) -> list[dict[str, Any]]:
    return [_identity(r) for r in conn.execute(_IDENTITIES, {"b_cid": cid})]


def identities_of(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    """The 360 view's `identities` alone (a merged id resolves to its survivor; 404 when unknown): what the bot
    checks for every order question, without the rest of the view."""
    return _identities(conn, _resolved_row(conn, customer_id).id)


def identities_of_many(conn: Connection, customer_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """`identities_of` for many ids in three queries (the bot's batch): id -> its profile's identities; unknown
    ids are left out."""
    resolved = resolve_many_with_status(conn, customer_ids)
    found: dict[str, list[dict[str, Any]]] = {cid: [] for cid, _ in resolved.values()}
    ids = sorted(found)
    for start in range(0, len(ids), 5000):
        for r in conn.execute(sa.select(customer_identities)
                              .where(customer_identities.c.customer_id.in_(ids[start:start + 5000]))
                              .order_by(customer_identities.c.id)):
            found[r.customer_id].append(_identity(r))
    return {asked: found[cid] for asked, (cid, _) in resolved.items()}


# What the view reads of a profile besides its row, in this order, all in one round trip (core.reads).
_VIEW_READS = (_IDENTITIES, _EVENTS_SHOWN, _CONSENTS, _TAGS, _CREDIT, _STATS, _SUPPORT, _MERGED_IDS)


def customer_view(conn: Connection, clock: Clock, customer_id: str) -> dict[str, Any]:
    """The 360 view, from precomputed aggregates and the indexed timeline: cost independent of history."""
    return customer_view_with(conn, clock, customer_id, ())[0]


def customer_view_with(conn: Connection, clock: Clock, customer_id: str,
                       also: Sequence[Read]) -> tuple[dict[str, Any], list[list[Any]]]:
    """The 360 view, and the rows of the caller's own reads `also`, sent with the view's. The profile's row, its
    parts and the other rooms' `ReadSection`s are read together, in one round trip, taking the id as the
    profile's own; a merged id (the row says so) reads them again for its survivor."""
    sections = list(_sections.items())
    reads = [*_VIEW_READS, *(read for _, section in sections if isinstance(section, ReadSection)
                             for read in section.reads)]
    found = read_together(conn, [(_ROW, {"b_id": customer_id}), *((read, {"b_cid": customer_id}) for read in reads),
                                 *also])
    theirs = found[len(found) - len(also):]
    found = found[:len(found) - len(also)]
    row = found[0][0] if found[0] else None
    if row is None or (row.status == "merged" and customer_id not in transaction_memo(conn, _LOCKED_ACTIVE)):
        row = _resolved_row(conn, customer_id)
        found = [[row], *read_together(conn, [(read, {"b_cid": row.id}) for read in reads])]
    cid = row.id
    identities, events, consents, tags, credit, stats, support, merged = found[1:len(_VIEW_READS) + 1]
    view = {
        "id": cid,
        "status": row.status,
        "name": row.name,
        "created_at": as_utc(row.created_at),
        "identities": [_identity(r) for r in identities],
        "consents": _consents_from(consents),
        "tags": _tags_from(tags, clock.now()),
        "store_credit": _store_credit(credit),
        "stats": _stats(stats),
        "open_cart": None,
        "recent_activity": [_timeline_item(r) for r in events if not r.survey],
        "last_nps": _last_nps(r for r in events if r.survey),
        "support": _support(support),
        "merged_ids": sorted(r.merged_id for r in merged),
    }
    at = len(_VIEW_READS) + 1
    for name, section in sections:
        if isinstance(section, ReadSection):
            view[name] = section.shape(conn, found[at:at + len(section.reads)])
            at += len(section.reads)
        else:
            view[name] = section(conn, cid)
    return view, theirs


def lookup(conn: Connection, raw: dict[str, Any], *, channel: str | None) -> str:
    """The profile an identifier belongs to (the store counter, the inbox)."""
    region = catalog_queries.get_channel(conn, channel, field="channel")["country"] if channel else None
    identity = rules.normalise_identity(raw, region, raw["kind"])
    cid = conn.execute(sa.select(customer_identities.c.customer_id)
                       .where(customer_identities.c.key == identity.key)).scalar()
    if cid is None:
        raise errors.customer_not_found(identity.value, raw["kind"])
    return cid


def timeline(conn: Connection, customer_id: str, *, limit: int, cursor: str | None, type_: str | None = None,
             channel: str | None = None) -> dict[str, Any]:
    """Newest first, paged by (occurred_at, id)."""
    check_limit(limit)
    cid = _resolved_row(conn, customer_id).id
    ev = customer_events.c
    query = sa.select(customer_events).where(ev.customer_id == cid)
    if type_:
        query = query.where(ev.type == type_)
    if channel:
        query = query.where(ev.channel == channel)
    after = decode_cursor(cursor)
    if after is not None:
        try:
            at, last_id = datetime.fromisoformat(after[0]), int(after[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise errors.invalid_event("cursor", "The cursor is not one this API issued.") from None
        at = as_utc(at)
        query = query.where(sa.or_(ev.occurred_at < at, sa.and_(ev.occurred_at == at, ev.id < last_id)))
    query = query.order_by(ev.occurred_at.desc(), ev.id.desc()).limit(limit + 1)
    items = [_timeline_item(r) for r in conn.execute(query)]
    return page(items, limit, key=lambda i: [i["at"].isoformat(), i["id"]])


def _merge_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "survivor_id": row.survivor_id, "merged_id": row.merged_id, "reason": row.reason,
        "actor": row.actor, "absorbed_ids": list(row.absorbed_ids or []), "evidence": row.evidence or {},
        "fields": row.fields or {}, "created_at": as_utc(row.created_at),
        "undone_at": as_utc(row.undone_at) if row.undone_at else None,
    }


def get_merge(conn: Connection, merge_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(customer_merges).where(customer_merges.c.id == merge_id)).first()
    if row is None:
        raise errors.merge_not_found(merge_id)
    return _merge_out(row)


def merges_of(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    cid = _resolved_row(conn, customer_id).id
    m = customer_merges.c
    rows = conn.execute(sa.select(customer_merges).where(sa.or_(m.survivor_id == cid, m.merged_id == cid))
                        .order_by(m.id))
    return [_merge_out(r) for r in rows]


def _suggestion_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "customer_a": row.customer_a, "customer_b": row.customer_b, "reason": row.reason,
        "evidence": row.evidence or {}, "status": row.status, "created_at": as_utc(row.created_at),
        "decided_at": as_utc(row.decided_at) if row.decided_at else None, "merge_id": row.merge_id,
    }


def list_suggestions(conn: Connection, *, status: str | None, customer: str | None, limit: int,
                     cursor: str | None) -> dict[str, Any]:
    check_limit(limit)
    s = merge_suggestions.c
    query = sa.select(merge_suggestions).order_by(s.id).limit(limit + 1)
    if status:
        query = query.where(s.status == status)
    if customer:
        query = query.where(sa.or_(s.customer_a == customer, s.customer_b == customer))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(s.id > str(after))
    return page([_suggestion_out(r) for r in conn.execute(query)], limit, key=lambda x: x["id"])


def list_blocks(conn: Connection, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """Configured blocks only: erased identifiers are hashes and are not listed."""
    check_limit(limit)
    b = identity_blocks.c
    query = sa.select(identity_blocks).where(b.reason == "blocked").order_by(b.hash).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(b.hash > str(after))
    rows = list(conn.execute(query))
    items = [{"kind": r.kind, "value": r.value, "namespace": r.namespace, "note": r.note,
              "created_at": as_utc(r.created_at), "_hash": r.hash} for r in rows]
    result = page(items, limit, key=lambda x: x["_hash"])
    for item in result["items"]:
        item.pop("_hash")
    return result


def export(conn: Connection, clock: Clock, customer_id: str) -> dict[str, Any]:
    """GDPR access: everything this room holds about the person, as JSON."""
    view = customer_view(conn, clock, customer_id)
    cid = view["id"]
    events = [_timeline_item(r) for r in conn.execute(
        sa.select(customer_events).where(customer_events.c.customer_id == cid)
        .order_by(customer_events.c.occurred_at, customer_events.c.id))]
    consent_log = [
        {"purpose": r.purpose, "granted": bool(r.granted), "channel": r.channel, "at": as_utc(r.at),
         "proof": r.proof, "recorded_at": as_utc(r.recorded_at)}
        for r in conn.execute(sa.select(customer_consents).where(customer_consents.c.customer_id == cid)
                              .order_by(customer_consents.c.at, customer_consents.c.id))
    ]
    credit = [
        {"amount": str(Decimal(r.amount)), "currency": r.currency, "reason": r.reason, "at": as_utc(r.at)}
        for r in conn.execute(sa.select(customer_credit).where(customer_credit.c.customer_id == cid)
                              .order_by(customer_credit.c.id))
    ]
    erasures = [
        {"id": r.id, "at": as_utc(r.at), "identities_blocked": r.identities_blocked,
         "events_deleted": r.events_deleted}
        for r in conn.execute(sa.select(customer_erasures).where(customer_erasures.c.customer_id == cid))
    ]
    return {
        "customer": view,
        "timeline": events,
        "consent_log": consent_log,
        "store_credit_ledger": credit,
        "merges": merges_of(conn, cid),
        "erasures": erasures,
        "exported_at": clock.now(),
    }


def customer_tag_names(conn: Connection, customer_id: str, now: datetime) -> set[str]:
    """Manual tags and live interest tags: the segments promotions and audiences select on."""
    cid = resolve_id(conn, customer_id)
    return {t["tag"] for t in _tags(conn, cid, now)} if cid else set()


def contacts(conn: Connection, customer_id: str) -> dict[str, str]:
    """Where to reach the person for a transactional message: the latest e-mail and phone on the profile."""
    cid = resolve_id(conn, customer_id)
    found: dict[str, str] = {}
    if cid is None:
        return found
    for row in conn.execute(sa.select(customer_identities).where(customer_identities.c.customer_id == cid)
                            .order_by(customer_identities.c.id)):
        identity = _identity(row)
        if identity["kind"] == "email":
            found["email"] = identity["value"]
        elif identity["kind"] == "phone":
            found["sms"] = identity["value"]
    return found


# ---- lists -----------------------------------------------------------------------------------------------------


def ids_of_person(conn: Connection, customer_id: str) -> list[str]:
    """The profile an id stands for now and every id merged into it ([] when unknown): records other rooms keep
    under a merged-away id still belong to the person."""
    survivor = resolve_id(conn, customer_id)
    if survivor is None:
        return []
    merged = conn.execute(sa.select(customer_aliases.c.merged_id)
                          .where(customer_aliases.c.survivor_id == survivor)).scalars()
    return sorted({survivor, *merged})


def person_ids_select(customer_id: Any) -> sa.CompoundSelect:
    """`ids_of_person` as a subquery other rooms' reads filter by (`col.in_(...)`), for an id already resolved (the
    360 view's sections get the profile's own id): the id and every id merged into it, in the same read.
    `customer_id`: a value or a bound parameter."""
    cid = customer_id if isinstance(customer_id, sa.BindParameter) else sa.literal(customer_id, sa.String())
    return sa.union_all(sa.select(cid.label("id")),
                        sa.select(customer_aliases.c.merged_id).where(customer_aliases.c.survivor_id == cid))


def identity_values(q: str) -> list[str]:
    """The forms an identifier typed into a search box may be stored under (as typed, lower-cased, as an
    e-mail, as a phone number, as a handle without its '@', as a loyalty number)."""
    text = q.strip()
    values = {text, text.lower(), text.lstrip("@").lower(), "".join(text.split()).upper()}
    for kind in ("email", "phone"):
        with suppress(DomainError):  # not that kind of identifier: nothing to add
            values.add(rules.normalise_identity({"kind": kind, "value": text}, None, "q").value)
    return sorted(v for v in values if v)


def customers_with_identity(q: str) -> sa.Select:
    """The ids of profiles holding an identifier `q` names (a subquery for other rooms' lists)."""
    ci = customer_identities.c
    return sa.select(ci.customer_id).where(ci.value.in_(identity_values(q)))


def _customer_summary(row: Any, identities: list[dict[str, Any]], tags: list[str]) -> dict[str, Any]:
    return {"id": row.id, "status": row.status, "name": row.name, "created_at": as_utc(row.created_at),
            "updated_at": as_utc(row.updated_at), "identities": identities, "tags": tags}


def list_customers(conn: Connection, *, limit: int, cursor: str | None, q: str | None = None,
                   tag: str | None = None, created_from: datetime | None = None,
                   created_to: datetime | None = None) -> dict[str, Any]:
    """Profiles newest first (merged-away ones are not listed: their survivor is). `q`: any identifier or part
    of the name; `tag`: a manual or behavioural tag the profile carries."""
    c = customers.c
    query = sa.select(customers).where(c.status != "merged", *within(c.created_at, created_from, created_to))
    if q:
        pattern = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(c.id.in_(customers_with_identity(q)), c.id == q.strip(),
                                   sa.func.lower(c.name).like(pattern, escape="\\")))
    if tag:
        query = query.where(sa.exists().where(customer_tags.c.customer_id == c.id, customer_tags.c.tag == tag))
    rows = list(conn.execute(newest_first(query, c.id, limit=limit, cursor=cursor)))
    ids = [r.id for r in rows]
    identities: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    tags: dict[str, set[str]] = {i: set() for i in ids}
    if ids:
        for r in conn.execute(sa.select(customer_identities).where(customer_identities.c.customer_id.in_(ids))
                              .order_by(customer_identities.c.id)):
            identities[r.customer_id].append(_identity(r))
        for cid, name in conn.execute(sa.select(customer_tags.c.customer_id, customer_tags.c.tag)
                                      .where(customer_tags.c.customer_id.in_(ids))):
            tags[cid].add(name)
    items = [_customer_summary(r, identities[r.id], sorted(tags[r.id])) for r in rows]
    return page(items, limit, key=lambda i: i["id"])
