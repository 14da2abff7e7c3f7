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
