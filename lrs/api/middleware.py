"""ASGI middleware at the edge: the xAPI version header on every response, and HTTP metrics
labelled by route template (never by path, which would carry ids)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs import metrics

VERSION_HEADER = b"x-experience-api-version"


def response_version(request_header: bytes | None, default: bytes) -> bytes:
    """Communication 3.3: every response carries the version; we answer in the latest patch of
    the requested minor version (2.0.0 for 2.0.x, 1.0.3 for 1.0.x), and with `default` when
    the request named none (or one we do not speak)."""
    value = (request_header or b"").strip()
    if value.startswith(b"2.0"):
        return b"2.0.0"
    if value.startswith(b"1.0"):
        return b"1.0.3"
    return default


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, default_version: str = "2.0.0") -> None:
        self.app = app
        self.default_version = default_version.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        requested = dict(scope["headers"]).get(VERSION_HEADER)
        version = response_version(requested, self.default_version)
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((VERSION_HEADER, version))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            method = scope["method"]
            metrics.http_answered(label, method, status, time.perf_counter() - started)


class HeadAsGetMiddleware:
    """Communication 1.1: the LRS answers HEAD on every resource exactly like GET, without the
    body. Routes are declared for GET only; this turns a HEAD into that GET and drops the body
    it produces (the headers, Content-Length included, are kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)
