"""Response helpers: JSON bodies and the xAPI headers every response carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from lrs.xapi.timefmt import format_timestamp

CONSISTENT_THROUGH = "X-Experience-API-Consistent-Through"


def json_response(
    body: Any, status: int = 200, *, consistent_through: datetime | None = None
) -> Response:
    headers = {}
    if consistent_through is not None:
        headers[CONSISTENT_THROUGH] = format_timestamp(consistent_through)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
