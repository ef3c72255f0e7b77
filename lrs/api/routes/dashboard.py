"""`GET /dashboard`: one static page (plain HTML + JS, no build step) with its own sign-in
form, the organisation overview, a team's members and a learner's progress, live over the
progress stream (docs/decisions/0013), and the goals of each (docs/goals.md), live over the
goal stream."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])


@lru_cache(maxsize=1)
def page() -> str:
    """Read on first request (never at import) from the package data."""
    return resources.files("lrs.api").joinpath("static/dashboard.html").read_text("utf-8")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(page(), headers={"Cache-Control": "no-cache"})
