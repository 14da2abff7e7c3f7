"""Running an import: stream the files through a mapping and write, in batches, through the owning rooms' use
cases — customers (get-or-create by external id), catalog (products, prices), inventory (locations, stock counts)
and commerce (imported orders, as history). Every row ends up imported, unchanged or rejected with a reason.

Rows of one order may be spread over the file (the superstore export is sorted by date, not by order), so when
the mapping groups rows into orders a first pass notes each order's last row: an order is written as soon as its
last row is read. Memory holds the orders still open and one small entry per order key, never the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.catalog import service as catalog
from omnihub.catalog.schemas import ProductCreate
from omnihub.commerce import imported as commerce_imported
from omnihub.connectors.imports import rules
from omnihub.connectors.imports.models import import_keys
from omnihub.connectors.imports.reading import Source, detect, header_and_rows, header_and_values
from omnihub.core.bulk import copy_rows, planned_each_time
from omnihub.core.clock import Clock
from omnihub.core.db import Database, PerEngine
from omnihub.core.errors import DomainError
from omnihub.customers import resolution as customer_resolution
from omnihub.inventory import stock as inventory_stock

BATCH_ORDERS = 2000
BATCH_ROWS = 5000
MAX_LISTED = 100_000  # rejected rows and dirty findings listed in the report (all are counted)
_KNOWN = PerEngine(lambda in_: sa.select(import_keys.c.external_key, import_keys.c.hub_id, import_keys.c.fingerprint)
                   .where(import_keys.c.system == sa.bindparam("b_system"),
                          import_keys.c.entity == sa.bindparam("b_entity"), in_(import_keys.c.external_key, "b_keys")))
_KEY_COLUMNS = ("system", "entity", "external_key", "hub_id", "fingerprint", "job_id", "created_at")
Progress = Callable[[int, int | None], None]


class _DryRun(Exception):
    """Raised to roll a dry run's single transaction back."""


@dataclass
class Report:
    """What happened to every row."""

    mapping: str
    files: list[str]
    dry_run: bool
    rows: int = 0
    imported: int = 0
    unchanged: int = 0
    rejected: int = 0
    created: dict[str, int] = field(default_factory=dict)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    dirty: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reject(self, file: str, line: int, reason: str) -> None:
        """Called by the reading thread (a row that cannot be read) and the writing one (an order refused)."""
        with self._lock:
            self.rejected += 1
            if len(self.rejections) < MAX_LISTED:
                self.rejections.append({"file": file, "line": line, "reason": reason})

    def rejected_rows(self) -> list[dict[str, Any]]:
        """The rejected rows in file order (orders are written when complete, so rejections come out of order)."""
        return sorted(self.rejections, key=lambda r: (self.files.index(r["file"]) if r["file"] in self.files
                                                      else 0, r["line"]))

    def as_dict(self) -> dict[str, Any]:
        return {"mapping": self.mapping, "files": self.files, "dry_run": self.dry_run,
                "rows": {"read": self.rows, "imported": self.imported, "unchanged": self.unchanged,
                         "rejected": self.rejected},
                "created": self.created, "rejected": self.rejected_rows(), "dirty": self.dirty[:MAX_LISTED]}


@dataclass
class _Row:
    file: str
    line: int
    values: dict[str, dict[str, Any]]  # entity → fields


@dataclass
class _Order:
    key: str
    fields: dict[str, Any]
    rows: list[_Row] = field(default_factory=list)


@dataclass(slots=True)
class _Staged:
    """A complete order as the reading thread leaves it: its fields, fingerprint and rows ready to write."""

    order: _Order
    item: dict[str, Any]
    fingerprint: str
    prepared: commerce_imported.PreparedOrder | None  # None: known when staged (a re-run), not to be written


@dataclass
class _Batch:
    """What one write takes over from the reading thread: complete orders, loose rows and the customers and
    products first seen since the last batch. The reader starts new lists; only the writer touches these."""

    orders: list[_Staged]
    loose: list[_Row]
    customers: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    rows_read: int  # rows read when it was handed over: the progress once it is written


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


ORDER_PRINT = "3:"  # order fingerprints: sha256 of the repr of a fixed tuple (DuckDB computes it natively, set-wise)
_BLAKE_PRINT = "2:"  # the same tuple by blake2b, written by imports before the columnar path (still recognised)
_PRINT_HEX = 62  # hex digits kept: 64 characters like `_fingerprint`


