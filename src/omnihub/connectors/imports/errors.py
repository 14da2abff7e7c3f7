"""The imports room's errors, each with a stable code (problem+json through app.py)."""

from __future__ import annotations

from omnihub.core.errors import NotFound, ValidationFailed


def invalid_mapping(line: int, message: str) -> ValidationFailed:
    return ValidationFailed("invalid_mapping", f"line {line}: {message}", field="mapping", line=line)


def unreadable_file(message: str) -> ValidationFailed:
    return ValidationFailed("unreadable_file", message, field="file")


def job_not_found(job_id: str) -> NotFound:
    return NotFound("import_not_found", f"No import {job_id}.", field="id")
