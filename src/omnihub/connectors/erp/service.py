"""The ERP connector's writes: its configuration, the documents it owes the ERP (recorded from billing's
`invoice.issued` and `credit_note.issued`, and for the orders shops sell and invoice themselves from the order's
own events — sold, refunded, cancelled unpaid — in the transaction that dispatches them) and held documents mapped
again when the mapping changes. Sending is in `sender.py`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.billing import queries as billing
from omnihub.commerce import queries as commerce
from omnihub.connectors.erp import errors, queries, rules
from omnihub.connectors.erp.models import erp_config, erp_customer_numbers, erp_documents
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.events import Event
from omnihub.core.outbound import OutboundGuard, OutboundRefused
from omnihub.core.secretbox import seal
from omnihub.customers import queries as customers

D = erp_documents.c
PURPOSE = "erp-token"
EVENTS = ("invoice.issued", "credit_note.issued", "order.created", "order.refunded", "order.cancelled")


def configure(conn: Connection, clock: Clock, data: dict[str, Any], guard: OutboundGuard, *,
              secret_key: str) -> dict[str, Any]:
    """Set where the ERP is, its token (sealed) and the mapping (validated first: a bad one changes nothing).
    Documents held for something the mapping did not cover are mapped again."""
    try:
        mapping = rules.parse_mapping(data["mapping"])
    except rules.MappingError as exc:
        raise errors.invalid_mapping(exc.key, exc.message) from None
    try:
        guard.check_url(data["endpoint"])
    except OutboundRefused as exc:
        raise errors.endpoint_not_allowed(str(exc)) from None
    values = dict(endpoint=data["endpoint"].rstrip("/"), token_sealed=seal(secret_key, PURPOSE, data["token"]),
                  mapping_yaml=data["mapping"], mapping=mapping, updated_at=clock.now())
    if conn.execute(erp_config.update().where(erp_config.c.id == 1).values(**values)).rowcount == 0:
        conn.execute(erp_config.insert().values(id=1, **values))
    remapped = remap_held(conn, clock, mapping)
    return {**queries.config_out(conn), "remapped": remapped}


def remap_held(conn: Connection, clock: Clock, mapping: dict[str, Any]) -> int:
    """Held documents the new mapping covers become pending (sent by the next worker step)."""
    done = 0
    for row in conn.execute(sa.select(erp_documents).where(D.status == "held").order_by(D.seq)).all():
        try:
            payload = rules.erp_document(mapping, row.facts)
        except rules.Held as exc:
            conn.execute(erp_documents.update().where(D.id == row.id).values(reason=str(exc)))
            continue
        conn.execute(erp_documents.update().where(D.id == row.id, D.status == "held").values(
            status="pending", reason=None, payload=payload, next_attempt_at=clock.now()))
        done += 1
    return done


def _customer_number(conn: Connection, mapping: dict[str, Any], customer_id: str | None) -> str:
    """The ERP number of a customer: given once, from the next sequence, and kept."""
    if customer_id is None:
        return str(mapping["guest_customer"])
    found = conn.execute(sa.select(erp_customer_numbers.c.number)
                         .where(erp_customer_numbers.c.customer_id == customer_id)).scalar()
    if found is not None:
        return str(found)
    for _ in range(20):  # two dispatchers numbering new customers at once: the loser takes the next number
        sequence = (conn.execute(sa.select(sa.func.max(erp_customer_numbers.c.sequence))).scalar() or 0) + 1
        number = rules.customer_number(mapping, sequence)
        try:
            with conn.begin_nested():
                conn.execute(erp_customer_numbers.insert().values(customer_id=customer_id, sequence=sequence,
                                                                  number=number))
            return number
        except IntegrityError:
            found = conn.execute(sa.select(erp_customer_numbers.c.number)
                                 .where(erp_customer_numbers.c.customer_id == customer_id)).scalar()
            if found is not None:
                return str(found)
    raise RuntimeError("could not give an ERP customer number")  # pragma: no cover


def _insert(conn: Connection, clock: Clock, *, kind: str, source: str, facts: dict[str, Any],
            payload: dict[str, Any] | None, reason: str | None, on: date) -> None:
    exists = conn.execute(sa.select(D.id).where(D.kind == kind, D.source == source)).first()
    if exists is not None:  # this document was recorded already: the ERP gets it once
        return
    now = clock.now()
    conn.execute(erp_documents.insert().values(
        id=new_id("erp"), kind=kind, source=source, status="held" if payload is None else "pending",
        reason=reason, facts=facts, payload=payload, document_date=on, attempts=0,
        next_attempt_at=None if payload is None else now, created_at=now))


def record_document(conn: Connection, clock: Clock, mapping: dict[str, Any], event_type: str,
                    document: dict[str, Any]) -> None:
    """A billing document becomes a contact upsert and an invoice / credit note for the ERP, in its codes. One
    the mapping cannot express yet is held with the reason (visible in the document list)."""
    kind = "invoice" if event_type == "invoice.issued" else "credit_note"
    order_id = document["order_id"]
    paid = billing.payments_of(conn, order_id)
    customer_id = next((p["customer_id"] for p in paid["payments"] if p["customer_id"]), None)
    if customer_id is not None:
        customer_id = customers.resolve_id(conn, customer_id) or customer_id
    number = _customer_number(conn, mapping, customer_id)
    issued_on = str(document["issued_at"])[:10]
    on = date.fromisoformat(issued_on)
    if kind == "invoice":
        method = paid["payments"][0]["method"] if paid["payments"] else None
        lines = [{"sku": line.get("sku"), "name": line.get("name"), "quantity": line["quantity"],
                  "unit_price": line.get("unit_price"), "tax_rate": line.get("tax_rate", "0"),
                  "total": line["total"]} for line in document["lines"]]
    else:
        method = next((r["method"] for r in paid["refunds"] if r["return_id"] == document.get("return_id")), None)
        invoice = billing.document_for(conn, "invoice", order_id)
        lines = rules.credit_note_lines(document["lines"], invoice["lines"] if invoice else [])
    if customer_id is not None:
        contact = {**customers.contacts(conn, customer_id),
                   "name": customers.names_of(conn, [customer_id]).get(customer_id)}
        contact_facts = {"customer": number, "name": contact.get("name"), "email": contact.get("email"),
                         "phone": contact.get("sms")}
        _insert(conn, clock, kind="contact", source=document["number"], facts=contact_facts,
                payload=rules.contact_document(number, contact_facts), reason=None, on=on)
    facts = {"kind": kind, "number": document["number"], "issued_on": issued_on, "currency": document["currency"],
             "customer": number, "payment_method": method, "invoice_number": document.get("invoice_number"),
             "order_id": order_id, "lines": lines, "totals": document["totals"]}
    try:
        payload, reason = rules.erp_document(mapping, facts), None
    except rules.Held as exc:
        payload, reason = None, str(exc)
    _insert(conn, clock, kind=kind, source=document["number"], facts=facts, payload=payload, reason=reason, on=on)


def record_shop_order(conn: Connection, clock: Clock, mapping: dict[str, Any], order: dict[str, Any]) -> None:
    """An order a shop (Shopify, WooCommerce) sold and invoices itself: the hub issues no invoice for it, but the
    ERP still gets the sale — a contact upsert and an invoice numbered with the hub's order number, dated the
    day it was sold, paid by the shop (`payment_methods` keyed by the shop system, e.g. `shopify`)."""
    external = order.get("external") or {}
    if order.get("status") == "cancelled":
        return
    customer_id = order.get("customer_id")
    if customer_id is not None:
        customer_id = customers.resolve_id(conn, customer_id) or customer_id
    number = _customer_number(conn, mapping, customer_id)
    issued_on = str(order["created_at"])[:10]
    on = date.fromisoformat(issued_on)
    if customer_id is not None:
        contact = {**customers.contacts(conn, customer_id),
                   "name": customers.names_of(conn, [customer_id]).get(customer_id)}
        contact_facts = {"customer": number, "name": contact.get("name"), "email": contact.get("email"),
                         "phone": contact.get("sms")}
        _insert(conn, clock, kind="contact", source=order["number"], facts=contact_facts,
                payload=rules.contact_document(number, contact_facts), reason=None, on=on)
    rates = {r["line_no"]: r["tax_rate"] for r in commerce.order_line_rows(conn, order["id"])}  # not in the event
    lines = [{"sku": line["sku"], "name": line.get("name"), "quantity": line["quantity"],
              "unit_price": line.get("unit_price"), "tax_rate": str(rates.get(line["line_no"], 0)),
              "total": line["total"]} for line in order["lines"]]
    totals = {k: order["totals"][k] for k in ("subtotal", "discount", "shipping", "shipping_tax", "tax", "total")
              if k in order["totals"]}
    facts = {"kind": "invoice", "number": order["number"], "issued_on": issued_on,
             "currency": order["totals"]["currency"], "customer": number,
             "payment_method": external.get("system"), "invoice_number": None,
             "order_id": order["id"], "lines": lines, "totals": totals}
    try:
        payload, reason = rules.erp_document(mapping, facts), None
    except rules.Held as exc:
        payload, reason = None, str(exc)
    _insert(conn, clock, kind="invoice", source=order["number"], facts=facts, payload=payload, reason=reason, on=on)


def _shop_credit_note(conn: Connection, clock: Clock, mapping: dict[str, Any], order: dict[str, Any], *,
                      source: str, number: str, lines: list[dict[str, Any]], total: str, on: date) -> None:
    """A credit note correcting the ERP invoice of a shop's order (numbered with the hub's order number)."""
    external = order.get("external") or {}
    customer_id = order.get("customer_id")
    if customer_id is not None:
        customer_id = customers.resolve_id(conn, customer_id) or customer_id
    facts = {"kind": "credit_note", "number": number, "issued_on": on.isoformat(),
             "currency": order["totals"]["currency"], "customer": _customer_number(conn, mapping, customer_id),
             "payment_method": external.get("system"), "invoice_number": order["number"],
             "order_id": order["id"], "lines": lines, "totals": {"total": total}}
    try:
        payload, reason = rules.erp_document(mapping, facts), None
    except rules.Held as exc:
        payload, reason = None, str(exc)
    _insert(conn, clock, kind="credit_note", source=source, facts=facts, payload=payload, reason=reason, on=on)


def _shop_invoice_recorded(conn: Connection, order_number: str) -> bool:
    return conn.execute(sa.select(D.id).where(D.kind == "invoice", D.source == order_number)).first() is not None


def record_shop_refund(conn: Connection, clock: Clock, mapping: dict[str, Any], event: dict[str, Any]) -> None:
    """A shop refunded (part of) an order it sold: the ERP gets a credit note for the money given back, the
    refunded units valued as the order charged them (rules.shop_refund_lines). Numbered `<order>-R<n>`, n the
    refund's place among the order's refunds; recorded once per shop refund id."""
    order = commerce.get_order(conn, event["id"])
    if not _shop_invoice_recorded(conn, order["number"]):
        return  # the ERP never got this sale (connected later): nothing to correct
    refund_id = str((event.get("external") or {}).get("refund_id"))
    known = [str(r.get("id")) for r in (order.get("external") or {}).get("refunds") or []]
    place = known.index(refund_id) + 1 if refund_id in known else len(known) + 1
    rates = {r["line_no"]: r["tax_rate"] for r in commerce.order_line_rows(conn, order["id"])}
    charged = [{"sku": ln["sku"], "name": ln.get("name"), "quantity": ln["quantity"], "total": ln["total"],
                "tax_rate": str(rates.get(ln["line_no"], 0))} for ln in order["lines"]]
    amount = Decimal(str(event["amount"]))
    lines = rules.shop_refund_lines(charged, [(r["sku"], r["quantity"]) for r in event.get("restocked") or []],
                                    amount)
    _shop_credit_note(conn, clock, mapping, order, source=f"{order['number']}/refund/{refund_id}",
                      number=f"{order['number']}-R{place}", lines=lines, total=str(amount),
                      on=clock.now().date())


def record_shop_cancellation(conn: Connection, clock: Clock, mapping: dict[str, Any], event: dict[str, Any]
                             ) -> None:
    """A shop cancelled an order it had not been paid for: the ERP invoice is reversed whole. A paid order's money
    goes back through the shop's refunds (`refunds/create`), each its own credit note, so nothing is doubled."""
    order = commerce.get_order(conn, event["id"])
    if not order.get("external") or order.get("payment_status") == "paid":
        return
    if not _shop_invoice_recorded(conn, order["number"]):
        return
    invoice = conn.execute(sa.select(D.facts).where(D.kind == "invoice", D.source == order["number"])).scalar()
    _shop_credit_note(conn, clock, mapping, order, source=f"{order['number']}/cancelled",
                      number=f"{order['number']}-C", lines=list(invoice["lines"]),
                      total=str(invoice["totals"]["total"]), on=clock.now().date())


class ErpRecorder:
    """The dispatcher's handler: billing documents become ERP documents (nothing when no ERP is configured)."""

    name = "erp"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        wanted = [e for e in events if e.type in EVENTS]
        if not wanted:
            return
        mapping = conn.execute(sa.select(erp_config.c.mapping).where(erp_config.c.id == 1)).scalar()
        if mapping is None:
            return
        for event in wanted:
            if event.type == "order.created":
                if event.data.get("external"):  # a hub order reaches the ERP when billing invoices it
                    record_shop_order(conn, self.clock, mapping, event.data)
                continue
            if event.type == "order.refunded":
                if event.data.get("external"):  # a hub order's refunds come as billing's credit notes
                    record_shop_refund(conn, self.clock, mapping, event.data)
                continue
            if event.type == "order.cancelled":
                record_shop_cancellation(conn, self.clock, mapping, event.data)
                continue
            record_document(conn, self.clock, mapping, event.type, event.data)
