"""Driving the ASGI app directly with raw requests (any bytes in the path, query and headers,
as a server would pass them on), and an LRS running in a thread of its own, for synchronous
callers such as hypothesis tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from bench.hostile import HostileRequest
from lrs.api.app import create_app
from lrs.settings import LrsSettings
from tests.support.stack import prepare_infra, running_persister

CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    note: str = ""  # why there is no real answer, when there is none


async def call_app(app: Any, request: HostileRequest) -> Answer:
    """The app's answer to `request`. A Server-Sent Events answer is cut after its start (the
    client disconnects), so that an opened stream ends; an exception the app lets out is
    reported as the 500 a server would send."""
    headers = [(b"host", b"testserver"), *request.headers]
    if not any(name == b"content-length" for name, _ in request.headers):
        headers.append((b"content-length", str(len(request.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(request.path),
        "raw_path": request.path.encode("latin-1"),
        "query_string": request.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []
    body_given = False

    async def receive() -> dict[str, Any]:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.start":
            if (
                dict(message.get("headers", []))
                .get(b"content-type", b"")
                .startswith(b"text/event-stream")
            ):
                done.set()
        elif not message.get("more_body"):
            done.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), CALL_TIMEOUT)
    except Exception as exc:  # what a server turns into a bare 500
        return Answer(500, {}, b"", f"the app raised {exc!r}")
    finally:
        done.set()
    return _answer(messages)


def _answer(messages: list[dict[str, Any]]) -> Answer:
    starts = [m for m in messages if m["type"] == "http.response.start"]
    if not starts:
        return Answer(500, {}, b"", "the app returned without answering")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in starts[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Answer(starts[0]["status"], headers, body)


class ThreadedLrs:
    """The API app (with its lifespan) and the persist consumer on an event loop in a thread of
    their own; `call` blocks until the app answered."""

    def __init__(self, settings: LrsSettings) -> None:
        self.settings = settings
        self._ready: Future[tuple[asyncio.AbstractEventLoop, Any, asyncio.Event]] = Future()
        self._thread = threading.Thread(target=self._run, name="threaded-lrs", daemon=True)

    def __enter__(self) -> ThreadedLrs:
        self._thread.start()
        self._loop, self._app, self._stop = self._ready.result(120)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "the threaded LRS did not stop"

    @property
    def app(self) -> Any:
        return self._app

    def call(self, request: HostileRequest) -> Answer:
        future = asyncio.run_coroutine_threadsafe(call_app(self._app, request), self._loop)
        return future.result(CALL_TIMEOUT + 10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)

    async def _main(self) -> None:
        await prepare_infra(self.settings)
        async with self._serving() as app:
            stop = asyncio.Event()
            self._ready.set_result((asyncio.get_running_loop(), app, stop))
            await stop.wait()

    @contextlib.asynccontextmanager
    async def _serving(self) -> AsyncIterator[Any]:
        app = create_app(self.settings)
        async with running_persister(self.settings), app.router.lifespan_context(app):
            yield app