def _order_shape(item: dict[str, Any], customer: Any) -> bytes:
    lines = [(ln["sku"], ln["name"], ln["category"], ln["quantity"], ln["total"], ln["unit_price"], ln["discount"])
             for ln in item["lines"]]
    shape = (item["number"], item["placed_at"], customer, item["currency"], item["status"], item["shipping"], lines)
    return repr(shape).encode()


def shape_fingerprint(shape: bytes) -> str:
    """The fingerprint of an order's shape (`_order_shape`, or the same text spelt by the columnar path)."""
    return ORDER_PRINT + hashlib.sha256(shape).hexdigest()[:_PRINT_HEX]


def _order_fingerprint(item: dict[str, Any], customer: Any) -> str:
    """What an imported order was, to tell "unchanged" from "imported before with other content" on a re-run.
    64 characters like `_fingerprint`, which orders imported before carry (still recognised: `_same_order`)."""
    return shape_fingerprint(_order_shape(item, customer))


def _same_order(stored: str, fingerprint: str, item: dict[str, Any], customer: Any) -> bool:
    if stored.startswith(ORDER_PRINT):
        return stored == fingerprint
    if stored.startswith(_BLAKE_PRINT):
        return stored == _BLAKE_PRINT + hashlib.blake2b(_order_shape(item, customer), digest_size=31).hexdigest()
    return stored == _fingerprint({**{k: v for k, v in item.items() if k != "customer"}, "customer_id": customer})


_text = rules.as_text
_DECIMAL = rules.decimal_reader(".")


