"""DuckDB over the operational database: SQLite or PostgreSQL attached read-only through DuckDB's scanners
(SQLite through a snapshot file, never the live one: snapshot.py says why).

The scanners are DuckDB extensions. They come from PyPI packages pinned to the DuckDB version
(`duckdb-extension-sqlite-scanner`, `duckdb-extension-postgres-scanner`) and are loaded from the installed
package's files; DuckDB's automatic install and load are switched off, so nothing is ever downloaded while
the hub runs. When DuckDB cannot load a scanner or attach the database the caller gets a 503
`analytics_unavailable` with the reason — there is no slower fallback path.

One DuckDB instance per process (the extensions are loaded once: ~1 s); each database URL is attached once
under its own alias, and every query runs on its own DuckDB cursor (thread-safe).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from omnihub.analytics import errors
from omnihub.analytics.snapshot import SharedLock, SqliteSnapshots
from omnihub.core.db import Database, normalise_url

log = logging.getLogger("omnihub.analytics")

EXTENSIONS = {"sqlite": ("duckdb_extension_sqlite_scanner", "sqlite_scanner"),
              "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner")}

_lock = threading.Lock()
_duck: Any = None
_loaded: set[str] = set()
_engines: dict[str, Engine] = {}
_engine_numbers = itertools.count(1)


def extension_path(kind: str) -> Path:
    """The scanner's file inside its installed PyPI package (a package per extension, pinned to DuckDB's
    version; its files live under extensions/v<duckdb version>/)."""
    package, name = EXTENSIONS[kind]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise errors.unavailable(f"the Python package '{package.replace('_', '-')}' is not installed")
    import duckdb

    base = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    path = base / f"{name}.duckdb_extension"
    if not path.is_file():
        raise errors.unavailable(f"{path} is missing: the extension package must match duckdb {duckdb.__version__}")
    return path


def _instance(kind: str) -> Any:
    """The process's DuckDB, with the scanner for `kind` loaded (call under _lock)."""
    global _duck
    try:
        import duckdb
    except ImportError:
        raise errors.unavailable("the Python package 'duckdb' is not installed") from None
    if _duck is None:
        _duck = duckdb.connect(":memory:", config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False})
        _duck.execute("SET GLOBAL TimeZone = 'UTC'")  # buckets are UTC days whatever the machine's zone
    if kind not in _loaded:
        path = extension_path(kind)
        try:
            _duck.execute(f"LOAD '{path.as_posix()}'")
        except duckdb.Error as exc:
            raise errors.unavailable(f"DuckDB could not load {path.name}: {exc}") from None
        _loaded.add(kind)
    return _duck


