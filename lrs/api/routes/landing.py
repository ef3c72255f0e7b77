"""`GET /`: a redirect to a small landing page (served from the package, no external assets)
that says where the xAPI endpoint, the API documentation and the dashboard are."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
LANDING_PATH = "/welcome"


@lru_cache(maxsize=1)
def page() -> str:
    return resources.files("lrs.api").joinpath("static/landing.html").read_text("utf-8")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse(LANDING_PATH.lstrip("/"), status_code=307)


@router.get(LANDING_PATH)
async def landing() -> HTMLResponse:
    return HTMLResponse(page(), headers={"Cache-Control": "no-cache"})
