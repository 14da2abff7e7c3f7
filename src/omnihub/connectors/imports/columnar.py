"""The columnar import path: an order export (customers, products, orders and their lines, from one UTF-8 CSV) on
PostgreSQL, staged in DuckDB instead of read row by row in Python.

Why: the row path spends most of its time in Python per row (read, transform, group, find dirty data). Here DuckDB
reads the file into a temporary database (bounded memory: it spills to disk next to it), each field's transforms
run once per DISTINCT input value — through the very functions the row path uses (`rules`, `parse_row`), so a
value comes out identical — and the set-wise work (rejections, orders grouped by key, one order with several
customers, one key with several names) is SQL. Python then only builds each order from its ready values and
hands batches to the row path's writers (same customers, products, commerce and import_keys writes, same
fingerprints), so the report and what is written are the row path's; a re-run of either path sees the other's
rows as unchanged.

Anything this path does not cover returns False from `run` before a row is written, and the row path runs:
SQLite, dry runs, Excel, several files, non-UTF-8 files, entities other than customer/product/order/order_line,
fields it does not know (order shipping), line breaks inside quoted values or blank lines (line numbers would no
longer be DuckDB's row positions), a file DuckDB's strict reader refuses, DuckDB running out of memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from duckdb import sqltypes

from omnihub.commerce import imported as commerce_imported
from omnihub.commerce import imported_columnar as commerce_columnar
from omnihub.connectors.imports import columnar_fingerprints as fingerprints
from omnihub.connectors.imports import rules
from omnihub.connectors.imports.models import import_keys
from omnihub.connectors.imports.reading import Source, header_and_values
from omnihub.connectors.imports.service import (
    _KEY_COLUMNS,
    MAX_LISTED,
    ORDER_PRINT,
    Importer,
    _Batch,
    _Order,
    _Row,
    parse_row,
)
from omnihub.core.bulk import copy_csv_file, planned_each_time
from omnihub.core.db import block_id_sql, new_id_block

BATCH_ORDERS = 5000  # orders per write (one COPY per table): two batches are in memory at once
# rows of the file staged at a time, at most (the x50 export, 509,700 rows, fits the pool in one piece; the x100
# did not)
STAGE_ROWS = 520_000
# the file named in the statement, not bound as a parameter: bound, DuckDB read a 2 MB file in 0.35 s instead of 0.02
# and held 60-100 MB more; 1 MiB buffers rather than 32 (a line longer than that: the row path's)
CSV_BUFFER = 1 << 20
FETCH = 8192  # rows taken from DuckDB at a time
CUSTOMER_BATCH = 5000
SET_WISE_ORDERS = 25000  # orders per transaction of the set-wise writer (its COPY files are this big)
LOADERS = 2  # chunks PostgreSQL loads at once, each on its own connection: one backend per core
MEMORY_LIMIT = "128MB"  # DuckDB spills to its temp directory past this: memory does not grow with the file
# in memory (bounded by MEMORY_LIMIT, spilling to the temp directory) unless asked for a database file: the file
# is written and checkpointed for nothing, the staging is thrown away at the end
ON_DISK = os.environ.get("OMNIHUB_IMPORT_DUCKDB_FILE") == "1"
FIELDS: dict[str, frozenset[str]] = {  # what this path builds; another field sends the import down the row path
    "customer": frozenset({"customer_id", "name", "email", "phone"}),
    "product": frozenset({"sku", "name", "category", "barcode"}),
    "order": frozenset({"number", "placed_at", "customer", "status", "currency"}),
    "order_line": frozenset({"sku", "quantity", "total", "unit_price", "discount", "name", "category"}),
}
_MONEY = frozenset({"total", "unit_price", "discount"})


class _Unsupported(Exception):
    """This file or mapping is the row path's (raised before anything is written)."""


