"""`POST /imports` (a file and its YAML mapping, queued for the worker) and `GET /imports/{id}` (progress and
report). Admin only: an import writes customers, products, stock and orders across every channel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from omnihub.connectors.imports import errors, jobs, queries
from omnihub.connectors.imports.schemas import MAX_MAPPING_CHARS, ImportJobOut
from omnihub.deps import Context, requires

router = APIRouter(tags=["imports"])


@router.post("/imports", status_code=202, response_model=ImportJobOut)
async def create_import(file: UploadFile = File(..., description="CSV or Excel (.xlsx); at most "
                                                                "OMNIHUB_MAX_BODY_BYTES with the form"),
                        mapping: str = Form(..., max_length=MAX_MAPPING_CHARS, description="The YAML mapping"),
                        dry_run: bool = Form(False),
                        ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Queue an import; the worker runs it. The mapping is checked now: a typo is a 422 naming its YAML line."""
    payload = await file.read()
    filename = file.filename or "upload.csv"
    if len(filename) > 200:
        raise errors.unreadable_file("the file name is longer than 200 characters")
    with ctx.db.transaction() as conn:
        queued = jobs.queue_import(conn, ctx.clock, mapping_text=mapping, filename=filename, payload=payload,
                                   dry_run=dry_run, actor=ctx.principal.key_id)
        return queries.get_job(conn, queued["id"])


@router.get("/imports/{job_id}", response_model=ImportJobOut)
def get_import(job_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """The job's status, rows done of rows total while it runs, and once done its counts and full report (every
    rejected row with its line and reason, every dirty finding)."""
    with ctx.db.read() as conn:
        return queries.get_job(conn, job_id)
