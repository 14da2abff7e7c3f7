"""Ad audiences: the people an `audience` step collected, exported as SHA-256 hashes of their normalised e-mail and
E.164 phone in Meta Custom Audiences or Google Customer Match columns — only those who consented to
`ads_audiences` — in full or as the adds and removes since the last export in that format."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.automation import rules
from omnihub.automation.models import automation_audience_exports, automation_audience_members
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.errors import NotFound
from omnihub.customers import queries as customers_queries
from omnihub.customers.privacy import can_contact

A, X = automation_audience_members.c, automation_audience_exports.c
COLUMNS = {"meta": ["EMAIL", "PHONE"], "google": ["Email", "Phone"]}


def list_audiences(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(A.audience, sa.func.count()).group_by(A.audience).order_by(A.audience))
    return [{"name": name, "members": count} for name, count in rows]


def _consented(conn: Connection, audience: str) -> list[str]:
    members = sorted({customers_queries.resolve_id(conn, cid) or cid for cid in conn.execute(
        sa.select(A.customer_id).where(A.audience == audience)).scalars()})
    if not members:
        raise NotFound("audience_not_found", f"No audience '{audience}' (or it has no members).", name=audience)
    return [cid for cid in members if can_contact(conn, cid, "ads_audiences")]


def _rows(conn: Connection, fmt: str, ids: list[str]) -> list[dict[str, str]]:
    rows = []
    for cid in ids:
        contacts = customers_queries.contacts(conn, cid)
        if contacts.get("email") or contacts.get("sms"):
            rows.append(rules.audience_row(fmt, contacts.get("email"), contacts.get("sms")))
    return rows


def _csv(fmt: str, rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS[fmt], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def export(conn: Connection, clock: Clock, audience: str, fmt: str, mode: str) -> dict[str, Any]:
    """One export, recorded: `full` is everyone consented now; `delta` the adds and removes since the last export
    in this format (a first delta is a full add)."""
    now_ids = _consented(conn, audience)
    last = conn.execute(sa.select(X.customer_ids).where(X.audience == audience, X.format == fmt)
                        .order_by(X.at.desc(), X.id.desc()).limit(1)).scalar()
    before = set(last or [])
    adds = now_ids if mode == "full" else sorted(set(now_ids) - before)
    removes = [] if mode == "full" else sorted(before - set(now_ids))
    export_id = new_id("aexp")
    at = clock.now()
    conn.execute(automation_audience_exports.insert(), dict(
        id=export_id, audience=audience, format=fmt, mode=mode, customer_ids=now_ids, added=len(adds),
        removed=len(removes), at=at))
    add_rows, remove_rows = _rows(conn, fmt, adds), _rows(conn, fmt, removes)
    return {"id": export_id, "audience": audience, "format": fmt, "mode": mode, "columns": COLUMNS[fmt],
            "at": at, "adds": add_rows, "removes": remove_rows, "adds_csv": _csv(fmt, add_rows),
            "removes_csv": _csv(fmt, remove_rows)}


def history(conn: Connection, audience: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(X.id, X.format, X.mode, X.added, X.removed, X.at).where(X.audience == audience)
                        .order_by(X.at.desc(), X.id.desc()).limit(100))
    return [{"id": r.id, "format": r.format, "mode": r.mode, "added": r.added, "removed": r.removed,
             "at": as_utc(r.at)} for r in rows]


def export_file(conn: Connection, audience: str, export_id: str, part: str) -> str:
    """A recorded export as CSV again: its adds (everyone, for a full one) or its removes, from the people it
    held and the export before it in that format. Identifiers are hashed as they stand now (an erased person has
    none left, so is not in the file)."""
    row = conn.execute(sa.select(automation_audience_exports).where(X.id == export_id, X.audience == audience)).first()
    if row is None:
        raise NotFound("export_not_found", f"No export '{export_id}' of audience '{audience}'.", id=export_id)
    now_ids = list(row.customer_ids or [])
    if row.mode == "full":
        ids = now_ids if part == "adds" else []
    else:
        previous = conn.execute(sa.select(X.customer_ids).where(
            X.audience == audience, X.format == row.format,
            sa.or_(X.at < row.at, sa.and_(X.at == row.at, X.id < row.id)))
            .order_by(X.at.desc(), X.id.desc()).limit(1)).scalar()
        before = set(previous or [])
        ids = sorted(set(now_ids) - before) if part == "adds" else sorted(before - set(now_ids))
    return _csv(row.format, _rows(conn, row.format, ids))
