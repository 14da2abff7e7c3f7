"""DuckDB over the operational database: SQLite or PostgreSQL attached read-only through DuckDB's scanners.

The scanners are DuckDB extensions. They come from PyPI packages pinned to the DuckDB version
(`duckdb-extension-sqlite-scanner`, `duckdb-extension-postgres-scanner`) and are loaded from the installed
package's files; DuckDB's automatic install and load are switched off, so nothing is ever downloaded while
the hub runs. When DuckDB cannot load a scanner or attach the database the caller gets a 503
`analytics_unavailable` with the reason — there is no slower fallback path.

One DuckDB instance per process (the extensions are loaded once: ~1 s); each database URL is attached once
under its own alias, and every query runs on its own DuckDB cursor (thread-safe).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from omnihub.analytics import errors
from omnihub.core.db import Database, normalise_url

EXTENSIONS = {"sqlite": ("duckdb_extension_sqlite_scanner", "sqlite_scanner"),
              "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner")}

_lock = threading.Lock()
_duck: Any = None
_loaded: set[str] = set()
_engines: dict[str, Engine] = {}


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


def _attach_sql(url: str, alias: str) -> tuple[str, str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise errors.unavailable("an in-memory SQLite database cannot be attached; use a file")
        quoted = path.replace("'", "''")
        return "sqlite", f"ATTACH '{quoted}' AS {alias} (TYPE sqlite, READ_ONLY)"
    if parsed.get_backend_name() == "postgresql":
        parts = {"host": parsed.host, "port": parsed.port, "dbname": parsed.database, "user": parsed.username,
                 "password": parsed.password}
        dsn = " ".join(f"{k}={_libpq_quote(str(v))}" for k, v in parts.items() if v not in (None, ""))
        quoted = dsn.replace("'", "''")
        return "postgres", f"ATTACH '{quoted}' AS {alias} (TYPE postgres, READ_ONLY)"
    raise errors.unavailable(f"DuckDB has no scanner for '{parsed.get_backend_name()}' databases")


def _libpq_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """Analytical reads of one operational database. `kind` is "sqlite" or "postgres"; `op` is the alias its
    tables are reached under (`{op}.orders`)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.op = "op_" + hashlib.sha256(self.url.encode()).hexdigest()[:12]
        self.kind = ""
        self._attached = False
        self.memo: dict[str, Any] = {}  # results worth keeping between requests (a fitted CLV model)

    def _ensure(self) -> Any:
        with _lock:
            if self._attached:
                return _duck
            kind, sql = _attach_sql(self.url, self.op)
            duck = _instance(kind)
            import duckdb

            try:
                duck.execute(sql)
            except duckdb.Error as exc:
                if "already exists" not in str(exc):
                    raise errors.unavailable(f"DuckDB could not attach the {kind} database: {exc}") from None
            self.kind = kind
            self._attached = True
            return duck

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one query (`{op}` in the text is the attached database) and return its rows."""
        return self.frame(sql, params)[1]

    def frame(self, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows."""
        duck = self._ensure()
        import duckdb

        cursor = duck.cursor()
        try:
            result = cursor.execute(sql.replace("{op}", self.op), params or {})
            names = [d[0] for d in result.description or ()]
            return names, result.fetchall()
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            raise errors.unavailable(f"the {self.kind} database did not answer DuckDB: {exc}") from None
        finally:
            cursor.close()

    def timestamp(self, column: str) -> str:
        """A column as a naive UTC TIMESTAMP on either engine (SQLite keeps timestamps as text)."""
        if self.kind == "postgres":
            return f"CAST({column} AS TIMESTAMP)"
        return f"CAST(CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP)"

    @staticmethod
    def money(column: str) -> str:
        """A money column as DECIMAL(18,4) (SQLite stores NUMERIC as a float; each value rounds back exactly)."""
        return f"CAST({column} AS DECIMAL(18,4))"


def engine_for(db: Database | Engine | str) -> Engine:
    """The engine of a hub database (one per URL per process)."""
    if isinstance(db, Engine):
        return db
    url = normalise_url(db if isinstance(db, str) else db.url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = Engine(url)
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
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
