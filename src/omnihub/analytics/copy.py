"""The analytics copy: the operational rows the figures need, kept in DuckDB and refreshed incrementally.

A refresh (in a background thread; requests keep answering from the current copy meanwhile):

1. **Raw tables** (sources.RAW) are brought up to date from the source database by watermark: orders whose
   `updated_at` moved (a status change, a payment, a return and its refund all move it; their lines, returns and
   cart come along in the same query, run by the source database itself), behavioural events, NPS answers and
   stock-ledger rows past the last `id`, and the small tables (merges, stock levels) whole. Changes are read
   from the watermark of an earlier refresh (at least LOOKBACK seconds old) minus the same margin on
   `updated_at`, so a transaction that committed late, or a clock a little behind, is still seen; re-reading a
   row is harmless (upsert by id, or delete-past-the-watermark and insert).
2. **Derived tables** (sales with merges followed, buyers, purchase days, sessions, ledger validity, and the
   pre-aggregated cohort cells and omnichannel totals) are rebuilt from the local raw tables into a new schema,
   sorted by time; then the new schema replaces the current one in one assignment.

A **full rebuild** (every raw table read whole) replaces step 1 when a watermark cannot be trusted: the first
copy; a merge was undone (an alias disappeared: orders and events move back without moving a watermark); a
customer was erased (their events are deleted); the source's ids went backwards (a restored database); or the
last full read is older than FULL_EVERY seconds (a safety net for anything a watermark cannot see).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from omnihub.analytics import errors, sources

if TYPE_CHECKING:
    from omnihub.analytics.engine import Engine, Reader

log = logging.getLogger("omnihub.analytics")

LOOKBACK = 300.0  # seconds: changes are re-read from a watermark at least this old
FULL_EVERY = 86400.0  # seconds between full rebuilds, whatever the watermarks say
EPOCH = "1970-01-01 00:00:00"
_numbers = itertools.count(1)  # schema numbers, unique in the process (several engines may copy one database)
# Work each refresh does on its new copy before publishing it (queries.py adds today's CLV): requests never pay it.
WARMERS: list[Callable[[Reader], None]] = []


class Copy:
    """One engine's copy: raw tables in `{op}_raw<n>`, derived tables in `{op}_s<n>` (the current one answers)."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.raw_schema: str | None = None
        self.marks: list[tuple[float, dict[str, Any]]] = []  # (monotonic time, watermark per raw table)
        self.aliases: set[str] = set()
        self.probe: dict[str, Any] = {}
        self.full_at = 0.0
        self.generation = 0
        self.current: tuple[str, float, datetime, Any] | None = None  # (schema, monotonic, wall, last sale)
        self._older: list[str] = []
        self.lock = threading.Lock()  # one refresh at a time (held for the whole refresh)
        self._flag = threading.Lock()  # guards `refreshing` only: a request never waits for a refresh
        self.refreshing = False
        self.last_error: str | None = None
        self.last_kind = ""  # "full" or "incremental": what the latest refresh did
        self.thread: threading.Thread | None = None  # the latest background refresh

    # ---- reading --------------------------------------------------------------------------------------------

    def reader(self) -> Reader:
        from omnihub.analytics.engine import Reader

        current = self.current
        if current is None:
            with self.lock:
                if self.current is None:
                    self.refresh()
            current = self.current
            assert current is not None
        elif time.monotonic() - current[1] > self.e.max_age:
            self.refresh_in_background()
        schema, _, wall, last_sale = current
        names = [*sources.DERIVED, *sources.AGGREGATES]
        return Reader(self.e, {n: f"{schema}.{n}" for n in names}, wall, copy=True, last_sale=last_sale,
                      generation=schema)

    def refresh_in_background(self) -> None:
        with self._flag:
            if self.refreshing:
                return
            self.refreshing = True

        def work() -> None:
            try:
                with self.lock:
                    self.refresh()
                self.last_error = None
            except Exception as exc:  # the current copy keeps answering; the reason is logged and kept
                self.last_error = str(exc)
                log.warning("analytics refresh failed: %s", exc)
            finally:
                self.refreshing = False

        self.thread = threading.Thread(target=work, name="analytics-refresh", daemon=True)
        self.thread.start()

    # ---- refreshing -----------------------------------------------------------------------------------------

    def refresh(self, *, full: bool = False) -> str:
        """Bring the copy up to date (call under `lock`). Returns "full" or "incremental"."""

        with self.e.pinned() as duck:  # the source stays one state for the whole read
            return self._refresh(duck, full=full)

    def _refresh(self, duck: Any, *, full: bool) -> str:
        import duckdb

        cursor = duck.cursor()
        try:
            probe = self._probe(cursor)
            reason = "asked" if full else self._distrust(probe)
            wall = datetime.now(UTC)
            old_raw = None
            if reason:
                old_raw = self.raw_schema
                self._full(cursor)
                self.full_at = time.monotonic()
                kind = "full"
            else:
                self._incremental(cursor)
                kind = "incremental"
            self.probe = probe
            schema = self._derive(cursor)
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            if isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
                raise errors.unavailable(f"the {self.e.kind} database did not answer DuckDB: {exc}") from None
            raise
        finally:
            cursor.close()
        last_sale = self.e.rows(f"SELECT last_sale FROM {schema}.horizon")[0][0]
        from omnihub.analytics.engine import Reader

        fresh = Reader(self.e, {n: f"{schema}.{n}" for n in [*sources.DERIVED, *sources.AGGREGATES]}, wall,
                       copy=True, last_sale=last_sale, generation=schema)
        for warm in WARMERS:
            try:
                warm(fresh)
            except Exception as exc:  # a warm-up that fails is done again by the first request that needs it
                log.warning("analytics warm-up failed: %s", exc)
        previous = self.current
        self.current = (schema, time.monotonic(), wall, last_sale)
        self.last_kind = kind
        if previous is not None:
            self._older.append(previous[0])
        if old_raw:
            self._older.append(old_raw)
        # A query still reading the schema before the current one has had a whole refresh to finish.
        while len(self._older) > 2:
            self._drop(self._older.pop(0))
        # Results kept per copy (queries.py: ("clv-answer", schema, day)) go with the copies that were dropped.
        live = {schema, *self._older}
        self.e.memo = {k: v for k, v in self.e.memo.items() if k[0] != "clv-answer" or k[1] in live}
        log.info("analytics copy refreshed (%s, %s)", kind, reason or "watermarks")
        return kind

    def _drop(self, schema: str) -> None:
        cursor = self.e._ensure().cursor()
        try:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            cursor.close()

    def _remote(self, sql: str) -> str:
        """A query for the source database to run itself (PostgreSQL: through postgres_query, its own planner and
        indexes); on SQLite DuckDB runs it over the attached file."""
        if self.e.kind == "postgres":
            quoted = sql.replace("{t}", "").replace("'", "''")
            return f"SELECT * FROM postgres_query('{self.e.op}', '{quoted}')"
        return sql.replace("{t}", f"{self.e.op}.")

    def _probe(self, cursor: Any) -> dict[str, Any]:
        """What tells a watermark cannot be trusted: the merges, the latest erasure, the highest ids."""
        sql = ("SELECT (SELECT MAX(erased_at) FROM {t}customers) AS erased, (SELECT MAX(id) FROM {t}customer_events)"
               " AS events, (SELECT MAX(id) FROM {t}stock_ledger) AS ledger")
        erased, events, ledger = cursor.execute(self._remote(sql)).fetchone()
        aliases = {r[0] for r in cursor.execute(self._remote("SELECT merged_id FROM {t}customer_aliases")).fetchall()}
        return {"erased": str(erased) if erased is not None else None, "events": events or 0, "ledger": ledger or 0,
                "aliases": aliases}

    def _distrust(self, probe: dict[str, Any]) -> str:
        """Why the next refresh must read everything ("" when the watermarks hold)."""
        if self.raw_schema is None or not self.marks:
            return "first copy"
        if time.monotonic() - self.full_at > FULL_EVERY:
            return "periodic full rebuild"
        seen = self.probe
        if not seen["aliases"] <= probe["aliases"]:
            return "a merge was undone"
        if probe["erased"] != seen["erased"]:
            return "a customer was erased"
        if probe["events"] < seen["events"] or probe["ledger"] < seen["ledger"]:
            return "the source's ids went backwards"
        return ""

    def _full(self, cursor: Any) -> None:
        self.generation = next(_numbers)
        schema = f"{self.e.op}_raw{self.generation}"
        cursor.execute(f"CREATE SCHEMA {schema}")
        try:
            cursor.execute("BEGIN")  # one transaction: one consistent read of the source database
            for name, raw in sources.RAW.items():
                cursor.execute(f"CREATE TABLE {schema}.{name} AS {raw.full(self.e).replace('{op}', self.e.op)}")
            cursor.execute("COMMIT")
        except Exception:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            self._drop(schema)
            raise
        self.raw_schema = schema
        self.marks = [(time.monotonic(), self._marks(cursor, schema, {}))]

    def _marks(self, cursor: Any, schema: str, since: dict[str, Any]) -> dict[str, Any]:
        marks: dict[str, Any] = {}
        for name, raw in sources.RAW.items():
            if raw.watermark:
                top = cursor.execute(f"SELECT MAX({raw.watermark}) FROM {schema}.{name}").fetchone()[0]
                candidates = [v for v in (top, since.get(name)) if v is not None]
                marks[name] = max(candidates) if candidates else None
        return marks

    def _since(self) -> dict[str, Any]:
        """The watermarks changes are read from: the newest set at least LOOKBACK seconds old (else the oldest)."""
        now = time.monotonic()
        chosen = self.marks[0][1]
        for at, marks in self.marks:
            if now - at >= LOOKBACK:
                chosen = marks
        return chosen

    def _literal(self, name: str, value: Any) -> str:
        if sources.RAW[name].watermark == "id":
            return str(int(value or 0))
        moment = EPOCH if value is None else str(value - _margin())[:26]
        return f"'{moment}+00'" if self.e.kind == "postgres" else f"TIMESTAMP '{moment}'"

    def _incremental(self, cursor: Any) -> None:
        schema = self.raw_schema
        since = self._since()
        latest = self.marks[-1][1]
        cursor.execute("BEGIN")
        for name, raw in sources.RAW.items():
            table = f"{schema}.{name}"
            if raw.mode == "replace":
                cursor.execute(f"DELETE FROM {table}")
                cursor.execute(f"INSERT INTO {table} {raw.full(self.e).replace('{op}', self.e.op)}")
                continue
            assert raw.changes is not None
            fetched = f"({self._remote(raw.changes(self._literal(name, since.get(name))))})"
            cursor.execute(f"CREATE OR REPLACE TEMP TABLE chg AS {raw.shape.replace('{rows}', fetched)}")
            columns = ", ".join(r[0] for r in cursor.execute(f"DESCRIBE {table}").fetchall())
            if raw.mode == "upsert":
                cursor.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM chg)")
            else:
                cursor.execute(f"DELETE FROM {table} WHERE id > {int(since.get(name) or 0)}")
            cursor.execute(f"INSERT INTO {table} SELECT {columns} FROM chg WHERE {raw.keep}")
            top = cursor.execute(f"SELECT MAX({raw.watermark}) FROM chg").fetchone()[0]
            latest = {**latest, name: max(v for v in (top, latest.get(name)) if v is not None)
                      if top is not None or latest.get(name) is not None else None}
        cursor.execute("DROP TABLE IF EXISTS chg")
        cursor.execute("COMMIT")
        self.marks.append((time.monotonic(), latest))
        # Keep the marks a later refresh may read from: everything newer than LOOKBACK, and the newest older one.
        now = time.monotonic()
        old = [m for m in self.marks if now - m[0] >= LOOKBACK]
        self.marks = old[-1:] + [m for m in self.marks if now - m[0] < LOOKBACK]

    def _derive(self, cursor: Any) -> str:
        self.generation = next(_numbers)
        schema = f"{self.e.op}_s{self.generation}"
        places = {name: f"{self.raw_schema}.{name}" for name in sources.RAW}
        places.update({name: f"{schema}.{name}" for name in [*sources.DERIVED, *sources.AGGREGATES]})
        cursor.execute(f"CREATE SCHEMA {schema}")
        try:
            for name, sql in [*sources.DERIVED.items(), *sources.AGGREGATES.items()]:
                order = f" ORDER BY {sources.ORDER_BY[name]}" if name in sources.ORDER_BY else ""
                cursor.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM ({fill(sql, places)}) q{order}")
            cursor.execute(f"CREATE TABLE {schema}.sales_wide AS SELECT * FROM ({fill(sources.SALES_WIDE, places)}) q"
                           f" ORDER BY {sources.ORDER_BY['sales']}")
            cursor.execute(f"DROP TABLE {schema}.sales")
            cursor.execute(f"ALTER TABLE {schema}.sales_wide RENAME TO sales")
        except Exception:
            self._drop(schema)
            raise
        return schema


def _margin() -> Any:
    from datetime import timedelta

    return timedelta(seconds=LOOKBACK)


def fill(sql: str, places: dict[str, str]) -> str:
    """`{name}` in the text becomes the place of that table."""
    for name, place in places.items():
        sql = sql.replace("{" + name + "}", place)
    return sql


def live_places(engine: Engine) -> dict[str, str]:
    """Every raw and derived table as a subquery over the attached database (live mode: nothing is copied)."""
    places = {name: f"({raw.full(engine)})" for name, raw in sources.RAW.items()}
    for name, sql in sources.DERIVED.items():
        places[name] = f"({fill(sql, places)})"
    return {name: places[name] for name in sources.DERIVED}
