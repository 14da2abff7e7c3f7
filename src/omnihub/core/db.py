"""Database access: one engine per process, short transactions, the same code on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

# Integer primary keys that autoincrement on both engines (SQLite needs plain INTEGER for rowid aliasing).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Money = sa.Numeric(18, 4)


class _SqliteUtcTimestamp(sa.types.TypeDecorator[datetime]):
    """SQLite keeps no time zone: its naive values are read back with UTC attached (everything we store is UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = sa.DateTime(timezone=True).with_variant(_SqliteUtcTimestamp(), "sqlite")
"""Every timestamp column: stored in UTC, read back as an aware UTC datetime on both engines, so everything
that shows one (the API, events) says `Z`. PostgreSQL sessions run in UTC (`make_engine`); SQLite's naive
values get UTC attached by the variant, once for every table."""

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


_last_id = 0
_id_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """Time-ordered, URL-safe ids (`res_01j...`): sortable for cursors, no coordination between processes.
    Within one process they strictly increase, so rows written in a loop sort in the order they were made."""
    global _last_id
    value = (int(time.time() * 1000) << 80) | int.from_bytes(secrets.token_bytes(10), "big")
    with _id_lock:
        value = _last_id = max(value, _last_id + 1)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids as `new_id` makes them (increasing), with one read of the random source: bulk writes."""
    global _last_id
    now = int(time.time() * 1000) << 80
    noise = secrets.token_bytes(10 * count)
    values = []
    with _id_lock:
        last = _last_id
        for at in range(0, 10 * count, 10):
            last = max(now | int.from_bytes(noise[at:at + 10], "big"), last + 1)
            values.append(last)
        _last_id = last
    # base32 of 20 bytes is 32 characters, the last 26 being the id's 130 bits; the standard alphabet is then
    # translated to Crockford's (C speed: a bulk import makes ~50,000 ids a batch)
    encoded = base64.b32encode(b"".join(value.to_bytes(20, "big") for value in values)).translate(_TO_CROCKFORD)
    head = f"{prefix}_"
    return [head + encoded[at + 6:at + 32].decode() for at in range(0, 32 * len(values), 32)]


ID_BLOCK_BITS = 30  # an id block: 2**30 ids sharing their first 20 characters


def new_id_block(prefix: str) -> str:
    """The first `prefix_` + 20 characters of up to 2**30 ids, for SQL that numbers its rows itself (a set-based
    insert of thousands of events): id n is the block + `n` as 6 Crockford characters. The block is reserved like
    `new_id` — later ids of this process sort after every id in it — so rows keep the same id shape and order."""
    global _last_id
    span = 1 << ID_BLOCK_BITS
    value = (int(time.time() * 1000) << 80) | int.from_bytes(secrets.token_bytes(10), "big")
    with _id_lock:
        value = max(value, _last_id + 1)
        value = (value + span - 1) >> ID_BLOCK_BITS << ID_BLOCK_BITS  # the low 30 bits free for the numbers
        _last_id = value + span - 1
    chars = []
    value >>= ID_BLOCK_BITS
    for _ in range(20):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def block_id_sql(block: str, number: str) -> str:
    """SQL (PostgreSQL, DuckDB) for id `number` of a `new_id_block`: the block + the number as 6 Crockford
    characters — rows numbered by a set-wise insert get ids of the usual shape and order."""
    chars = [f"substr('{_CROCKFORD}', ((({number}) >> {5 * at}) & 31)::INTEGER + 1, 1)" for at in range(5, -1, -1)]
    return f"'{block}' || " + " || ".join(chars)


def normalise_url(url: str) -> str:
    """A plain postgresql:// URL works as given (docs/contract.md): we pick the psycopg 3 driver for it."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping: it costs a round trip on every checkout. Connections are recycled instead, and one that
    # died under us fails its request cleanly and is replaced.
    # Sessions in UTC whatever the server's default: timestamps come back as UTC (see UtcTimestamp). A server
    # that does not answer fails a connection in seconds, not the operating system's minutes.
    # hide_parameters: a database error's message (logged with its traceback) never carries the values bound to
    # the statement — names, addresses, secrets — only the SQL.
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, future=True,
                              connect_args={"options": "-c TimeZone=UTC", "connect_timeout": 5},
                              hide_parameters=True)
    # Several rows of one INSERT (an order's lines, its reservation lines, its ledger rows) go as one multi-row
    # statement — SQLAlchemy's "insertmanyvalues", which its psycopg dialect otherwise keeps for INSERTs with
    # RETURNING — instead of psycopg's executemany, which is still one statement per row for the server.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, future=True,
                              hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: two writers never deadlock upgrading a read lock,
        # and every conditional update sees the latest committed row.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")

    return engine


