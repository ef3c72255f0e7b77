"""The API process's background tasks (lrs.background) restart whatever ends them, with a
capped exponential backoff that starts again after a healthy period, count and log each failure,
and make /readyz answer 503 (in the error envelope) while one is not up. No broker or store: the
sessions are scripted and the clock and the backoff's sleep are fakes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from pymongo import errors as mongo_errors

from lrs import background, metrics
from lrs.api.app import create_app
from lrs.background import BackgroundTask
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters
from tests.support.polling import eventually

Step = Callable[[Callable[[], None]], None]


def fail_with(error: Exception) -> Step:
    def step(up: Callable[[], None]) -> None:
        raise error

    return step


def up_then_fail(error: Exception, clock: FakeClock, up_for: float) -> Step:
    def step(up: Callable[[], None]) -> None:
        up()
        clock.now += up_for
        raise error

    return step


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Script:
    """Sessions that follow `steps` one per session; once they are used up, a session says it
    is up and stays up. The backoff's sleeps are recorded and return at once."""

    steps: list[Step]
    sessions: int = 0
    delays: list[float] = field(default_factory=list)
    forever: asyncio.Event = field(default_factory=asyncio.Event)

    async def session(self, up: Callable[[], None]) -> None:
        self.sessions += 1
        if self.steps:
            self.steps.pop(0)(up)
            return  # a step that returns ends its session without an error
        up()
        await self.forever.wait()

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def failures(task: str, cause: str) -> float:
    value = metrics.BACKGROUND_TASK_FAILURES.labels(task, cause)._value.get()
    assert isinstance(value, float)
    return value


@pytest.fixture
async def started() -> AsyncIterator[list[BackgroundTask]]:
    tasks: list[BackgroundTask] = []
    yield tasks
    for task in tasks:
        await task.stop()


async def settled(script: Script, sessions: int) -> None:
    async def count() -> int:
        return script.sessions

    assert await eventually(count, lambda n: n >= sessions, within=10, every=0.01) >= sessions


async def test_every_failure_restarts_the_task_with_a_doubling_capped_delay(
    started: list[BackgroundTask], caplog: pytest.LogCaptureFixture
) -> None:
    bug = KeyError("documentKey")
    script = Script([fail_with(bug)] * 5)
    task = BackgroundTask("t-unexpected", script.session, initial=0.5, cap=3.0, sleep=script.sleep)
    before = failures("t-unexpected", "unexpected")
    with caplog.at_level(logging.ERROR, "lrs.background"):
        task.start()
        started.append(task)
        await settled(script, 6)
    assert script.delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert failures("t-unexpected", "unexpected") - before == 5
    assert task.status().up
    assert task.status().restarts == 5
    logged = [r for r in caplog.records if r.name == "lrs.background"]
    assert logged
    assert all(r.exc_info and r.exc_info[1] is bug for r in logged)


async def test_an_outage_and_a_session_that_just_returns_are_failures_too(
    started: list[BackgroundTask],
) -> None:
    def returns(up: Callable[[], None]) -> None:
        up()

    script = Script([fail_with(mongo_errors.AutoReconnect("gone")), returns])
    task = BackgroundTask("t-outage", script.session, initial=0.1, sleep=script.sleep)
    outages, unexpected = failures("t-outage", "outage"), failures("t-outage", "unexpected")
    task.start()
    started.append(task)
    await settled(script, 3)
    assert failures("t-outage", "outage") - outages == 1
    assert failures("t-outage", "unexpected") - unexpected == 1
    assert script.delays == [0.1, 0.2]


async def test_the_backoff_starts_again_after_a_healthy_period(
    started: list[BackgroundTask],
) -> None:
    clock = FakeClock()
    error = ConnectionResetError("reset")
    script = Script(
        [
            fail_with(error),
            up_then_fail(error, clock, up_for=1.0),  # up, but not for long: no reset
            up_then_fail(error, clock, up_for=61.0),  # healthy for a while: reset
            fail_with(error),
        ]
    )
    task = BackgroundTask(
        "t-reset", script.session, initial=0.5, healthy_after=60.0, clock=clock, sleep=script.sleep
    )
    task.start()
    started.append(task)
    await settled(script, 5)
    assert script.delays == [0.5, 1.0, 0.5, 1.0]


async def test_a_task_not_up_is_listed_for_readiness_until_it_is_stopped() -> None:
    release = asyncio.Event()

    async def never_up(up: Callable[[], None]) -> None:
        await release.wait()
        raise ValueError("bug")

    gate = asyncio.Event()

    async def parked(seconds: float) -> None:
        await gate.wait()

    task = BackgroundTask("t-listed", never_up, sleep=parked)
    task.start()
    try:
        assert [s.state for s in background.not_up() if s.name == "t-listed"] == ["starting"]
        release.set()

        async def state() -> list[str]:
            return [s.state for s in background.not_up() if s.name == "t-listed"]

        assert await eventually(state, lambda s: s == ["restarting"], within=10, every=0.01) == [
            "restarting"
        ]
        assert [s.error for s in background.not_up() if s.name == "t-listed"] == ["ValueError"]
    finally:
        await task.stop()
    assert not [s for s in background.not_up() if s.name == "t-listed"]


async def test_readyz_is_503_in_the_envelope_while_a_background_task_is_not_up() -> None:
    release = asyncio.Event()

    async def slow_start(up: Callable[[], None]) -> None:
        await release.wait()
        up()
        await asyncio.Event().wait()

    app = create_app(LrsSettings(), adapters=app_adapters())
    task = BackgroundTask("t-readyz", slow_start)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        task.start()
        try:
            down = await client.get("/readyz")
            release.set()

            async def readyz() -> httpx.Response:
                return await client.get("/readyz")

            ready = await eventually(readyz, lambda r: r.status_code == 200, within=10, every=0.01)
        finally:
            await task.stop()
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "1"
    error = orjson.loads(down.content)["error"]
    assert error["code"] == "unavailable"
    assert [d["path"] for d in error["details"]] == ["t-readyz"]
    assert "starting" in error["details"][0]["message"]
    assert ready.status_code == 200
    assert orjson.loads(ready.content)["status"] == "ready"