def run(importer: Importer, sources: Sequence[Source]) -> bool:
    """Import through the columnar path when it covers this run; False (nothing written) when it does not."""
    if not _covers(importer, sources):
        return False
    with tempfile.TemporaryDirectory(prefix="omnihub-import-duckdb-") as folder:
        stage = _Stage(importer, sources[0], Path(folder))
        try:
            stage.load()
            stage.prepare()
        except (_Unsupported, duckdb.Error):
            stage.close()
            return False
        importer.path = "columnar"
        try:
            stage.write()
        finally:
            stage.close()
    return True


def _covers(importer: Importer, sources: Sequence[Source]) -> bool:
    entities = importer.mapping.entities
    return (importer.db.engine.dialect.name == "postgresql" and not importer.dry_run and len(sources) == 1
            and sources[0].kind == "csv" and sources[0].encoding == "utf-8-sig"
            and {"order", "order_line"} <= set(entities) <= set(FIELDS)
            and all(set(rule.fields) <= FIELDS[name] for name, rule in entities.items()))


def _encode(entity: str, name: str, value: Any) -> str | None:
    """A field's value as the row path holds it, as text DuckDB keeps: `v` + text, `b` + text for a blank text (a
    value, but not enough for a required field). Values this path cannot hold as text are the row path's."""
    if value is None:
        return None
    if name in rules.TEXT_FIELDS:
        if type(value) is not str:
            raise _Unsupported
        return ("b" if not value.strip() else "v") + value
    if entity == "order_line" and name == "quantity" and type(value) is int:
        return f"v{value}"
    if entity == "order_line" and name in _MONEY and type(value) is Decimal:
        return f"v{value}"
    if entity == "order" and name == "placed_at" and type(value) is datetime and value.tzinfo is UTC:
        return "v" + value.isoformat()
    raise _Unsupported


