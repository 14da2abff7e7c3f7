"""Stock and price updates from the ERP: lines in the ERP's own field names and codes, translated by the ERP
mapping (article code → SKU, warehouse code → location) and applied through the owning rooms' services —
inventory's stock count / adjustment (a ledger entry carrying the ERP's reference) and catalog's prices.

Each line is applied whole or not at all (its own savepoint) and reported with its outcome; an applied line is
remembered by (kind, ERP reference, SKU, location), so the same document sent again changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import service as catalog
from omnihub.connectors.erp import errors, queries, rules
from omnihub.connectors.erp.models import erp_inbound
from omnihub.core.clock import Clock
from omnihub.core.errors import DomainError
from omnihub.inventory import stock
from omnihub.inventory.levels import StockChanges

EI = erp_inbound.c
KINDS = {"stock": "stock", "prices": "price"}
REASON = {"stock": "ERP stock count", "delta": "ERP stock movement"}


def _mapping(conn: Connection, kind: str) -> dict[str, Any]:
    row = queries.config_row(conn)
    if row is None:
        raise errors.not_configured()
    if kind not in (row.mapping.get("inbound") or {}):
        raise errors.inbound_not_mapped(kind)
    return dict(row.mapping)


def _apply_stock(conn: Connection, clock: Clock, line: dict[str, Any], actor: str | None) -> None:
    reference = f"erp:{line['reference']}"
    if "on_hand" in line:
        stock.set_stock(conn, clock, location=line["location"], sku=line["sku"], on_hand=line["on_hand"],
                        reason=REASON["stock"], actor=actor, reference=reference)
        return
    changes = StockChanges(clock, actor)
    stock.adjust_stock(conn, changes, location=line["location"], sku=line["sku"], delta=line["delta"],
                       reason=REASON["delta"], reference=reference)
    changes.flush(conn)


def apply_lines(conn: Connection, clock: Clock, kind: str, lines: Sequence[dict[str, Any]], *,
                actor: str | None, numbers: Sequence[int] | None = None) -> dict[str, Any]:
    """Apply an ERP document's lines (`kind`: stock or prices). Returns every line's outcome — applied,
    unchanged (this reference was applied already) or rejected with the reason — and the counts. `numbers`:
    each line's number in its file (default: its position, from 1)."""
    mapping = _mapping(conn, kind)
    translate = rules.inbound_stock_line if kind == "stock" else rules.inbound_price_line
    report: list[dict[str, Any]] = []
    for number, raw in zip(numbers or range(1, len(lines) + 1), lines, strict=True):
        outcome: dict[str, Any] = {"line": number}
        try:
            line = translate(mapping, raw)
        except rules.LineRejected as exc:
            report.append({**outcome, "outcome": "rejected", "reason": str(exc)})
            continue
        outcome.update(sku=line["sku"], location=line.get("location"), reference=line["reference"])
        if kind == "prices":
            outcome["channel"] = line["channel"]
        key = dict(kind=KINDS[kind], reference=line["reference"], sku=line["sku"],
                   location=line["location"] if kind == "stock" else line["where"])
        fingerprint = rules.inbound_fingerprint(line)
        earlier = conn.execute(sa.select(EI.fingerprint).where(*(EI[k] == v for k, v in key.items()))).scalar()
        if earlier is not None:
            if earlier == fingerprint:
                report.append({**outcome, "outcome": "unchanged"})
            else:
                report.append({**outcome, "outcome": "rejected", "reason": (
                    f"reference {line['reference']!r} was applied with {earlier}; a document is not applied twice")})
            continue
        try:
            with conn.begin_nested():
                if kind == "stock":
                    _apply_stock(conn, clock, line, actor)
                else:
                    catalog.set_prices(conn, clock, line["channel"], [(line["sku"], line["price"])])
                conn.execute(erp_inbound.insert().values(**key, fingerprint=fingerprint, actor=actor,
                                                         applied_at=clock.now()))
        except DomainError as exc:
            report.append({**outcome, "outcome": "rejected", "reason": exc.detail})
            continue
        report.append({**outcome, "outcome": "applied"})
    counts = {state: sum(1 for r in report if r["outcome"] == state) for state in ("applied", "unchanged", "rejected")}
    return {"kind": kind, "counts": counts, "lines": report}