def _attach_target(url: str) -> tuple[str, str]:
    """What to attach: ("sqlite", the file's path) or ("postgres", a libpq connection string)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise errors.unavailable("an in-memory SQLite database cannot be attached; use a file")
        return "sqlite", path
    if parsed.get_backend_name() == "postgresql":
        parts = {"host": parsed.host, "port": parsed.port, "dbname": parsed.database, "user": parsed.username,
                 "password": parsed.password}
        return "postgres", " ".join(f"{k}={_libpq_quote(str(v))}" for k, v in parts.items() if v not in (None, ""))
    raise errors.unavailable(f"DuckDB has no scanner for '{parsed.get_backend_name()}' databases")


def _attach_sql(kind: str, target: str, alias: str) -> str:
    quoted = target.replace("'", "''")
    return f"ATTACH '{quoted}' AS {alias} (TYPE {kind}, READ_ONLY)"


def _libpq_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """Analytical reads of one operational database. `kind` is "sqlite" or "postgres"; `op` is the alias its
    tables are reached under (`{op}.orders`).

    Queries read *sources* (named SQL definitions over the attached tables, see queries.SOURCES). With `max_age`
    0 a source is its definition, run live on every request. With `max_age` > 0 the sources are copied into
    DuckDB's own memory (one consistent read of the database), queries run on the copy, and a copy older than
    `max_age` seconds is rebuilt in a background thread while requests keep answering from the current one."""

    def __init__(self, url: str, max_age: float = 0.0) -> None:
        self.url = normalise_url(url)
        self.op = "op_" + hashlib.sha256(self.url.encode()).hexdigest()[:12]
        if make_url(self.url).get_backend_name() == "sqlite":  # each engine attaches its own snapshot
            self.op += f"_{next(_engine_numbers)}"
        self.kind = ""
        self.max_age = max_age
        self._attached = False
        self.memo: dict[Any, Any] = {}  # results worth keeping between requests (a fitted CLV model)
        self._snapshot: tuple[str, float, datetime] | None = None  # (schema, monotonic time, wall time)
        self._older: list[str] = []
        self._generation = 0
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        self.last_refresh_error: str | None = None
        self.copy: Any = None  # the figures' incremental copy (copy.Copy), made on the first copy-mode read
        self._snapshots: SqliteSnapshots | None = None  # SQLite: DuckDB reads a snapshot (snapshot.py)
        self._snapshot_file: str | None = None
        self._pin = SharedLock()

    def _ensure(self) -> Any:
        """DuckDB with the database attached under `op` (on SQLite: a snapshot of it, see snapshot.py)."""
        with _lock:
            if self._attached:
                return _duck
            kind, target = _attach_target(self.url)
            duck = _instance(kind)
            import duckdb

            if kind == "sqlite":
                self._snapshots = SqliteSnapshots(target)
                self._snapshot_file = target = str(self._take_snapshot())
            try:
                duck.execute(_attach_sql(kind, target, self.op))
            except duckdb.Error as exc:
                if "already exists" not in str(exc):
                    raise errors.unavailable(f"DuckDB could not attach the {kind} database: {exc}") from None
            self.kind = kind
            self._attached = True
            return duck

    def _take_snapshot(self) -> Path:
        assert self._snapshots is not None
        try:
            return self._snapshots.take()
        except (sqlite3.Error, OSError) as exc:
            raise errors.unavailable(f"the sqlite database could not be copied for DuckDB: {exc}") from None

    @contextmanager
    def pinned(self) -> Iterator[Any]:
        """DuckDB for reading the attached database, which stays still until the caller is done. On SQLite the
        snapshot is first renewed when the database changed since it was taken (never under a running read)."""
        duck = self._ensure()
        snapshots = self._snapshots
        if snapshots is not None and not self._pin.held() and snapshots.changed():
            with self._pin.exclusive():
                if snapshots.changed():
                    self._swap_snapshot(duck)
        with self._pin.shared():
            yield duck

    def _reading(self, sql: str) -> contextlib.AbstractContextManager[Any]:
        """Pinned when the query reads the attached database; a query over the copy (DuckDB's own tables) never
        waits for a snapshot to be renewed."""
        return self.pinned() if "{op}" in sql else contextlib.nullcontext(self._ensure())

    def _swap_snapshot(self, duck: Any) -> None:
        import duckdb

        fresh = self._take_snapshot()
        old, self._snapshot_file = self._snapshot_file, str(fresh)
        try:
            duck.execute(f"DETACH DATABASE IF EXISTS {self.op}")
            duck.execute(_attach_sql("sqlite", str(fresh), self.op))
        except duckdb.Error as exc:
            raise errors.unavailable(f"DuckDB could not attach the sqlite database: {exc}") from None
        if old:
            SqliteSnapshots.discard(Path(old))

    def figures(self) -> Reader:
        """Where the room's figures read from (sources.py): in live mode every table is a subquery over the
        attached database; with a max-age, the current copy (copy.py: built now if there is none, refreshed
        incrementally in the background when older than max-age)."""
        from omnihub.analytics.copy import Copy, live_places

        self._ensure()
        if self.max_age <= 0:
            return Reader(self, live_places(self), datetime.now(UTC))
        if self.copy is None:
            with _lock:
                if self.copy is None:
                    self.copy = Copy(self)
        return self.copy.reader()

    def reader(self, sources: dict[str, Callable[[Engine], str]]) -> Reader:
        """For other reports with their own sources (SQL over `{op}`): the live definitions, or a whole copy of
        them (building the first one now and rebuilding it in the background when it is too old)."""
        self._ensure()
        if self.max_age <= 0:
            return Reader(self, {name: f"({build(self)})" for name, build in sources.items()},
                          datetime.now(UTC))
        snapshot = self._snapshot
        if snapshot is None:
            with self._refresh_lock:
                if self._snapshot is None:
                    self.refresh(sources)
            snapshot = self._snapshot
            assert snapshot is not None
        elif time.monotonic() - snapshot[1] > self.max_age:
            self._refresh_in_background(sources)
        schema, _, wall = snapshot
        return Reader(self, {name: f"{schema}.{name}" for name in sources}, wall)

    def refresh(self, sources: dict[str, Callable[[Engine], str]]) -> None:
        """Copy every source into a new schema in one transaction, then switch to it. The copy before the
        current one is dropped (a query still reading the current one has a whole `max_age` to finish)."""
        with self.pinned() as duck:
            self._copy_sources(duck, sources)

    def _copy_sources(self, duck: Any, sources: dict[str, Callable[[Engine], str]]) -> None:
        import duckdb

        self._generation += 1
        schema = f"{self.op}_l{self._generation}"
        wall = datetime.now(UTC)
        cursor = duck.cursor()
        try:
            cursor.execute(f"CREATE SCHEMA {schema}")
            cursor.execute("BEGIN")
            for name, build in sources.items():
                cursor.execute(f"CREATE TABLE {schema}.{name} AS {build(self).replace('{op}', self.op)}")
            cursor.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            with contextlib.suppress(duckdb.Error):
                cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            if isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
                raise errors.unavailable(f"the {self.kind} database did not answer DuckDB: {exc}") from None
            raise
        finally:
            cursor.close()
        previous = self._snapshot
        self._snapshot = (schema, time.monotonic(), wall)
        if previous is not None:
            self._older.append(previous[0])
        while len(self._older) > 1:
            cursor = duck.cursor()
            try:
                cursor.execute(f"DROP SCHEMA IF EXISTS {self._older.pop(0)} CASCADE")
            finally:
                cursor.close()

    def _refresh_in_background(self, sources: dict[str, Callable[[Engine], str]]) -> None:
        with self._refresh_lock:
            if self._refreshing:
                return
            self._refreshing = True

        def work() -> None:
            try:
                self.refresh(sources)
                self.last_refresh_error = None
            except Exception as exc:  # the current copy keeps answering; the reason is logged and kept
                self.last_refresh_error = str(exc)
                log.warning("analytics refresh failed: %s", exc)
            finally:
                self._refreshing = False

        threading.Thread(target=work, name="analytics-refresh", daemon=True).start()

    def frame(self, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows (`{op}` in the text is the attached database)."""
        import duckdb

        with self._reading(sql) as duck:
            cursor = duck.cursor()
            try:
                result = cursor.execute(sql.replace("{op}", self.op), params or {})
                names = [d[0] for d in result.description or ()]
                return names, result.fetchall()
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                raise errors.unavailable(f"the {self.kind} database did not answer DuckDB: {exc}") from None
            finally:
                cursor.close()

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.frame(sql, params)[1]

    def arrays(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result as one numpy array per column (no Python object per row)."""
        import duckdb

        with self._reading(sql) as duck:
            cursor = duck.cursor()
            try:
                return dict(cursor.execute(sql.replace("{op}", self.op), params or {}).fetchnumpy())
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                raise errors.unavailable(f"the {self.kind} database did not answer DuckDB: {exc}") from None
            finally:
                cursor.close()

    def timestamp(self, column: str) -> str:
        """A column as a naive UTC TIMESTAMP on either engine."""
        return f"CAST({column} AS TIMESTAMP)"

    @staticmethod
    def money(column: str) -> str:
        """A money column as DECIMAL(18,4) (SQLite stores NUMERIC as a float; each value rounds back exactly)."""
        return f"CAST({column} AS DECIMAL(18,4))"


class Reader:
    """One query's view: where each source is, and how old the data is."""

    def __init__(self, engine: Engine, where: dict[str, str], as_of: datetime, *, copy: bool = False,
                 last_sale: datetime | None = None, generation: str | None = None) -> None:
        self.engine = engine
        self.where = where
        self.as_of = as_of
        self.copy = copy  # the pre-aggregated tables exist (copy mode)
        self.last_sale = last_sale  # the latest sale in the copy: a period ending after it holds every sale
        self.generation = generation  # which copy (results kept per copy are keyed by it)

    def holds_all_sales_before(self, end: datetime | None) -> bool:
        """Whether the pre-aggregated tables answer a report over all history up to `end`."""
        if not self.copy:
            return False
        if self.last_sale is None or end is None:
            return True
        return end.replace(tzinfo=None) > self.last_sale

    def sql(self, text: str) -> str:
        """`{sales}`, `{ledger}`… in the text become the sources' places."""
        for name, place in self.where.items():
            text = text.replace("{" + name + "}", place)
        return text

    def rows(self, text: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.engine.rows(self.sql(text), params)


def engine_for(db: Database | Engine | str, *, max_age: float | None = None) -> Engine:
    """The engine of a hub database (one per URL per process). `max_age` (seconds) chooses live reads (0) or a
    copy at most that old; by default OMNIHUB_ANALYTICS_MAX_AGE_SECONDS."""
    if isinstance(db, Engine):
        return db
    url = normalise_url(db if isinstance(db, str) else db.url)
    if max_age is None:
        from omnihub.config import get_settings

        max_age = get_settings().analytics_max_age_seconds
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = Engine(url, max_age)
        engine.max_age = max_age
    return engine


def check(db: Database | Engine | str) -> dict[str, Any]:
    """Attach now (an app may call this at start-up to fail early) and say what was loaded."""
    engine = engine_for(db)
    engine._ensure()
    import duckdb

    return {"engine": "duckdb", "duckdb": duckdb.__version__, "scanner": EXTENSIONS[engine.kind][1],
            "database": engine.kind}


def in_list(values: Sequence[str]) -> str:
    """A SQL list of string literals (values are validated codes; quotes are doubled anyway)."""
    from omnihub.analytics.sources import in_list as quoted

    return quoted(list(values))
