"""Background tasks an API process needs (its feed of progress changes and stored statements,
lrs.adapters.kafka_progress_feed), kept running and visible.

A task is a loop of SESSIONS: a session connects, says it is `up`, and works until it fails.
Whatever ends a session (a driver error, any other exception, or a plain return) is logged,
counted in `lrs_background_task_failures_total{task, cause}` and followed by a new session
after a capped exponential backoff (`backoff_delay`): `initial` doubling up to `cap`. The
backoff starts again from `initial` when the failed session had been up for `healthy_after`
seconds, so a task that fails once a day restarts at once and a crash-looping one slows down.
An outage (lrs.outages: store or broker unreachable) is logged as a warning; anything else is
unexpected and logged as an error with its traceback.

A started task is listed in a process-wide table (like the metrics registry) until it is
stopped: `not_up()` gives the tasks that are starting, restarting or dead, for the API's
/readyz, which answers 503 while any is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from lrs import metrics
from lrs.outages import is_outage

T = TypeVar("T")

log = logging.getLogger("lrs.background")

# A session: connect, call `up()` once working, work until it fails (or is cancelled).
Session = Callable[[Callable[[], None]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

_RUNNING: dict[int, BackgroundTask] = {}


def backoff_delay(failures: int, initial: float, cap: float) -> float:
    """Seconds to wait before retry number `failures` (1, 2, ...): doubling, at most `cap`."""
    return min(cap, initial * 2.0 ** min(failures - 1, 32))


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """`work`'s result, or None when `stop` is set first (`work` is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    return task.result() if not task.cancelled() else None


def not_up() -> list[TaskStatus]:
    """The started tasks of this process that are not up (starting, restarting or dead)."""
    return [status for status in (t.status() for t in _RUNNING.values()) if not status.up]


@dataclass(frozen=True)
class TaskStatus:
    """`state`: starting (first session not up yet), up, restarting (waiting for the next
    session after a failure) or dead (its asyncio task ended: a bug); `restarts` so far;
    `error` the class of what ended the last session."""

    name: str
    state: str
    restarts: int
    error: str | None

    @property
    def up(self) -> bool:
        return self.state == "up"


class BackgroundTask:
    def __init__(
        self,
        name: str,
        session: Session,
        *,
        initial: float = 0.5,
        cap: float = 30.0,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._session = session
        self._initial, self._cap, self._healthy_after = initial, cap, healthy_after
        self._clock, self._sleep = clock, sleep
        self._state = "starting"
        self._restarts = 0
        self._error: str | None = None
        self._up_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=self.name)
        _RUNNING[id(self)] = self

    async def stop(self) -> None:
        _RUNNING.pop(id(self), None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> TaskStatus:
        dead = self._task is not None and self._task.done()
        state = "dead" if dead else self._state
        return TaskStatus(self.name, state, self._restarts, self._error)

    def _mark_up(self) -> None:
        self._state, self._up_since = "up", self._clock()

    async def _supervise(self) -> None:
        failures = 0
        while True:
            self._up_since = None
            error = await self._one_session()
            if self._was_healthy():
                failures = 0
            failures += 1
            self._restarts += 1
            self._state, self._error = "restarting", type(error).__name__
            delay = backoff_delay(failures, self._initial, self._cap)
            self._report(error, delay)
            await self._sleep(delay)

    async def _one_session(self) -> Exception:
        """Run one session; what ended it (a plain return is reported as SessionEnded)."""
        try:
            await self._session(self._mark_up)
        except Exception as exc:  # every failure restarts the task; none may end it silently
            return exc
        return SessionEnded(f"{self.name} ended without an error")

    def _was_healthy(self) -> bool:
        up_since = self._up_since
        return up_since is not None and self._clock() - up_since >= self._healthy_after

    def _report(self, error: Exception, delay: float) -> None:
        cause = "outage" if is_outage(error) else "unexpected"
        metrics.BACKGROUND_TASK_FAILURES.labels(self.name, cause).inc()
        if cause == "outage":
            log.warning("%s: %r; restarting in %.1fs", self.name, error, delay)
        else:
            log.error("%s failed; restarting in %.1fs", self.name, delay, exc_info=error)


class SessionEnded(Exception):
    """A session returned although it should run until cancelled."""
