"""Imports as a room of the house: declarative-mapping imports of files (CLI and API), with their jobs and the
external keys that make a re-run idempotent (docs/imports.md)."""

from __future__ import annotations

from omnihub.core.rooms import Room

ROOM = Room(name="imports")
