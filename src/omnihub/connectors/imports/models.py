"""The imports room's tables: which external record became which hub record (so a re-run is idempotent) and
the import jobs with their progress and report."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import JsonDoc, Timestamp, metadata

# One row per source record written: (system, entity, external key) → hub id, with a fingerprint of what was
# imported, so the same file again is "unchanged" and a changed record is reported, not silently rewritten.
import_keys = sa.Table(
    "import_keys",
    metadata,
    sa.Column("system", sa.String(40), primary_key=True),
    sa.Column("entity", sa.String(16), primary_key=True),
    sa.Column("external_key", sa.String(200), primary_key=True),
    sa.Column("hub_id", sa.String(200), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

import_jobs = sa.Table(
    "import_jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("mapping", sa.String(200), nullable=False),  # the mapping's name
    sa.Column("mapping_text", sa.Text, nullable=False),  # the YAML, as uploaded
    sa.Column("files", JsonDoc, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=True),  # the uploaded file until the job has run
    sa.Column("rows_total", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("counts", JsonDoc, nullable=False),
    sa.Column("report", JsonDoc, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)