def chunk_bounds(count: int, size: int) -> Iterator[tuple[int, int]]:
    """(low, high] rank ranges of the set-wise writer's chunks: a fifth of `size` first, so PostgreSQL starts
    loading while DuckDB builds the rest, then `size` each."""
    low, first = 0, max(1, size // 5)
    while low < count:
        high = low + (first if low == 0 else size)
        yield low, min(high, count)
        low = high


def _field_function(entity: str, name: str, rule: rules.FieldRule) -> Callable[..., str | None]:
    """The row path's reading of one field (`FieldRule` transforms, text as text, the checks of `parse_row`) as a
    function of the field's columns: `e` when the row path rejects a row for this value alone."""
    read = rules.field_reader(rule, list(rule.columns))
    text = name in rules.TEXT_FIELDS
    decimal = rules.decimal_reader(".")

    def apply(values: list[Any]) -> str | None:
        try:
            value = read(values)
            if text and value is not None and type(value) is not str:
                value = rules.as_text(value)
            if entity == "order_line" and name == "quantity":
                if type(value) is not int:
                    value = rules.to_integer(value)
                if value is None or value <= 0:
                    return "e"
            elif entity == "order_line" and name in _MONEY and value is not None and type(value) is not Decimal:
                value = decimal(value)
            elif entity == "order" and name == "placed_at" and value is not None and not hasattr(value, "tzinfo"):
                return "e"
        except rules.RowError:
            return "e"
        return _encode(entity, name, value)
    return apply


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lines(path: Path) -> int:
    """Lines in the file (a last line without its line break counts)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


class _Stage:
    """The file in a temporary DuckDB database and the queries over it."""

    def __init__(self, importer: Importer, source: Source, folder: Path) -> None:
        self.importer, self.source, self.file = importer, source, source.path.name
        self.db = duckdb.connect(str(folder / "import.duckdb") if ON_DISK else ":memory:")
        self.db.execute("SET enable_progress_bar = false")
        self.db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self.db.execute(f"SET temp_directory = '{folder / 'spill'}'")
        self.db.execute("SET preserve_insertion_order = true")
        # one thread: with two, the joins of the x50 export ran out of memory at 128 MB (each thread holds its
        # own buffers), and the second core is PostgreSQL's
        self.db.execute("SET threads = 1")
        self.fields: list[tuple[str, str, str]] = []  # (entity, field, column in table g)
        self.total = 0
        self.set_wise = False  # `prepare`: the set-wise writer covers the file
        self.done = 0  # rows written (imported or not) by the set-wise writer
        self.counting = threading.Lock()  # `done` and the report's counts, added to by the loaders too

    def close(self) -> None:
        self.db.close()

    def col(self, entity: str, name: str) -> str | None:
        return next((c for e, n, c in self.fields if e == entity and n == name), None)

    # --- staging ----------------------------------------------------------------------------------------------

    def load(self) -> None:
        """The file into table `raw` (every column text, `n` its line), each field's value per row into `t`, the
        readable rows into `g`. Raises `_Unsupported` for what the row path must read."""
        header, rows = header_and_values(self.source)
        rows.close()  # type: ignore[attr-defined]
        if len(set(header)) != len(header):
            raise _Unsupported
        self.header = header
        used = sorted({at for at, column in enumerate(header) if column in self.importer.mapping.columns()})
        names = {header[at]: f"c{at}" for at in used}
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
        delimiter = (self.source.delimiter or ",").replace("'", "''")
        # NULL and '' are the same to every transform (an empty cell): '' keeps the joins below plain equalities
        self.db.execute(
            f"CREATE TABLE raw AS SELECT {', '.join(f'coalesce(c{at}, {chr(39) * 2}) AS c{at}' for at in used)} "
            f"FROM read_csv({_literal(str(self.source.path))}, header = true, auto_detect = false, "
            f"columns = {columns}, delim = '{delimiter}', "
            f"quote = '\"', escape = '\"', null_padding = true, strict_mode = true, encoding = 'utf-8', "
            f"buffer_size = {CSV_BUFFER})")
        self.total = self._one("SELECT count(*) FROM raw")
        if _lines(self.source.path) != self.total + 1:  # a line break inside a value, or blank lines
            raise _Unsupported
        if self._one(f"SELECT count(*) FROM raw WHERE regexp_matches({' || '.join(f'c{at}' for at in used)}, "
                     "'^\\s*$')"):
            raise _Unsupported  # a row of blanks is no row for the row path, a row empty where read is rejected
        selects, joins, bad = ["r.rowid + 2 AS n"], [], []
        for entity, rule in self.importer.mapping.entities.items():
            for name, field in rule.fields.items():
                at = len(self.fields)
                self.fields.append((entity, name, f"x{at}"))
                apply = _field_function(entity, name, field)
                if field.columns:
                    cols = [names[c] for c in field.columns]
                    self.db.create_function(f"f{at}", apply, [sqltypes.DuckDBPyType(list[str])], sqltypes.VARCHAR,
                                            null_handling="special", side_effects=False)
                    listed = ", ".join(cols)
                    # the value's tag and text split once per distinct value, not once per row
                    self.db.execute(f"CREATE TABLE m{at} AS SELECT {listed}, v[1] AS tag, v[2:] AS val FROM (SELECT "
                                    f"{listed}, f{at}([{listed}]) AS v FROM (SELECT DISTINCT {listed} FROM raw))")
                    joins.append(f"JOIN m{at} ON " + " AND ".join(f"r.{c} = m{at}.{c}" for c in cols))
                    tag, text = f"m{at}.tag", f"m{at}.val"
                else:
                    constant = apply([])
                    tag, text = ("NULL::VARCHAR", "NULL::VARCHAR") if constant is None else (
                        _literal(constant[:1]), _literal(constant[1:]))
                selects.append(f"{text} AS x{at}")
                bad.append(f"{tag} IS DISTINCT FROM 'v'" if name in rules.REQUIRED[entity] else f"{tag} = 'e'")
        # from here every row carries its line (n) and every query that needs an order says it (ORDER BY): keeping
        # tables in insertion order would hold joins' and aggregates' output in memory
        self.db.execute("SET preserve_insertion_order = false")
        # in pieces of the file: a join of every row with every field's table at once outgrows MEMORY_LIMIT
        # (a million rows ran out at 128 MB)
        build = f"SELECT {', '.join(selects)}, {' OR '.join(bad)} AS bad FROM raw r {' '.join(joins)}"
        pieces = max(1, -(-self.total // STAGE_ROWS))
        size = -(-self.total // pieces)  # even pieces: each join builds every field's table again
        for at in range(pieces):
            # the bounds spelt out, not bound as parameters: bound, the one-piece join took half as long again
            piece = build if pieces == 1 else f"{build} WHERE r.rowid >= {at * size} AND r.rowid < {(at + 1) * size}"
            self.db.execute(f"INSERT INTO t {piece}" if at else f"CREATE TABLE t AS {piece}")
        self.db.execute("CREATE VIEW g AS SELECT * FROM t WHERE NOT bad")
        self.used = used
        self._rejections()
        self.db.execute("DROP TABLE raw")  # what follows reads `t` only: its memory goes back to DuckDB's pool

    def _one(self, sql: str) -> Any:
        row = self.db.execute(sql).fetchone()
        assert row is not None
        return row[0]

    def _rejections(self) -> None:
        """The rows the row path rejects, with its reasons: only these rows are read in Python (by `parse_row`).
        A row the set-wise test and `parse_row` judge differently sends the import down the row path."""
        reader = rules.RowReader(self.importer.mapping, self.header)
        width = len(self.header)
        found = []
        cols = ", ".join(f"r.c{at}" for at in self.used)
        cursor = self.db.execute(f"SELECT t.n, {cols} FROM raw r JOIN t ON t.n = r.rowid + 2 WHERE t.bad ORDER BY t.n")
        while chunk := cursor.fetchmany(FETCH):
            for n, *values in chunk:
                row: list[Any] = [None] * width
                for at, value in zip(self.used, values, strict=True):
                    row[at] = value
                try:
                    parse_row(reader, row)
                except rules.RowError as exc:
                    found.append((n, str(exc)))
                else:
                    raise _Unsupported
        self.rejected = found

    # --- writing ----------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """The whole-file tables the writes read (orders, lines, fingerprints' parts) and whether the set-wise
        writer covers the file: DuckDB only, before anything is written — running out of memory here (a file too
        large for MEMORY_LIMIT) sends the import down the row path instead of failing it halfway."""
        self._orders_tables()
        self.set_wise = commerce_columnar.covers(self.db, "lns") and not self._one(
            "SELECT count(*) - count(DISTINCT number) + count(*) FILTER (WHERE placed IS NULL) FROM ords")
        if self.set_wise:
            fingerprints.build_parts(self.db)

    def write(self) -> None:
        """Customers and products first (each batch of orders finds them written), then the orders in batches —
        each written while the next one is built."""
        imp = self.importer
        imp._with_channel()
        imp.report.rows = self.total
        for line, reason in self.rejected:
            imp.report.reject(self.file, line, reason)
        imp.progress(0, self.total)
        self._dirty()
        self._write_firsts("customer", "customer_id", lambda conn, batch: imp._write_customers(conn, batch))
        self._write_firsts("product", "sku", lambda conn, batch: imp._write_products(conn, batch))
        imp._begin = imp.db.transaction
        only = self._write_set_wise()
        self._write_batches(only)
        imp.progress(self.total, self.total)

    def _write_batches(self, only: str | None) -> None:
        """Orders through the row path's writers (all of them, or those of table `only`), each batch written
        while the next one is built."""
        imp = self.importer
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") as writer:
            writing: Future[None] | None = None
            done = self.done
            try:
                for batch, seen in self._batches(only):
                    # a re-run: orders imported before are compared, not prepared (planned each time: import_keys
                    # grows by orders of magnitude during the import, see core.bulk.planned_each_time); the
                    # set-wise writer has looked them up already
                    if seen is not None:
                        known = seen
                    else:
                        with imp.db.read() as conn, planned_each_time(conn):
                            known = frozenset(imp._known(conn, "order", [order.key for order, _ in batch]))
                    staged = imp._stage_items(batch, known)
                    read = done + sum(len(order.rows) for order, _ in batch)
                    if writing is not None:
                        writing.result()
                    imp.progress(done, self.total)
                    writing = writer.submit(imp._write, _Batch(staged, [], {}, {}, read))
                    done = read
            finally:
                if writing is not None:
                    writing.result()

    def _write_set_wise(self) -> str | None:
        """The orders the row path's writers would write as they are, written set-wise (the rows built by DuckDB,
        streamed to PostgreSQL by COPY), in chunks of `SET_WISE_ORDERS` orders, one transaction each. Returns the
        table of the orders left to the row path's writers (a status that is none, a product not created, imported
        before, a number taken), or None when they all are (amounts this path cannot sum exactly, an order number
        on several orders)."""
        imp, db = self.importer, self.db
        if not self.set_wise:
            return None
        count = self._one("SELECT count(*) FROM ords")
        db.execute("CREATE TABLE slow (rank BIGINT)")
        db.execute("INSERT INTO slow SELECT rank FROM ords WHERE nullif(status, '') NOT IN (SELECT unnest(?))",
                   [list(commerce_imported.STATUSES)])
        if imp.failed_products:
            db.execute("INSERT INTO slow SELECT DISTINCT rank FROM lns WHERE sku IN (SELECT unnest(?))",
                       [list(imp.failed_products)])
        db.execute("CREATE TABLE known (rank BIGINT)")  # imported before: the row path's writers compare them
        db.execute("CREATE TABLE same (rank BIGINT)")  # imported before as they are now: unchanged, compared here
        keys = list(imp.customers)
        db.execute("CREATE TABLE cust AS SELECT unnest(?::VARCHAR[]) AS key, unnest(?::VARCHAR[]) AS id",
                   [keys, [imp.customers[k] for k in keys]])
        channel = imp.channel
        assert channel is not None
        now = imp.clock.now().isoformat()
        with tempfile.TemporaryDirectory(prefix="omnihub-import-copy-") as where, \
                ThreadPoolExecutor(max_workers=LOADERS, thread_name_prefix="import-writer") as writer:
            loading: deque[Future[None]] = deque()  # chunks in PostgreSQL's hands, oldest first
            try:
                for low, high in chunk_bounds(count, SET_WISE_ORDERS):
                    self._sort_out(low, high)
                    folder = Path(where) / f"chunk{low}"
                    folder.mkdir()
                    block = new_id_block("ord")
                    db.execute(
                        f"CREATE OR REPLACE TABLE _oin AS SELECT o.rank, {block_id_sql(block, 'o.rank')} AS id, "
                        "o.k, o.rows, o.number, o.placed, o.customer, c.id AS customer_id, "
                        "o.currency, o.status FROM ords o "
                        "LEFT JOIN cust c ON c.key = nullif(o.customer, '') WHERE o.rank > ? AND o.rank <= ? "
                        "AND o.rank NOT IN (SELECT rank FROM slow) AND o.rank NOT IN (SELECT rank FROM same)",
                        [low, high])
                    db.execute("CREATE OR REPLACE TABLE _lin AS SELECT l.* FROM lns l WHERE l.rank > ? "
                               "AND l.rank <= ? AND l.rank IN (SELECT rank FROM _oin)", [low, high])
                    orders, rows = db.execute("SELECT count(*), coalesce(sum(rows), 0) FROM _oin").fetchone() or (0, 0)
                    if not orders:
                        continue
                    fingerprints.write_keys(db, folder / "keys.csv", imp.mapping.system, imp.job_id, now)
                    with imp.db.read() as conn:
                        load = commerce_columnar.build_imported_orders(
                            db, conn, imp.clock, orders_in="_oin", lines_in="_lin",
                            event_block=new_id_block("evt"), channel=imp.mapping.channel,
                            prices_include_tax=bool(channel.get("prices_include_tax", True)),
                            source=imp.mapping.system, folder=folder)
                    if len(loading) >= LOADERS:
                        loading.popleft().result()
                    # PostgreSQL takes this chunk (beside the one before) while DuckDB builds the next one
                    before = loading[-1] if loading else None
                    loading.append(writer.submit(self._load, load, folder, orders, rows, before))
            finally:
                for future in loading:
                    future.result()
        return "slow"

    def _sort_out(self, low: int, high: int) -> None:
        """Orders of ranks (low, high] imported before (a re-run): unchanged when their fingerprint is the one they
        were imported with (table `same`: counted here, set-wise), else the row path's writers compare them (tables
        `known` and `slow`); and orders whose number another order has (`slow`: the row path's writers report it).
        Looked up chunk by chunk, as each is built: the first chunk is loading while the next are looked up."""
        imp, db = self.importer, self.db
        chunk = db.execute("SELECT rank, k, number, rows FROM ords WHERE rank > ? AND rank <= ?",
                           [low, high]).fetchall()
        with imp.db.read() as conn, planned_each_time(conn):
            known = imp._known(conn, "order", [k for _, k, _, _ in chunk])
            taken = commerce_imported.numbers_taken(conn, [n for _, k, n, _ in chunk if k not in known])
        same = self._unchanged({rank: known[k][1] for rank, k, _, _ in chunk if k in known})
        if same:
            rows = sum(n for rank, _, _, n in chunk if rank in same)
            db.execute("INSERT INTO same SELECT unnest(?::BIGINT[])", [list(same)])
            with self.counting:  # the loaders count the chunks they commit
                imp.report.unchanged += rows
                self.done += rows
        seen = [rank for rank, k, _, _ in chunk if k in known and rank not in same]
        late = [rank for rank, k, number, _ in chunk if (k in known and rank not in same) or number in taken]
        if late:
            db.execute("INSERT INTO slow SELECT unnest(?::BIGINT[])", [late])
        if seen:
            db.execute("INSERT INTO known SELECT unnest(?::BIGINT[])", [seen])

    def _unchanged(self, stored: dict[int, str]) -> set[int]:
        """The ranks among `stored` (rank → the fingerprint its order was imported with) whose order is the same
        now: fingerprints of this form compared here (what `service._same_order` does for them), others left to the
        row path's writers; so are orders the row path rejects before comparing (a status that is none)."""
        ranks = [rank for rank, fingerprint in stored.items() if fingerprint.startswith(ORDER_PRINT)]
        if not ranks:
            return set()
        db = self.db
        db.execute("CREATE OR REPLACE TABLE _kin AS SELECT o.rank, o.number, o.placed, o.customer, o.currency, "
                   "o.status FROM ords o WHERE o.rank IN (SELECT unnest(?::BIGINT[])) "
                   "AND o.rank NOT IN (SELECT rank FROM slow)", [ranks])
        db.execute("CREATE OR REPLACE TABLE _klin AS SELECT l.* FROM lns l WHERE l.rank IN (SELECT rank FROM _kin)")
        return {rank for rank, fingerprint in fingerprints.of_orders(db, "_kin", "_klin")
                if fingerprint == stored[rank]}

    def _load(self, load: commerce_columnar.Load, folder: Path, orders: int, rows: int,
              before: Future[None] | None) -> None:
        """One chunk's files into PostgreSQL, in one transaction; then counted. The rows go in beside the chunk
        before (each chunk's own rows: no lock in common); its totals (customer stats, tags: rows every chunk
        updates) only once that chunk has committed — so chunks commit in file order, a failed chunk stops the ones
        after it, and sums are added in the row path's order."""
        imp = self.importer
        with imp.db.transaction() as conn:
            load.rows(conn)
            copy_csv_file(conn, import_keys, _KEY_COLUMNS, folder / "keys.csv")
            if before is not None:
                before.result()
            load.totals(conn)
        shutil.rmtree(folder)
        with self.counting:
            imp._count("orders", orders)
            imp.report.imported += rows
            self.done += rows
            imp.progress(self.done, self.total)

    def _write_firsts(self, entity: str, key: str, write: Callable[[Any, dict[str, dict[str, Any]]], Any]) -> None:
        """Each key's fields as its first readable row gives them (the row path keeps the first), in batches."""
        if entity not in self.importer.mapping.entities:
            return
        fields = [(n, c) for e, n, c in self.fields if e == entity]
        key_col = self.col(entity, key)
        cursor = self.db.execute(
            f"SELECT {', '.join(c for _, c in fields)} FROM g WHERE n IN "
            f"(SELECT min(n) FROM g GROUP BY {key_col}) ORDER BY n")
        while chunk := cursor.fetchmany(CUSTOMER_BATCH):
            batch = {}
            for values in chunk:
                row = {name: value for (name, _), value in zip(fields, values, strict=True)}
                batch[row[key]] = row
            with self.importer.db.transaction() as conn:
                write(conn, batch)

    def _dirty(self) -> None:
        """The row path's findings, set-wise: one order with several customers (in file order), then one product
        with several names, then one customer with several names."""
        imp = self.importer
        order = imp.order_rule
        assert order is not None
        group = self.col("order", order.group_by or order.key)
        customer = self.col("order", "customer")
        if customer is not None:
            for key, kept, kept_line, other, line in self._conflicts(group, customer, MAX_LISTED):
                imp._dirty({"what": "one order, several customers", "key": key, "kept": kept,
                            "kept_from_line": kept_line, "other": other, "line": line, "file": self.file})
        for entity, key_field, what in (("product", "sku", "product_name"), ("customer", "customer_id",
                                                                              "customer_name")):
            name = self.col(entity, "name")
            if name is None:
                continue
            conflicts = imp.conflicts[what]
            for key, kept, kept_line, other, line in self._conflicts(self.col(entity, key_field), name, None):
                conflicts.found.append({"what": conflicts.what, "key": key, "kept": kept,
                                        "kept_from_line": kept_line, "other": other, "line": line})
        imp.report.dirty.extend(c for conflicts in imp.conflicts.values() for c in conflicts.found)
        imp.conflicts = {k: rules.Conflicts(c.what) for k, c in imp.conflicts.items()}  # reported: not twice

    def _conflicts(self, key: str | None, value: str, limit: int | None) -> Iterator[tuple[Any, ...]]:
        """Rows whose `value` differs from the one of their key's first row (each key's first row by a hash
        aggregate, not a window: no sort of the whole file)."""
        cursor = self.db.execute(
            f"SELECT g.{key}, f.kept, f.kept_line, g.{value}, g.n FROM g JOIN (SELECT {key} AS k, "
            f"arg_min_null({value}, n) AS kept, min(n) AS kept_line FROM g GROUP BY {key}) f "
            f"ON f.k IS NOT DISTINCT FROM g.{key} WHERE g.{value} IS DISTINCT FROM f.kept ORDER BY g.n"
            + (f" LIMIT {limit}" if limit is not None else ""))
        while chunk := cursor.fetchmany(FETCH):
            yield from chunk

    def _orders_tables(self) -> None:
        """Table `ords`: one row per order (`rank` in the order the row path completes them: by their last row;
        each field from the order's first row), table `lns`: its lines as the row path builds them."""
        imp = self.importer
        order_rule = imp.order_rule
        assert order_rule is not None
        col = self.col
        group = col("order", order_rule.group_by or order_rule.key)
        # each field from the order's first row: joined by line number, not aggregated (no text in the hash table)
        first = ", ".join(f"{'NULL::VARCHAR' if c is None else 't.' + c} AS {f}" for f, c in (
            ("number", col("order", "number")), ("placed", col("order", "placed_at")),
            ("customer", col("order", "customer")), ("status", col("order", "status"))))
        # the order's currency, or the mapping's: resolved once here for every table built from `ords`
        currency = col("order", "currency")
        first += f", coalesce(nullif({'NULL::VARCHAR' if currency is None else 't.' + currency}, ''), " \
                 f"{_literal(imp.mapping.currency)}) AS currency"
        self.db.execute(f"CREATE TABLE ends AS SELECT row_number() OVER (ORDER BY last) AS rank, * FROM (SELECT "
                        f"{group} AS k, min(n) AS first, max(n) AS last, count(*) AS rows FROM g GROUP BY {group})")
        self.db.execute(f"CREATE TABLE ords AS SELECT e.rank, e.k, e.last, e.rows, {first} FROM ends e "
                        "JOIN t ON t.n = e.first")
        product_sku, product_name = col("product", "sku"), col("product", "name")
        kept_name, joins = "NULL::VARCHAR", ""
        if product_sku is not None and product_name is not None:
            self.db.execute(f"CREATE TABLE pk AS SELECT {product_sku} AS sku, arg_min_null({product_name}, n) "
                            f"AS name FROM g GROUP BY {product_sku}")
            kept_name, joins = "pk.name", f"LEFT JOIN pk ON pk.sku = g.{product_sku}"
        line = {f: "NULL::VARCHAR" if col("order_line", f) is None else f"g.{col('order_line', f)}"
                for f in ("sku", "quantity", "total", "unit_price", "discount", "name", "category")}
        p_category = "NULL::VARCHAR" if col("product", "category") is None else f"g.{col('product', 'category')}"
        self.db.execute(
            f"CREATE TABLE lns AS SELECT e.rank, row_number() OVER (PARTITION BY e.rank ORDER BY g.n) AS line_no, "
            f"g.n, {line['sku']} AS sku, "
            f"coalesce(nullif({line['name']}, ''), {kept_name}) AS name, "
            f"coalesce(nullif({line['category']}, ''), {p_category}) AS category, "
            f"CAST({line['quantity']} AS BIGINT) AS quantity, {line['total']} AS total, "
            f"{line['unit_price']} AS unit_price, {line['discount']} AS discount "
            f"FROM g JOIN ends e ON e.k = g.{group} {joins}")
        self.db.execute("DROP TABLE ends")

    def _batches(self, only: str | None) -> Iterator[tuple[list[tuple[_Order, dict[str, Any]]],
                                                          frozenset[str] | None]]:
        """Orders as the row path builds them, in the order it completes them (by their last row), in batches:
        all of them, or those whose rank is in table `only` — then with the keys of those imported before."""
        where = f"WHERE o.rank IN (SELECT rank FROM {only})" if only else ""
        seen = "o.rank IN (SELECT rank FROM known)" if only else "false"
        cursor = self.db.execute(
            "SELECT o.rank, l.n, o.k, o.number, o.placed, o.customer, o.status, o.currency, l.sku, l.quantity, "
            f"l.total, l.unit_price, l.discount, l.name, l.category, {seen} FROM lns l JOIN ords o USING (rank) "
            f"{where} ORDER BY o.rank, l.n")
        known: set[str] = set()
        file = self.file
        dates: dict[str, datetime] = {}
        batch: list[tuple[_Order, dict[str, Any]]] = []
        current: Any = None
        rows: list[_Row] = []
        lines: list[dict[str, Any]] = []
        while chunk := cursor.fetchmany(FETCH):
            for (rank, n, key, number, placed, customer, status, cur, sku, quantity, total, unit, discount, name,
                 category, before) in chunk:
                if rank != current:
                    if len(batch) >= BATCH_ORDERS:
                        yield batch, frozenset(known) if only else None
                        batch, known = [], set()
                    current = rank
                    if before:
                        known.add(key)
                    rows, lines = [], []
                    placed_at = dates.get(placed)
                    if placed_at is None:
                        placed_at = dates[placed] = datetime.fromisoformat(placed)
                    fields = {"customer": customer}
                    item = {"number": number, "placed_at": placed_at,
                            "customer": None if customer in (None, "") else customer,
                            "currency": cur, "status": status, "shipping": None, "lines": lines}
                    batch.append((_Order(key, fields, rows), item))
                rows.append(_Row(file, n, {}))
                lines.append({"sku": sku, "name": name, "category": category,
                              "quantity": quantity, "total": Decimal(total),
                              "unit_price": None if unit is None else Decimal(unit),
                              "discount": None if discount is None else Decimal(discount)})
        if batch:
            yield batch, frozenset(known) if only else None
