"""Response helpers: JSON bodies and the xAPI headers every response carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import orjson
from starlette.responses import Response

from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.multipart import build_multipart_mixed
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

CONSISTENT_THROUGH = "X-Experience-API-Consistent-Through"


def json_response(
    body: Any,
    status: int = 200,
    *,
    consistent_through: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    headers = dict(headers or {})
    if consistent_through is not None:
        headers[CONSISTENT_THROUGH] = format_timestamp(consistent_through)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def last_modified(statements: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """xAPI 2.0: Last-Modified is the latest `stored` of the statements returned."""
    stored = [s["stored"] for s in statements if isinstance(s.get("stored"), str)]
    if not stored:
        return {}
    latest = max(parse_timestamp(s) for s in stored)
    return {"Last-Modified": format_datetime(latest.astimezone(UTC), usegmt=True)}


def multipart_response(
    result: Any,
    payloads: Sequence[AttachmentPayload],
    consistent_through: datetime,
    headers: Mapping[str, str],
) -> Response:
    """Communication 2.1.3 `attachments=true`: multipart/mixed, the statement(s) JSON first, then
    one part per attachment with its hash (Communication 1.5.2)."""
    parts: list[tuple[Mapping[str, str], bytes]] = [
        ({"Content-Type": "application/json"}, orjson.dumps(result))
    ]
    parts += [
        (
            {
                "Content-Type": p.content_type,
                "Content-Transfer-Encoding": "binary",
                "X-Experience-API-Hash": p.sha2,
            },
            p.data,
        )
        for p in payloads
    ]
    content_type, body = build_multipart_mixed(parts)
    all_headers = {
        **headers,
        CONSISTENT_THROUGH: format_timestamp(consistent_through),
        "Content-Type": content_type,
    }
    return Response(body, 200, all_headers)
