"""The About Resource (xAPI Communication 2.8): no authentication, no version header needed."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from lrs import __version__
from lrs.api.headers import json_response
from lrs.xapi.versions import ABOUT_VERSIONS

router = APIRouter(prefix="/xapi")


@router.get("/about")
async def about() -> Response:
    return json_response(
        {
            "version": ABOUT_VERSIONS,
            "extensions": {"https://w3id.org/xapi/lrs/extensions/server": {"lrs": __version__}},
        }
    )
