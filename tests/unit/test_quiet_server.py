"""The API's uvicorn server ticks once a second, and a stop request ends its wait at once
(lrs.entry.quiet_server)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn

from lrs.entry.quiet_server import QuietServer
from tests.support.polling import eventually

WITHIN = 20.0


async def app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("never called")


def server(tick_seconds: float) -> QuietServer:
    config = uvicorn.Config(app, log_level="warning")
    config.load()
    quiet = QuietServer(config)
    quiet.tick_seconds = tick_seconds
    return quiet


def date_header(quiet: QuietServer) -> bytes | None:
    return dict(quiet.server_state.default_headers).get(b"date")


async def test_a_stop_request_ends_the_wait_of_a_tick_at_once() -> None:
    quiet = server(tick_seconds=3600)  # only the wake-up can end the loop within the test
    loop = asyncio.create_task(quiet.main_loop())

    async def started() -> bytes | None:
        return date_header(quiet)

    assert await eventually(started, lambda date: date is not None, within=WITHIN, every=0.01)
    assert not loop.done()
    quiet.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, WITHIN)
    assert quiet.should_exit


async def test_every_tick_refreshes_the_date_header() -> None:
    quiet = server(tick_seconds=0.01)
    loop = asyncio.create_task(quiet.main_loop())
    refreshed: list[int] = []
    original = quiet.on_tick

    async def counted(counter: int) -> bool:
        refreshed.append(counter % 10)
        return await original(counter)

    quiet.on_tick = counted  # type: ignore[method-assign]

    async def ticks() -> int:
        return len(refreshed)

    assert await eventually(ticks, lambda n: n >= 3, within=WITHIN, every=0.01) >= 3
    quiet.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, WITHIN)
    assert set(refreshed) == {0}  # each tick is a whole second for uvicorn's on_tick
