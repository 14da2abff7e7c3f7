"""Several independent reads in one round trip to PostgreSQL (its pipeline mode), as on SQLite one after the other.

A page that shows many small facts about one thing (an agent's thread with the customer's 360 view) runs a dozen
indexed reads of a fraction of a millisecond each; on a busy host each round trip waits for the server's backend
and then for the client to be scheduled again, so the waits, not the reads, are what the page costs. Sent in one
pipeline they are one wait. The statements are built once (module constants with bind parameters) and compiled
once here; each read returns its rows (attribute access by column name, as SQLAlchemy's rows)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

Read = tuple[Executable, Mapping[str, Any]]

_compiled: dict[int, tuple[Executable, Any]] = {}
_lock = threading.Lock()
_MAX_COMPILED = 512  # statements are module constants: far fewer; a caller building them per call only recompiles


def _prepare(conn: Connection, statement: Executable, given: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The SQL and its parameters as psycopg takes them: the statement compiled once, its expanding parameters
    (an IN of constants) and the values written into it (a LIMIT) filled in, each value through its type."""
    hit = _compiled.get(id(statement))
    if hit is not None and hit[0] is statement:
        compiled = hit[1]
    else:
        compiled = statement.compile(dialect=conn.dialect)
        with _lock:
            if len(_compiled) >= _MAX_COMPILED:
                _compiled.clear()
            _compiled[id(statement)] = (statement, compiled)  # the statement is kept: its id stays its own
    state = compiled.construct_expanded_state(dict(given))
    values = dict(state.parameters)
    for name, process in state.processors.items():
        if values.get(name) is not None:
            values[name] = process(values[name])
    return state.statement, values


def read_together(conn: Connection, reads: Sequence[Read]) -> list[list[Any]]:
    """Each read's rows, in order. On PostgreSQL all of them go in one pipeline (one round trip) inside the
    connection's current transaction; elsewhere they run one after the other. A failing read raises as
    `conn.execute` would (a DBAPIError)."""
    if conn.dialect.name != "postgresql" or len(reads) < 2:
        return [list(conn.execute(statement, dict(params)).all()) for statement, params in reads]
    prepared = [_prepare(conn, statement, params) for statement, params in reads]
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    sql = ""
    values: dict[str, Any] = {}
    try:
        with raw.pipeline():
            cursors = []
            for sql, values in prepared:
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursor.execute(sql, values)
                cursors.append(cursor)
            return [cursor.fetchall() for cursor in cursors]
    except psycopg.Error as exc:
        if raw.closed:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, values, exc, psycopg.Error, hide_parameters=True,
                                         connection_invalidated=raw.closed) from exc
