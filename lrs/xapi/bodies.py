"""Statement request bodies (xAPI Communication 1.5, 2.1.2): JSON or multipart/mixed with
attachments, into (statements, attachment payloads). Pure."""

from __future__ import annotations

from typing import Any

import orjson

from lrs.xapi.attachments import AttachmentPayload, split_statement_request
from lrs.xapi.errors import BadRequest
from lrs.xapi.multipart import split_media_type

JSON = "application/json"
MULTIPART = "multipart/mixed"


def parse_json_body(body: bytes) -> Any:
    """The body as JSON, or 400 naming the problem."""
    if not body.strip():
        raise BadRequest("request body is empty: expected a statement or an array of statements")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def as_statement_list(doc: Any) -> list[Any]:
    """Communication 2.1.2: a statement object or a non-empty array of statements."""
    if isinstance(doc, list):
        if not doc:
            raise BadRequest("the statement array is empty")
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise BadRequest("request body must be a statement object or an array of statements")


def parse_statement_body(
    content_type: str | None, body: bytes
) -> tuple[Any, dict[str, AttachmentPayload]]:
    """Communication 1.5: statements come as application/json, or as multipart/mixed whose
    first part is the JSON and whose other parts are attachments; anything else is 400."""
    media = split_media_type(content_type)[0] if content_type else JSON
    if media == MULTIPART:
        statement_json, payloads = split_statement_request(content_type or "", body)
        return parse_json_body(statement_json), payloads
    if media == JSON:
        return parse_json_body(body), {}
    raise BadRequest(
        f"Content-Type {media!r} is not accepted for statements: use application/json, or"
        " multipart/mixed for statements with attachments (Communication 1.5)"
    )
