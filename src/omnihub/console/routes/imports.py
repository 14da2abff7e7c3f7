"""Imports: upload a file with its mapping (one used before, by name, or a new YAML file), follow the job's
progress live (htmx polls a small fragment while it is queued or running) and read its report — imported,
unchanged and rejected counts, every rejected row with its line and reason, the dirty findings — or download
it as JSON. The worker runs the jobs (`omnihub worker`), as for `POST /api/v1/imports`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from omnihub.connectors.imports import jobs as import_jobs
from omnihub.connectors.imports import queries as import_queries
from omnihub.connectors.imports.schemas import MAX_MAPPING_CHARS
from omnihub.console.web import SECURITY_HEADERS, ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, ValidationFailed

router = APIRouter(route_class=ConsoleRoute)
LIVE = ("queued", "running")
MAX_REJECTED_SHOWN = 500


def _list(request: Request, *, problem: dict[str, Any] | None = None, chosen: str = "") -> Response:
    with request.app.state.db.read() as conn:
        jobs = import_queries.list_jobs(conn)
        mappings = sorted(import_queries.known_mappings(conn))
    return render(request, "imports/list.html", {
        "jobs": jobs, "mappings": mappings, "problem": problem, "chosen": chosen,
        "live": any(j["status"] in LIVE for j in jobs)}, status=problem["status"] if problem else 200)


@router.get("/imports")
def import_list(request: Request, viewer: Viewer = Depends(page("imports"))) -> Response:
    return _list(request)


@router.get("/imports/jobs")
def import_rows(request: Request, viewer: Viewer = Depends(page("imports"))) -> Response:
    """The jobs table alone, for the page's polling (it stops polling once nothing is queued or running)."""
    with request.app.state.db.read() as conn:
        jobs = import_queries.list_jobs(conn)
    return render(request, "imports/_jobs.html", {"jobs": jobs, "live": any(j["status"] in LIVE for j in jobs)})


def _bad(detail: str, field: str) -> dict[str, Any]:
    return problem_of(ValidationFailed("invalid_upload", detail, field=field))


@router.post("/imports")
async def upload(request: Request, form: dict[str, str] = Depends(posted("imports")),
                 viewer: Viewer = Depends(page("imports"))) -> Response:
    """The form is already read (and its CSRF token checked) by `posted`; Starlette keeps it, files included."""
    data = await request.form()
    file, mapping_file = data.get("file"), data.get("mapping_file")
    chosen = form.get("mapping", "")
    if not isinstance(file, UploadFile) or not file.filename:
        return await run_in_threadpool(_list, request, problem=_bad("Choose the file to import.", "file"),
                                       chosen=chosen)
    mapping_text = ""
    if isinstance(mapping_file, UploadFile) and mapping_file.filename:
        raw = await mapping_file.read(MAX_MAPPING_CHARS + 1)
        try:
            mapping_text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return await run_in_threadpool(_list, request, chosen=chosen, problem=_bad(
                "The mapping file is not UTF-8 text.", "mapping_file"))
        if len(mapping_text) > MAX_MAPPING_CHARS:
            return await run_in_threadpool(_list, request, chosen=chosen, problem=_bad(
                "The mapping is longer than 64 KiB.", "mapping_file"))
    payload = await file.read()
    filename = (file.filename or "upload.csv")[:200]
    return await run_in_threadpool(_queue, request, viewer, chosen, mapping_text, filename, payload)


def _queue(request: Request, viewer: Viewer, chosen: str, mapping_text: str, filename: str,
           payload: bytes) -> Response:
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            if not mapping_text:
                mapping_text = import_queries.known_mappings(conn).get(chosen, "")
                if not mapping_text:
                    raise ValidationFailed("invalid_upload", "Choose a mapping used before or upload its YAML file.",
                                           field="mapping")
            queued = import_jobs.queue_import(conn, state.clock, mapping_text=mapping_text, filename=filename,
                                              payload=payload, dry_run=False, actor=f"console:{viewer.email}"[:64])
    except DomainError as exc:
        return _list(request, problem=problem_of(exc), chosen=chosen)
    return redirect(f"/imports/{queued['id']}")


def _job(request: Request, job_id: str) -> dict[str, Any]:
    with request.app.state.db.read() as conn:
        job = import_queries.get_job(conn, job_id)
    report = job.get("report") or {}
    job["rejected_shown"] = (report.get("rejected") or [])[:MAX_REJECTED_SHOWN]
    job["rejected_total"] = len(report.get("rejected") or [])
    job["dirty"] = (report.get("dirty") or [])[:MAX_REJECTED_SHOWN]
    job["rows"] = report.get("rows") or {}
    job["created"] = report.get("created") or {}
    return job


@router.get("/imports/{job_id}")
def import_detail(request: Request, job_id: str, viewer: Viewer = Depends(page("imports"))) -> Response:
    job = _job(request, job_id)
    return render(request, "imports/detail.html", {"job": job, "live": job["status"] in LIVE})


@router.get("/imports/{job_id}/progress")
def import_progress(request: Request, job_id: str, viewer: Viewer = Depends(page("imports"))) -> Response:
    """The job's progress and report alone, for the page's polling."""
    job = _job(request, job_id)
    return render(request, "imports/_job.html", {"job": job, "live": job["status"] in LIVE})


@router.get("/imports/{job_id}/report.json")
def import_report(request: Request, job_id: str, viewer: Viewer = Depends(page("imports"))) -> Response:
    with request.app.state.db.read() as conn:
        job = import_queries.get_job(conn, job_id)
    body = {"id": job["id"], "status": job["status"], "error": job["error"], **(job["report"] or {})}
    return Response(json.dumps(body, indent=1, default=str, ensure_ascii=False), media_type="application/json",
                    headers={**SECURITY_HEADERS,
                             "Content-Disposition": f'attachment; filename="import-{job["id"]}.json"'})