def parse_row(reader: rules.RowReader, row: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """One row's entities as the importer takes them (whole quantities above 0, amounts as Decimal, dates with a
    time zone); a `RowError` names what cannot be read. The row path and the columnar path both judge rows here."""
    values = reader.read(row)
    line_ = values.get("order_line")
    if line_ is not None:
        if type(line_["quantity"]) is not int:
            line_["quantity"] = rules.to_integer(line_["quantity"])
        if line_["quantity"] is None or line_["quantity"] <= 0:
            raise rules.RowError("order_line.quantity must be a whole number above 0")
        for money in ("total", "unit_price", "discount"):
            amount = line_.get(money)
            if amount is not None and type(amount) is not Decimal:
                line_[money] = _DECIMAL(amount)
    order = values.get("order")
    if order is not None and not hasattr(order["placed_at"], "tzinfo"):
        raise rules.RowError("order.placed_at is not a date (add a date transform)")
    return values


class Importer:
    """One import run. `run()` returns the report; `progress(done, total)` is called as rows are handled."""

    def __init__(self, db: Database, clock: Clock, mapping: rules.Mapping_, paths: Sequence[Path], *,
                 dry_run: bool = False, progress: Progress | None = None, job_id: str | None = None,
                 columnar: bool = True) -> None:
        self.db, self.clock, self.mapping, self.dry_run = db, clock, mapping, dry_run
        self.paths = [Path(p) for p in paths]
        self.progress = progress or (lambda done, total: None)
        self.job_id = job_id
        self.columnar = columnar and not os.environ.get("OMNIHUB_IMPORT_ROW_PATH")
        self.path = "rows"  # the path that ran: "rows" or "columnar" (`columnar.run`)
        self.report = Report(mapping.name, [p.name for p in self.paths], dry_run)
        self.entities = mapping.entities
        self.order_rule = self.entities.get("order")
        self.customers: dict[str, str] = {}  # external customer key → hub id
        self.products: set[str] = set()  # SKUs known to exist
        self.failed_products: dict[str, str] = {}
        self.conflicts = {"product_name": rules.Conflicts("one product, several names"),
                          "customer_name": rules.Conflicts("one customer, several names")}
        self.pending_customers: dict[str, dict[str, Any]] = {}
        self.pending_products: dict[str, dict[str, Any]] = {}
        self.ready: list[_Order] = []
        self.loose: list[_Row] = []  # rows without an order: their own entities decide
        self.channel: dict[str, Any] | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None  # the batch being written
        self._rows_written = 0  # rows read up to the end of the last batch written

    # --- the run ------------------------------------------------------------------------------------------------

    def run(self) -> Report:
        sources = [detect(p) for p in self.paths]
        for source in sources:
            header, rows = header_and_rows(source)
            rows.close()  # type: ignore[attr-defined]
            missing = rules.missing_columns(self.mapping, header)
            if missing:
                raise rules.MappingError(0, f"{source.path.name}: columns not in the file: {', '.join(missing)}")
        if self.columnar:
            from omnihub.connectors.imports import columnar  # DuckDB is loaded only when the path may be used

            if columnar.run(self, sources):
                return self.report
        ends, total = self._first_pass(sources) if self.order_rule else (bytearray(), None)
        with self._transactions() as begin:
            self._begin = begin
            self._with_channel()
            self._second_pass(sources, ends, total)
        self.report.dirty.extend(c for conflicts in self.conflicts.values() for c in conflicts.found)
        return self.report

    @contextmanager
    def _transactions(self) -> Iterator[Callable[[], Any]]:
        """Batches commit one by one; a dry run keeps everything in one transaction and rolls it back."""
        if not self.dry_run:
            yield self.db.transaction
            return
        try:
            with self.db.transaction() as conn:
                @contextmanager
                def same() -> Iterator[Connection]:
                    with conn.begin_nested():
                        yield conn
                yield same
                raise _DryRun
        except _DryRun:
            pass

    def _with_channel(self) -> None:
        with self.db.read() as conn:
            try:
                self.channel = catalog_queries.get_channel(conn, self.mapping.channel, field="channel")
            except DomainError:
                raise rules.MappingError(0, f"channel {self.mapping.channel!r} does not exist: create it first"
                                         ) from None

    def _rows(self, sources: Sequence[Source]) -> Iterator[tuple[str, int, list[Any], rules.RowReader]]:
        for source in sources:
            header, rows = header_and_values(source)
            reader = rules.RowReader(self.mapping, header)
            for line, values in rows:
                yield source.path.name, line, values, reader

    def _first_pass(self, sources: Sequence[Source]) -> tuple[bytearray, int]:
        """Which rows are the last of their order (a bit per row, by position over all files). The pass holds
        one entry per order key (its last position so far), dropped before the rows are written."""
        assert self.order_rule is not None
        group = self.order_rule.fields[self.order_rule.group_by or self.order_rule.key]
        last: dict[str, int] = {}
        position = -1
        for source in sources:
            header, rows = header_and_values(source)
            read = rules.field_reader(group, header)
            for _, values in rows:
                position += 1
                try:
                    key = read(values)
                except rules.RowError:
                    continue
                if key is not None and key != "":
                    last[key if type(key) is str else str(_text(key))] = position
        ends = bytearray((position + 1 + 7) // 8)
        for at in last.values():
            ends[at >> 3] |= 1 << (at & 7)
        return ends, position + 1

    def _second_pass(self, sources: Sequence[Source], ends: bytearray, total: int | None) -> None:
        """Reading and writing overlap: while one batch is written (the writing thread mostly waits on the
        database), the next is read. At most one batch is being written and one being read, so memory stays
        flat; batches are written in file order, one after the other, each in its own transaction."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") as writer:
            self._writer, self._writing = writer, None
            try:
                self._read_all(sources, ends, total)
            finally:
                writing, self._writing = self._writing, None
                self._writer = None
                if writing is not None:
                    writing.result()
        self.progress(self.report.rows, total)

    def _read_all(self, sources: Sequence[Source], ends: bytearray, total: int | None) -> None:
        open_orders: dict[str, _Order] = {}
        for position, (file, line, row, reader) in enumerate(self._rows(sources)):
            self.report.rows += 1
            parsed = self._read(file, line, row, reader)
            if parsed is not None:
                if self.order_rule is None:
                    self.loose.append(parsed)
                else:
                    key = str(parsed.values["order"][self.order_rule.group_by or self.order_rule.key])
                    order = open_orders.get(key)
                    if order is None:
                        order = open_orders[key] = _Order(key, parsed.values["order"])
                    elif order.fields.get("customer") != parsed.values["order"].get("customer"):
                        self._dirty({"what": "one order, several customers", "key": key,
                                     "kept": order.fields.get("customer"), "kept_from_line": order.rows[0].line,
                                     "other": parsed.values["order"].get("customer"), "line": line, "file": file})
                    order.rows.append(parsed)
                    if ends[position >> 3] & (1 << (position & 7)):
                        self.ready.append(open_orders.pop(key))
            if len(self.ready) >= BATCH_ORDERS or len(self.loose) >= BATCH_ROWS:
                self._flush(total)
        for order in open_orders.values():  # only when a key could not be read in the first pass
            self.ready.append(order)
        self._flush(total)

    def _dirty(self, finding: dict[str, Any]) -> None:
        if len(self.report.dirty) < MAX_LISTED:
            self.report.dirty.append(finding)

    # --- reading one row ----------------------------------------------------------------------------------------

    def _read(self, file: str, line: int, row: list[Any], reader: rules.RowReader) -> _Row | None:
        try:
            values = parse_row(reader, row)
        except rules.RowError as exc:
            self.report.reject(file, line, str(exc))
            return None
        customer = values.get("customer")
        if customer is not None:
            key = str(customer["customer_id"])
            if self.conflicts["customer_name"].see(key, customer.get("name"), line):
                self.pending_customers.setdefault(key, customer)
        product = values.get("product")
        if product is not None:
            sku = str(product["sku"])
            if self.conflicts["product_name"].see(sku, product.get("name"), line):
                self.pending_products.setdefault(sku, product)
            else:
                values["product"] = self.pending_products.get(sku) or {**product, "name":
                                                                       self.conflicts["product_name"].kept[sku][0]}
        return _Row(file, line, values)

    # --- writing a batch ----------------------------------------------------------------------------------------

    def _flush(self, total: int | None) -> None:
        """Hand what was read to the writing thread, once the previous batch is written (its error, if any, is
        raised here and stops the import). A dry run writes in this thread: its one transaction is this one's."""
        if not (self.ready or self.loose or self.pending_customers or self.pending_products):
            return
        batch = _Batch(self._stage(self.ready), self.loose, self.pending_customers, self.pending_products,
                       self.report.rows)
        self.ready, self.loose, self.pending_customers, self.pending_products = [], [], {}, {}
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()
        self.progress(self._rows_written, total)  # no write in flight: a progress write never waits on a batch
        if self.dry_run or self._writer is None:
            self._write(batch)
        else:
            self._writing = self._writer.submit(self._write, batch)

    def _write(self, batch: _Batch) -> None:
        with self._begin() as conn, planned_each_time(conn):
            created_customers = self._write_customers(conn, batch.customers)
            created_products = self._write_products(conn, batch.products)
            self._write_orders(conn, batch.orders)
            self._write_loose(conn, batch.loose, created_customers | created_products)
        self._rows_written = batch.rows_read

    def _known(self, conn: Connection, entity: str, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        if not keys:
            return {}
        found = conn.execute(_KNOWN(conn), {"b_system": self.mapping.system, "b_entity": entity,
                                            "b_keys": list(keys)})
        return {key: (hub, fingerprint) for key, hub, fingerprint in found}

    def _remember(self, conn: Connection, entity: str, rows: list[tuple[str, str, str]]) -> None:
        if rows:
            now, system, job = self.clock.now(), self.mapping.system, self.job_id
            copy_rows(conn, import_keys, _KEY_COLUMNS, [(system, entity, key, hub, fp, job, now)
                                                         for key, hub, fp in rows])

    def _count(self, what: str, n: int = 1) -> None:
        self.report.created[what] = self.report.created.get(what, 0) + n

    def _write_customers(self, conn: Connection, seen: dict[str, dict[str, Any]]) -> set[str]:
        pending = {k: v for k, v in seen.items() if k not in self.customers}
        known = self._known(conn, "customer", list(pending))
        for key in known:
            self.customers[key] = known[key][0]
        fresh = [(key, fields) for key, fields in pending.items() if key not in known]
        people = []
        for key, fields in fresh:
            identities: list[dict[str, Any]] = [{"kind": "external", "system": self.mapping.system, "value": key}]
            if fields.get("email"):
                identities.append({"kind": "email", "value": fields["email"]})
            if fields.get("phone"):
                identities.append({"kind": "phone", "value": fields["phone"]})
            people.append((fields.get("name"), identities))
        ids = customer_resolution.create_customers(conn, self.clock, people, channel=self.mapping.channel,
                                                   actor="import")
        remember = []
        for (key, fields), cid in zip(fresh, ids, strict=True):
            self.customers[key] = cid
            remember.append((key, cid, _fingerprint(fields)))
        self._remember(conn, "customer", remember)
        self._count("customers", len(remember))
        return {f"customer:{key}" for key, _ in fresh}

    def _write_products(self, conn: Connection, seen: dict[str, dict[str, Any]]) -> set[str]:
        pending = {k: v for k, v in seen.items() if k not in self.products}
        rows = []
        for sku, fields in pending.items():
            try:
                checked = ProductCreate.model_validate({
                    "sku": sku, "name": fields["name"], "category": fields.get("category") or "imported",
                    **({"barcode": fields["barcode"]} if fields.get("barcode") else {})})
            except ValidationError as exc:
                problem = exc.errors()[0]
                self.failed_products[sku] = f"product.{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                continue
            rows.append(checked.model_dump(exclude_none=True))
        try:
            with conn.begin_nested():
                created = catalog.create_products(conn, self.clock, rows)
        except DomainError:  # a barcode taken: one by one, so only that product fails
            created = []
            for row in rows:
                try:
                    with conn.begin_nested():
                        created += catalog.create_products(conn, self.clock, [row])
                except DomainError as exc:
                    self.failed_products[row["sku"]] = exc.detail
        self.products.update(row["sku"] for row in rows if row["sku"] not in self.failed_products)
        self._remember(conn, "product", [(sku, sku, _fingerprint(pending[sku])) for sku in created])
        self._count("products", len(created))
        return {f"product:{sku}" for sku in created}

    def _order_item(self, order: _Order) -> dict[str, Any]:
        fields = order.fields
        customer = fields.get("customer")
        lines = []
        for row in order.rows:
            line = row.values["order_line"]
            product = row.values.get("product") or {}
            lines.append({"sku": line["sku"], "name": line.get("name") or product.get("name"),
                          "category": line.get("category") or product.get("category"),
                          "quantity": line["quantity"], "total": line["total"],
                          "unit_price": line.get("unit_price"), "discount": line.get("discount")})
        return {"number": str(fields["number"]), "placed_at": fields["placed_at"],
                "customer": None if customer in (None, "") else str(customer),
                "currency": fields.get("currency") or self.mapping.currency, "status": fields.get("status"),
                "shipping": fields.get("shipping"), "lines": lines}

    def _stage(self, ready: list[_Order]) -> list[_Staged]:
        """Complete orders made ready to write, in the reading thread (the writing one waits on the database)."""
        return self._stage_items([(order, self._order_item(order)) for order in ready])

    def _stage_items(self, ready: list[tuple[_Order, dict[str, Any]]],
                     known: frozenset[str] = frozenset()) -> list[_Staged]:
        """`_stage` for orders whose items are built (the columnar path builds them from its own rows). Orders
        whose keys are `known` (imported before: a re-run) get their fingerprint only — nothing to prepare."""
        staged = []
        for order, item in ready:
            if item["status"] and item["status"] not in commerce_imported.STATUSES:
                self._reject_order(order, f"order status {item['status']!r} is not an order status")
                continue
            staged.append((order, item, _order_fingerprint(item, order.fields.get("customer"))))
        fresh = iter(self._prepare([item for order, item, _ in staged if order.key not in known]))
        return [_Staged(order, item, fingerprint, None if order.key in known else next(fresh))
                for order, item, fingerprint in staged]

    def _prepare(self, items: list[dict[str, Any]]) -> list[commerce_imported.PreparedOrder]:
        assert self.channel is not None
        return commerce_imported.prepare_imported_orders(
            self.clock, items, channel=self.mapping.channel,
            prices_include_tax=bool(self.channel.get("prices_include_tax", True)), source=self.mapping.system)

    def _customer_id(self, customer: str | None) -> str | None:
        return None if customer is None else self.customers.get(customer)

    def _write_orders(self, conn: Connection, staged: list[_Staged]) -> None:
        if not staged:
            return
        known = self._known(conn, "order", [s.order.key for s in staged])
        fresh: list[_Staged] = []
        for one in staged:
            order = one.order
            if order.key in known:
                if _same_order(known[order.key][1], one.fingerprint, one.item, order.fields.get("customer")):
                    self.report.unchanged += len(order.rows)
                else:
                    self._reject_order(order, f"order {order.key} was imported before with other content; "
                                              "imported history is not rewritten")
                continue
            bad = next((line["sku"] for line in one.item["lines"] if line["sku"] in self.failed_products), None)
            if bad is not None:
                self._reject_order(order, f"product {bad} could not be created: {self.failed_products[bad]}")
                continue
            fresh.append(one)
        taken = commerce_imported.numbers_taken(conn, [one.item["number"] for one in fresh])
        writable = []
        for one in fresh:
            if one.item["number"] in taken:
                self._reject_order(one.order, f"order number {one.item['number']} is already used by another order")
            else:
                writable.append(one)
        late = [one for one in writable if one.prepared is None]  # known when staged, no longer (never, so far)
        for one, prepared in zip(late, self._prepare([one.item for one in late]), strict=True):
            one.prepared = prepared
        ids = commerce_imported.write_imported_orders(conn, self.clock, [one.prepared for one in writable
                                                                         if one.prepared is not None],
                                                      self._customer_id)
        self._remember(conn, "order", [(one.order.key, oid, one.fingerprint)
                                       for one, oid in zip(writable, ids, strict=True)])
        self._count("orders", len(ids))
        self.report.imported += sum(len(one.order.rows) for one in writable)

    def _reject_order(self, order: _Order, reason: str) -> None:
        for row in order.rows:
            self.report.reject(row.file, row.line, reason)

    def _write_loose(self, conn: Connection, loose: list[_Row], created: set[str]) -> None:
        """Rows that make no order: customers, products, prices, stock counts, locations."""
        for row in loose:
            wrote = False
            try:
                with conn.begin_nested():
                    wrote = self._write_row_entities(conn, row, created)
            except DomainError as exc:
                self.report.reject(row.file, row.line, exc.detail)
                continue
            if wrote:
                self.report.imported += 1
            else:
                self.report.unchanged += 1

    def _write_row_entities(self, conn: Connection, row: _Row, created: set[str]) -> bool:
        wrote = False
        customer, product = row.values.get("customer"), row.values.get("product")
        if customer is not None and f"customer:{customer['customer_id']}" in created:
            created.discard(f"customer:{customer['customer_id']}")
            wrote = True
        if product is not None:
            if product["sku"] in self.failed_products:
                raise DomainError("product_not_created", self.failed_products[product["sku"]])
            if f"product:{product['sku']}" in created:
                created.discard(f"product:{product['sku']}")
                wrote = True
        location = row.values.get("location")
        if location is not None:
            code = str(location["code"])
            if code not in inventory_queries_codes(conn, [code]):
                inventory_stock.create_location(conn, self.clock, {"code": code, "name": location["name"],
                                                                   "kind": location.get("kind") or "warehouse"})
                self._count("locations")
                wrote = True
        for entity, key in (("price", "sku"), ("stock", "sku")):
            fields = row.values.get(entity)
            if fields is None:
                continue
            ext = f"{fields.get('location', self.mapping.channel)}/{fields[key]}"
            fingerprint = _fingerprint(fields)
            known = self._known(conn, entity, [ext])
            if known.get(ext, ("", ""))[1] == fingerprint:
                continue
            if entity == "price":
                amount = rules.decimal_reader(".")(fields["price"])
                catalog.set_prices(conn, self.clock, self.mapping.channel, [(str(fields["sku"]), amount)])
            else:
                quantity = rules.to_integer(fields["quantity"])
                if quantity is None or quantity < 0:
                    raise DomainError("invalid_quantity", "stock.quantity must be a whole number, 0 or more")
                inventory_stock.set_stock(conn, self.clock, location=str(fields["location"]),
                                          sku=str(fields["sku"]), on_hand=quantity,
                                          reason=f"import {self.mapping.system}", actor="import")
            conn.execute(import_keys.delete().where(import_keys.c.system == self.mapping.system,
                                                    import_keys.c.entity == entity,
                                                    import_keys.c.external_key == ext))
            self._remember(conn, entity, [(ext, str(fields[key]), fingerprint)])
            self._count(entity + "s")
            wrote = True
        return wrote


def inventory_queries_codes(conn: Connection, codes: Sequence[str]) -> set[str]:
    from omnihub.inventory import queries as inventory_queries

    return inventory_queries.existing_location_codes(conn, codes)
