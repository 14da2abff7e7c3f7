"""Reading import jobs (their progress and report)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.imports import errors
from omnihub.connectors.imports.models import import_jobs

J = import_jobs.c


def get_job(conn: Connection, job_id: str, *, with_report: bool = True) -> dict[str, Any]:
    row = conn.execute(sa.select(J.id, J.mapping, J.files, J.status, J.dry_run, J.rows_read, J.rows_total,
                                 J.counts, J.report, J.error, J.created_by, J.created_at, J.updated_at)
                       .where(J.id == job_id)).first()
    if row is None:
        raise errors.job_not_found(job_id)
    job = dict(row._mapping)
    job["progress"] = {"rows_done": job.pop("rows_read"), "rows_total": job.pop("rows_total")}
    if not with_report:
        job["report"] = None
    return job


def list_jobs(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest jobs with their progress and counts (no report: that is the job's own page)."""
    rows = conn.execute(sa.select(J.id, J.mapping, J.files, J.status, J.dry_run, J.rows_read, J.rows_total,
                                  J.counts, J.error, J.created_by, J.created_at, J.updated_at)
                        .order_by(J.created_at.desc(), J.id.desc()).limit(limit)).all()
    jobs = []
    for row in rows:
        job = dict(row._mapping)
        job["progress"] = {"rows_done": job.pop("rows_read"), "rows_total": job.pop("rows_total")}
        job["report"] = None
        jobs.append(job)
    return jobs


def known_mappings(conn: Connection, *, limit: int = 50) -> dict[str, str]:
    """The mappings used before, by name: the newest text of each (so an upload can name one instead of
    sending its YAML again)."""
    rows = conn.execute(sa.select(J.mapping, J.mapping_text).order_by(J.created_at.desc()).limit(500)).all()
    found: dict[str, str] = {}
    for row in rows:
        found.setdefault(row.mapping, row.mapping_text)
        if len(found) >= limit:
            break
    return dict(sorted(found.items()))
