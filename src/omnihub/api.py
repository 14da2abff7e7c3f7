"""Every room's router under /api/v1 (the rooms and their wiring come from `omnihub.bootstrap`)."""

from __future__ import annotations

from fastapi import FastAPI

from omnihub.bootstrap import House

PREFIX = "/api/v1"


def include_routers(app: FastAPI, house: House) -> None:
    for router in house.routers():
        app.include_router(router, prefix=PREFIX)
