"""One table from domain errors to HTTP status codes, and one error envelope.

Envelope: ``{"error": {"code": ..., "message": ..., "request_id": ..., "details": [...]}}``.
FastAPI's own request validation errors become 400 (xAPI never answers 422), and anything
unexpected becomes a 500 with the same envelope (and a log line with the traceback).
"""

from __future__ import annotations

import logging
import uuid

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from lrs.api.headers import CONSISTENT_THROUGH
from lrs.xapi import errors as e
from lrs.xapi.timefmt import format_timestamp

log = logging.getLogger("lrs.api")

STATUS_BY_ERROR: dict[type[e.XapiError], int] = {
    e.InvalidStatement: 400,
    e.BadRequest: 400,
    e.InvalidDocument: 400,
    e.DuplicateStatementId: 400,
    e.UnsupportedVersion: 400,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.StatementConflict: 409,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.PayloadTooLarge: 413,
    e.Unavailable: 503,
}


def status_for(error: e.XapiError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(request: Request, error: e.XapiError, status: int | None = None) -> Response:
    status = status or status_for(error)
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": request_id(request),
            "details": error.details_as_dicts(),
        }
    }
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="xAPI LRS"'
    if status == 503:
        headers["Retry-After"] = "1"
    through = getattr(request.state, "consistent_through", None)
    if through is not None:
        headers[CONSISTENT_THROUGH] = format_timestamp(through)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
    return str(rid)


def install_error_handlers(app: FastAPI) -> None:
    async def on_xapi_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.XapiError)
        return error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        issues = [
            e.Issue(
                ".".join(str(p) for p in err.get("loc", ())),
                str(err.get("type")),
                str(err.get("msg")),
            )
            for err in exc.errors()
        ]
        message = "; ".join(f"{i.path}: {i.message}" for i in issues) or "invalid request"
        return error_response(request, e.BadRequest(message, issues))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = e.XapiError(str(exc.detail))
        error.code = "http_error"
        return error_response(request, error, exc.status_code)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = e.XapiError("internal error; the request id identifies it in the server log")
        error.code = "internal_error"
        return error_response(request, error, 500)

    app.add_exception_handler(e.XapiError, on_xapi_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
