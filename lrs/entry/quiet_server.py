"""uvicorn's server with its housekeeping tick once a second instead of ten times a second.

uvicorn's main loop wakes every 100 ms to refresh the Date header (once a second) and to see
whether it was asked to stop. An idle API process woke 16 times a second, 10 of them for that
tick; on a small machine every wake-up counts toward an idle `lrs serve`'s CPU
(docs/decisions/0021, item 8). Here the loop waits up to a second, and a stop request
(SIGTERM, Ctrl-C: `handle_exit`) ends the wait at once, so a stop is not slower. The Date
header keeps its one-second resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import FrameType

import uvicorn

TICK_SECONDS = 1.0
# on_tick counts tenths of a second (it refreshes the Date header when counter % 10 == 0) and
# wraps at a day, as uvicorn's own loop does.
TENTHS_PER_TICK, WRAP = 10, 864_000


class QuietServer(uvicorn.Server):
    tick_seconds = TICK_SECONDS

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_asked: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._exit_asked = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + TENTHS_PER_TICK) % WRAP
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_seconds):
                    await self._exit_asked.wait()
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's (it sets `should_exit`), then the loop's wait ends at once (a signal
        handler may only reach the loop through call_soon_threadsafe)."""
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_asked is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._exit_asked.set)
