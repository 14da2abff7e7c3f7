"""Appending many rows to one table at once, for the bulk paths (imports): PostgreSQL's COPY, one stream per
batch, instead of a multi-row INSERT whose thousands of placeholders the driver and the server both parse.
SQLite runs the driver's executemany (an in-process loop, already cheap there).

Only for plain appends: no ON CONFLICT, no defaults computed by SQLAlchemy (give every column), and the caller's
room must own the table."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def copy_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Append `rows` (tuples in the order of `columns`) to `table` in the caller's transaction; returns how many.
    JSON columns take Python values (dumped here); timestamps must be aware datetimes."""
    if conn.dialect.name != "postgresql":
        dicts = [dict(zip(columns, row, strict=True)) for row in rows]
        if dicts:
            conn.execute(table.insert(), dicts)
        return len(dicts)
    json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, sa.JSON)]
    count = 0
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            write = copy.write_row
            if json_at:
                dumps = json.dumps
                # a value shared by many rows (a constant document) is dumped once; the value is kept with its
                # text so that its id cannot be reused by another value while the rows stream
                dumped: dict[int, tuple[Any, str]] = {}
                for row in rows:
                    values = list(row)
                    for i in json_at:
                        value = values[i]
                        if value is not None:
                            seen = dumped.get(id(value))
                            if seen is None:
                                seen = dumped[id(value)] = (value, dumps(value, default=str))
                            values[i] = seen[1]
                    write(values)
                    count += 1
            else:
                for row in rows:
                    write(row)
                    count += 1
    except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy's own statements raise it (IntegrityError…)
        raise sa.exc.DBAPIError.instance(f"COPY {table.name}", None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()
    return count


@contextmanager
def planned_each_time(conn: Connection) -> Iterator[None]:
    """Within the block, PostgreSQL plans every statement afresh (psycopg prepares none). A bulk load makes its
    tables grow by orders of magnitude while it runs: a statement prepared while a table was small keeps its
    plan — a sequential scan under `key = ANY(:keys)` — and a lookup of 2,000 keys among 500,000 rows then
    takes seconds per batch. A bulk batch runs few statements, so planning each costs nothing that shows."""
    raw = conn.connection.dbapi_connection if conn.dialect.name == "postgresql" else None
    if raw is None or not hasattr(raw, "prepare_threshold"):
        yield
        return
    before = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        yield
    finally:
        raw.prepare_threshold = before


def copy_csv_file(conn: Connection, table: sa.Table, columns: Sequence[str], path: Path) -> None:
    """Append a CSV file's rows (no header; an empty field is NULL, `""` an empty text) to `table` on PostgreSQL,
    streamed in blocks: rows a columnar import built in SQL reach the server without Python touching one."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy, \
                path.open("rb") as handle:  # type: ignore[attr-defined]
            while block := handle.read(1 << 20):
                copy.write(block)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(f"COPY {table.name}", None, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()
