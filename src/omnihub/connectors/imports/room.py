"""Imports as a room of the house: declarative-mapping imports of files (CLI and API), with their jobs and the
external keys that make a re-run idempotent (docs/imports.md). Queued jobs are run by the worker's
`run_imports` (not a room job: the import commits batch by batch, outside any single transaction)."""

from __future__ import annotations

from omnihub.core.rooms import Room

ROOM = Room(name="imports", router="omnihub.connectors.imports.api:router")
