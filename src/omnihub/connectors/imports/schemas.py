"""Shapes of the imports API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_MAPPING_CHARS = 64 * 1024


class ImportProgress(BaseModel):
    rows_done: int
    rows_total: int | None


class ImportJobOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    mapping: str
    files: list[str]
    status: str  # queued, running, done, failed
    dry_run: bool
    progress: ImportProgress
    counts: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