class TransactionWitness(Protocol):
    """Told about every write transaction of the work it watches (a keyed request: core.idempotency), so that
    it can add its own row to the transaction that carries the work's effect."""

    def began(self, conn: Connection) -> Any: ...

    def before_commit(self, conn: Connection, mark: Any) -> Any: ...

    def committed(self, done: Any) -> None: ...


_witness: ContextVar[TransactionWitness | None] = ContextVar("omnihub_transaction_witness", default=None)


@contextmanager
def witnessed_by(witness: TransactionWitness) -> Iterator[None]:
    """Every `Database.transaction()` opened in this context (and in the threads it hands work to: the thread
    pool copies the context) shows itself to `witness`."""
    token = _witness.set(witness)
    try:
        yield
    finally:
        _witness.reset(token)


def witnessing() -> bool:
    return _witness.get() is not None


def wrote_anything(conn: Connection, mark: Any) -> bool:
    """Whether the current transaction changed anything since `mark` (`changes_mark` at its start). PostgreSQL
    gives a transaction an id at its first write (or row lock); SQLite counts changed rows per connection."""
    if conn.dialect.name == "postgresql":
        return bool(conn.execute(_XID_ASSIGNED).scalar())
    return bool(conn.connection.dbapi_connection.total_changes != mark)  # type: ignore[union-attr]


def changes_mark(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return None
    return conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]


_XID_ASSIGNED = sa.text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")


class Database:
    """The process's handle on the system of record."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(url, pool_size=pool_size)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self, *, effect: bool = True) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls everything back on any error. Watched by the
        context's `TransactionWitness`, if any (it may add to the transaction, or refuse it, before commit).
        `effect=False`: bookkeeping that commits whatever becomes of the request (a count of failed tries) —
        not the request's effect, so not watched (a keyed request's key goes with its effect, not with this)."""
        witness = _witness.get() if effect else None
        with self.engine.connect() as conn:
            conn.info["write"] = True
            if witness is None:
                with conn.begin():
                    yield conn
                return
            with conn.begin():
                mark = witness.began(conn)
                yield conn
                done = witness.before_commit(conn, mark)
            witness.committed(done)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite a deferred BEGIN, so readers never block writers)."""
        with self.engine.connect() as conn:
            conn.info["write"] = False
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info["write"] = True

    @contextmanager
    def single_statement(self, *, read_only: bool = False) -> Iterator[Connection]:
        """For work that is one statement at a time: on PostgreSQL each statement commits by itself (no BEGIN
        and COMMIT round trips); on SQLite an ordinary transaction (a deferred one when `read_only`). Writes of a
        witnessed request (a keyed one) take a transaction, so that the witness can join it."""
        if not self.is_postgres or (not read_only and _witness.get() is not None):
            with self.read() if read_only else self.transaction() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def run(self, work: Callable[[Connection], T], *, retries: int = 3, effect: bool = True) -> T:
        """Run `work` in a write transaction, retrying when the engine aborts it to break a deadlock, a
        serialisation conflict or a get-or-create race (the work is all-database, so a retry is safe).
        `effect`: as for `transaction`."""
        for attempt in range(retries + 1):
            try:
                with self.transaction(effect=effect) as conn:
                    return work(conn)
            except Exception as exc:
                if attempt == retries or not _retryable(exc):
                    if isinstance(exc, RetryTransaction) and exc.otherwise is not None:
                        raise exc.otherwise from None
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """One trivial query: raises when the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


def transaction_memo(conn: Connection, name: str) -> dict[Any, Any]:
    """A dict that lives as long as the connection's current transaction: facts a transaction has made true
    for itself (a row it locked, a token it read) that later steps of the same transaction may skip reading.
    Outside a transaction it is a fresh, unkept dict."""
    transaction = conn.get_transaction()
    if transaction is None:
        return {}
    key = f"omnihub.memo.{name}"
    held = conn.info.get(key)
    if held is not None and held[0] is transaction:
        return held[1]  # type: ignore[no-any-return]
    memo: dict[Any, Any] = {}
    conn.info[key] = (transaction, memo)
    return memo


class RetryTransaction(Exception):
    """Raised by a use case that saw a concurrent change it cannot build on: run the transaction again.
    `otherwise`: the error to report if no attempt is left."""

    def __init__(self, message: str = "", *, otherwise: Exception | None = None) -> None:
        super().__init__(message)
        self.otherwise = otherwise


