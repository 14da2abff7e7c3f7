"""Import jobs: an upload queued by the API (`POST /imports`), run by the worker with its progress recorded, so
a large file never runs inside a request. The claim commits before the import starts and each batch commits on
its own, so `GET /imports/{id}` shows the rows done while it runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.imports import errors, rules
from omnihub.connectors.imports.models import import_jobs
from omnihub.connectors.imports.reading import FileProblem
from omnihub.connectors.imports.service import Importer
from omnihub.core.clock import Clock
from omnihub.core.db import Database, new_id

J = import_jobs.c
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")


def queue_import(conn: Connection, clock: Clock, *, mapping_text: str, filename: str, payload: bytes,
                 dry_run: bool, actor: str | None) -> dict[str, Any]:
    """Validate the mapping now (a typo is a 422 naming its line, not a failed job later) and queue the file."""
    try:
        mapping = rules.compile_mapping(mapping_text)
    except rules.MappingError as exc:
        raise errors.invalid_mapping(exc.line, exc.message) from None
    if Path(filename).suffix.lower() not in SUFFIXES:
        raise errors.unreadable_file(f"{filename}: expected a .csv or .xlsx file")
    if not payload:
        raise errors.unreadable_file(f"{filename}: the file is empty")
    now = clock.now()
    job_id = new_id("imp")
    conn.execute(import_jobs.insert(), dict(
        id=job_id, mapping=mapping.name, mapping_text=mapping_text, files=[Path(filename).name], payload=payload,
        status="queued", dry_run=dry_run, rows_read=0, counts={}, created_by=actor, created_at=now,
        updated_at=now))
    return {"id": job_id}


def _claim(db: Database, clock: Clock) -> dict[str, Any] | None:
    """The oldest queued job, now running. An idle worker asks with a read (no write lock on SQLite)."""
    with db.read() as conn:
        if conn.execute(sa.select(J.id).where(J.status == "queued").limit(1)).first() is None:
            return None
    with db.transaction() as conn:
        row = conn.execute(sa.select(J.id, J.mapping_text, J.files, J.payload, J.dry_run)
                           .where(J.status == "queued").order_by(J.created_at, J.id).limit(1)).first()
        if row is None:
            return None
        claimed = conn.execute(import_jobs.update().where(J.id == row.id, J.status == "queued")
                               .values(status="running", updated_at=clock.now())).rowcount
        return dict(row._mapping) if claimed else None


def _update(db: Database, clock: Clock, job_id: str, **values: Any) -> None:
    with db.transaction() as conn:
        conn.execute(import_jobs.update().where(J.id == job_id).values(updated_at=clock.now(), **values))


def run_queued(db: Database, clock: Clock) -> int:
    """Run the oldest queued import, if any (the worker calls this every step). Returns 1 when it ran one."""
    job = _claim(db, clock)
    if job is None:
        return 0
    name = job["files"][0]
    with tempfile.TemporaryDirectory(prefix="omnihub-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(job["payload"])

        def progress(done: int, total: int | None) -> None:
            _update(db, clock, job["id"], rows_read=done, rows_total=total)

        try:
            mapping = rules.compile_mapping(job["mapping_text"])
            report = Importer(db, clock, mapping, [path], dry_run=job["dry_run"], progress=progress,
                              job_id=job["id"]).run()
        except (rules.MappingError, FileProblem, UnicodeDecodeError) as exc:
            _update(db, clock, job["id"], status="failed", error=str(exc)[:2000], payload=None)
            return 1
        except Exception as exc:  # recorded on the job, then raised for the worker's log
            _update(db, clock, job["id"], status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                    payload=None)
            raise
    out = report.as_dict()
    _update(db, clock, job["id"], status="done", rows_read=report.rows, counts={**out["rows"],
            "created": out["created"], "dirty": len(out["dirty"])}, report=_jsonable(out), payload=None)
    return 1


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
