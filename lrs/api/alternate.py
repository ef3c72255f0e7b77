"""The Alternate Request Syntax (xAPI 1.0.3 Communication 1.3), as ASGI middleware.

A POST with `?method=X` and a form body is turned into the request it stands for before routing:
the method from the query, the listed header parameters from the form, `content` as the body,
every other form field as the query string. xAPI 2.0 removed this syntax: a 2.0 request using it
is rejected with 400.

`method=HEAD` is honoured too: Communication 1.3 asks for "the intended xAPI method" and 1.1
makes HEAD one ("The LRS MUST respond to any HTTP HEAD request as it would have responded to an
otherwise identical HTTP GET request except: the message-body MUST be omitted"). The answer is
the GET's headers without its body; as the request on the wire is a POST, whose answer has the
body its Content-Length announces, that Content-Length is 0.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs.api.errors import error_response
from lrs.xapi.errors import BadRequest
from lrs.xapi.params import single_values

FORM_HEADERS = {
    "authorization",
    "x-experience-api-version",
    "content-type",
    "content-length",
    "if-match",
    "if-none-match",
}
METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE"}
FORM_TYPE = "application/x-www-form-urlencoded"


class AlternateSyntaxError(ValueError):
    pass


class AlternateSyntaxMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if scope["type"] != "http" or scope["method"] != "POST" or "method" not in query:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self.max_body_bytes)
            rewritten, content = rewrite(scope, query, body)
        except (AlternateSyntaxError, UnicodeDecodeError) as exc:
            response = error_response(
                Request(scope), BadRequest(f"alternate request syntax: {exc}")
            )
            await response(scope, receive, send)
            return
        except BadRequest as exc:  # a form field given twice (lrs.xapi.params)
            await error_response(Request(scope), exc)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": content, "more_body": False}

        if rewritten["method"] == "HEAD":
            send = _without_length(send)
        await self.app(rewritten, replay, send)


def _without_length(send: Send) -> Send:
    """The response start with Content-Length 0 (the body is dropped further in)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-length"]
            message = {**message, "headers": [*headers, (b"content-length", b"0")]}
        await send(message)

    return sending


def rewrite(scope: Scope, query: dict[str, list[str]], body: bytes) -> tuple[Scope, bytes]:
    """The scope and body of the request an alternate-syntax POST stands for (Comm. 1.3)."""
    if set(query) != {"method"}:
        raise AlternateSyntaxError(
            "with the alternate request syntax, 'method' must be the only query parameter"
            " (Communication 1.3)"
        )
    method = single_values(("method", value) for value in query["method"])["method"].upper()
    if method not in METHODS:
        raise AlternateSyntaxError(f"method={method!r} is not an xAPI method")
    headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
    if headers.get("content-type", b"").split(b";")[0].strip().decode() != FORM_TYPE:
        raise AlternateSyntaxError(
            f"the alternate request syntax needs Content-Type {FORM_TYPE} (Communication 1.3)"
        )
    form = parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True)
    fields = single_values(form)  # a field given twice is refused, as a repeated parameter is
    new_headers = _headers(headers, fields)
    version = new_headers.get("x-experience-api-version", b"").decode("latin-1").strip()
    if version.startswith("2."):
        raise AlternateSyntaxError("xAPI 2.0 does not allow the alternate request syntax")
    content = fields.pop("content", "").encode()
    new_headers["content-length"] = str(len(content)).encode()
    params = {k: v for k, v in fields.items() if k.lower() not in FORM_HEADERS}
    new_scope: dict[str, Any] = dict(scope)
    new_scope.update(
        method=method,
        query_string=urlencode(params).encode(),
        headers=[(k.encode("latin-1"), v) for k, v in new_headers.items()],
    )
    return new_scope, content


def _headers(original: dict[str, bytes], fields: dict[str, str]) -> dict[str, bytes]:
    """Real headers, less the form's own Content-Type, plus the header parameters of the form."""
    merged = {k: v for k, v in original.items() if k not in ("content-type", "content-length")}
    for name, value in fields.items():
        if name.lower() in FORM_HEADERS:
            merged[name.lower()] = value.encode("latin-1", errors="replace")
    return merged


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise AlternateSyntaxError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
