"""The dashboard shell and the console's home. KPI cards and charts come from the analytics room once it is
there; until then the page says so rather than showing invented numbers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.console import rules
from omnihub.console.web import ConsoleRoute, Viewer, current_viewer, page, redirect, render

router = APIRouter(route_class=ConsoleRoute)


@router.get("/")
def home(viewer: Viewer = Depends(current_viewer)) -> Response:
    return redirect(f"/{rules.home_page(viewer.role)}")


@router.get("/dashboard")
def dashboard(request: Request, viewer: Viewer = Depends(page("dashboard"))) -> Response:
    return render(request, "dashboard.html", {"analytics": None})