def _retryable(exc: BaseException) -> bool:
    """Deadlock, serialisation failure, a locked SQLite file, or a unique key another transaction just took
    (a get-or-create race: on retry the row is there to be found)."""
    if isinstance(exc, RetryTransaction):
        return True
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(exc, "sqlstate", None) or getattr(orig, "sqlstate", None)
    return sqlstate in ("40P01", "40001", "23505") or "database is locked" in str(orig or "")


def database_from_settings() -> Database:
    from omnihub.config import get_settings  # settings know no room, so core may read them

    settings = get_settings()
    return Database(settings.database_url, pool_size=settings.db_pool_size)


class PerEngine:
    """A statement with `column IN :list` filters, built once per engine kind. `build(in_)` gets the engine's
    spelling of the filter: `in_(column, "name")` is `column = ANY(:name)` — one array parameter — on
    PostgreSQL, where SQLAlchemy's expanding IN is rewritten into the SQL on every execution (~4 % of an
    order's CPU); an expanding IN on SQLite, which has no arrays. Call it with a connection to get the
    statement."""

    def __init__(self, build: Callable[[Callable[[Any, str], Any]], Any]) -> None:
        self._build = build
        self._built: dict[str, Any] = {}

    def __call__(self, conn: Connection) -> Any:
        name = conn.dialect.name
        statement = self._built.get(name)
        if statement is None:  # two threads may both build it: the same statement either way
            statement = self._built[name] = self._build(_array_in if name == "postgresql" else _expanding_in)
        return statement


def _array_in(column: Any, name: str) -> Any:
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))


def _expanding_in(column: Any, name: str) -> Any:
    return column.in_(sa.bindparam(name, expanding=True))


def dialect_insert(conn: Connection) -> Callable[..., Any]:
    """The engine's own `insert` construct, which knows ON CONFLICT (both SQLite and PostgreSQL have it)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def upsert(
    conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str], update: list[str]
) -> None:
    """INSERT ... ON CONFLICT DO UPDATE, spelled for whichever engine we are on."""
    if not rows:
        return
    stmt = dialect_insert(conn)(table)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})
    conn.execute(stmt, rows)


_CONFLICT_INSERTS: dict[tuple[Any, ...], sa.TextClause] = {}


def conflict_insert(table: sa.Table, columns: Sequence[str], *, conflict: str, returning: str | None = None
                    ) -> sa.TextClause:
    """`INSERT INTO table (columns) VALUES (:columns) ON CONFLICT … [RETURNING …]`, built once per shape.

    SQLAlchemy does not cache its dialect `insert(…).on_conflict_…()` constructs: they are compiled again on
    every execution (~0.35 ms of CPU here). This spelling is the same on SQLite and PostgreSQL, keeps each
    column's type for its parameter, and is compiled once."""
    key = (table.name, tuple(columns), conflict, returning)
    statement = _CONFLICT_INSERTS.get(key)
    if statement is None:
        names = ", ".join(columns)
        values = ", ".join(f":{c}" for c in columns)
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT {conflict}"
        if returning:
            sql += f" RETURNING {returning}"
        statement = sa.text(sql).bindparams(*(sa.bindparam(c, type_=table.c[c].type) for c in columns))
        _CONFLICT_INSERTS[key] = statement
    return statement


def take_counter(conn: Connection, table: sa.Table, key_column: str, key: str, counter_column: str) -> int:
    """Take the next value of a named counter row (1 first), creating the row on first use, in one statement.
    The row stays locked until the transaction ends, so values are never repeated and, if the transaction
    commits, never skipped."""
    statement = conflict_insert(
        table, [key_column, counter_column], conflict=(
            f"({key_column}) DO UPDATE SET {counter_column} = {table.name}.{counter_column} + 1"),
        returning=counter_column)
    return int(conn.execute(statement, {key_column: key, counter_column: 2}).scalar_one()) - 1


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (refused, gone, timed out, file unopenable), as opposed to a statement
    it refused: worth a 503 and a retry later, not a traceback."""
    if isinstance(exc, sa.exc.DisconnectionError | sa.exc.TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            text = str(exc.orig or exc).lower()
            if "database is locked" in text:
                return False  # a busy SQLite file: the statement failed, the database is there
            return any(sign in text for sign in _UNREACHABLE)
    return isinstance(exc, ConnectionError)


_UNREACHABLE = ("connection", "connect", "could not translate host", "server closed", "unable to open database",
                "terminating", "timeout", "timed out", "the database system is", "no such host", "refused",
                "does not exist")
