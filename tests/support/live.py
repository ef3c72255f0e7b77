"""The API on a real HTTP port in the test process (uvicorn), for what the ASGI transport cannot
do: streamed responses (Server-Sent Events). And a small SSE reader for tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
import uvicorn

from lrs.api.app import Adapters, create_app, utc_now
from lrs.entry.embedded import free_port
from lrs.settings import LrsSettings
from lrs.wiring.api import create_connected_app

Clock = Callable[[], datetime]
START_WITHIN_SECONDS = 120  # the lifespan connects to the broker and the store


@contextlib.asynccontextmanager
async def live_api(
    settings: LrsSettings, adapters: Adapters | None = None, *, clock: Clock | None = None
) -> AsyncIterator[str]:
    """create_app(settings) served by uvicorn on a free port; yields its base URL. Without
    `adapters`, the app connects to the configured broker and store. `clock` replaces the wall
    clock (a test whose expectations depend on "now" must pass one: a CI machine's date is not
    the day the test was written)."""
    port = free_port()
    app = (
        create_app(settings, adapters=adapters, clock=clock or utc_now)
        if adapters
        else create_connected_app(settings, clock=clock or utc_now)
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + START_WITHIN_SECONDS
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped during start-up"
            assert asyncio.get_running_loop().time() < deadline, (
                f"the API did not start within {START_WITHIN_SECONDS} s (broker or store down?)"
            )
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@dataclass
class Event:
    event: str = "message"
    data: Any = None
    id: str | None = None
    comments: list[str] = field(default_factory=list)


class SseReader:
    """Reads events of one open stream; comments are collected on the next event (or kept as
    `pending_comments` until one comes)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.retry: int | None = None
        self.pending_comments: list[str] = []

    async def next(self, within: float = 15.0) -> Event:
        async with asyncio.timeout(within):  # not wait_for: see tests/unit/test_cancellation.py
            return await self._next()

    async def next_named(self, name: str, within: float = 15.0) -> Event:
        """The next event called `name` (others before it are skipped)."""
        async with asyncio.timeout(within):
            while True:
                event = await self._next()
                if event.event == name:
                    return event

    async def _next(self) -> Event:
        event = Event()
        data: list[str] = []
        got_field = False
        async for line in self._lines:
            if line == "":
                if got_field:
                    event.data = orjson.loads("\n".join(data)) if data else None
                    event.comments, self.pending_comments = self.pending_comments, []
                    return event
                continue
            if line.startswith(":"):
                self.pending_comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
            elif name == "event":
                event.event, got_field = value, True
            elif name == "id":
                event.id, got_field = value, True
            elif name == "data":
                data.append(value)
                got_field = True
        raise EOFError("the stream ended")

    async def comment(self, within: float = 15.0) -> str:
        """Wait for the next comment line (e.g. a keep-alive), skipping nothing else."""
        async with asyncio.timeout(within):
            while not self.pending_comments:
                line = await anext(self._lines)
                if line.startswith(":"):
                    self.pending_comments.append(line[1:].strip())
                elif line.startswith("retry:"):
                    self.retry = int(line.partition(":")[2])
                elif line:
                    raise AssertionError(f"expected a comment, got {line!r}")
            return self.pending_comments.pop(0)
