"""One table from domain errors to HTTP status codes, and one error envelope.

Envelope: ``{"error": {"code": ..., "message": ..., "request_id": ..., "details": [...]}}``.
Domain errors (lrs.xapi.errors) get their status from `STATUS_BY_ERROR`. FastAPI's own request
validation errors become 400 (xAPI never answers 422). An exception that is no domain error is
answered by `ErrorEnvelopeMiddleware`, inside the CORS and edge middleware (so with their
headers): a store or broker outage (as lrs.outages tells it, the rule the consumers follow
too), or a request cut short by the server stopping, is 503 Unavailable with Retry-After;
anything else is a 500 with the same envelope (and a log line with the traceback)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs.api.headers import CONSISTENT_THROUGH
from lrs.outages import Dependency, outage_of
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
    e.TooManyRequests: 429,
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
    if status == 401 and not from_page_script(request):
        headers["WWW-Authenticate"] = 'Basic realm="xAPI LRS"'
    if status == 503:
        headers["Retry-After"] = "1"
    if isinstance(error, e.TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    through = getattr(request.state, "consistent_through", None)
    if through is not None:
        headers[CONSISTENT_THROUGH] = format_timestamp(through)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


PAGE_SCRIPT_HEADER = "x-requested-with"


def from_page_script(request: Request) -> bool:
    """A request a page's script makes itself (`X-Requested-With`, as the dashboard sends).

    Its 401 carries no `WWW-Authenticate`: with one, a browser answers the challenge itself
    with its login prompt, and the page never sees the 401 it would explain. Every other
    client (xAPI clients, the conformance suites) keeps the Basic challenge."""
    return bool(request.headers.get(PAGE_SCRIPT_HEADER))


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
    return str(rid)


UNAVAILABLE_MESSAGES: dict[Dependency, str] = {
    "store": "the store is unreachable or too slow right now; retry later",
    "broker": "the broker is unreachable or too slow right now; retry later",
    "dependency": "a dependency did not answer in time; retry later",
}


def outage(exc: BaseException) -> e.Unavailable | None:
    """The Unavailable a dependency's failure stands for, or None when it is no outage (the
    rule is lrs.outages', the same the consumers and the dead-letter tools follow)."""
    dependency = outage_of(exc)
    return None if dependency is None else e.Unavailable(UNAVAILABLE_MESSAGES[dependency])


def unexpected_error_response(request: Request, exc: BaseException) -> Response:
    """503 for an outage or a request cut short by shutdown, else 500; both logged."""
    if isinstance(exc, asyncio.CancelledError):
        log.warning("%s %s cut short (the server is stopping)", request.method, request.url.path)
        stopping = e.Unavailable("the LRS is stopping; retry the request")
        return error_response(request, stopping)
    unavailable = outage(exc)
    if unavailable is not None:
        log.warning("%s %s: %r", request.method, request.url.path, exc)
        return error_response(request, unavailable)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = e.XapiError("internal error; the request id identifies it in the server log")
    error.code = "internal_error"
    return error_response(request, error, 500)


class ErrorEnvelopeMiddleware:
    """Answers any exception a route lets out, while no response has started, with the error
    envelope (see `unexpected_error_response`). Placed inside the CORS and edge middleware so
    the answer carries their headers. A cancelled request (uvicorn cancels what is still
    running when its graceful-shutdown time is over) gets its 503 before the cancellation goes
    on. Once a response has started (a stream), nothing can be said any more: the error goes
    on and the server closes the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except (Exception, asyncio.CancelledError) as exc:
            if started:
                raise
            response = unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send)
            if isinstance(exc, asyncio.CancelledError):
                raise


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
        """The last resort, for a failure of the middleware outside ErrorEnvelopeMiddleware."""
        return unexpected_error_response(request, exc)

    app.add_exception_handler(e.XapiError, on_xapi_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
