"""The goal consumers (goal-triggers, goal-teams, goal-progress) as tasks of the test's event
loop on the real broker and store, with a clock the test gives, and the runner every such test
builds its consumers with."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from consumers.clocked import ClockedOptions
from consumers.goals import (
    GoalProgressHandler,
    GoalTeamTriggersHandler,
    GoalTriggersHandler,
    LazyBus,
)
from consumers.runner import Handler, Runner, RunnerConfig
from lrs import topics
from lrs.adapters.kafka_bus import KafkaEventBus
from lrs.adapters.mongo_goals import MongoGoalProgress, MongoGoalStore
from lrs.ports.events import OutgoingMessage
from lrs.settings import LrsSettings
from tests.support.stack import running

Doc = dict[str, Any]
Clock = Callable[[], datetime]
Send = Callable[[str, Sequence[OutgoingMessage]], Awaitable[None]]
CLOCK_SECONDS = 0.2  # how often the clocked handlers look for what the time changed


def runner(settings: LrsSettings, topic: str, handler: Handler, linger_ms: int = 0) -> Runner:
    """`handler` under the shared runner, reading `topic` (prefixed) in small batches."""
    assert settings.kafka_bootstrap
    return Runner(
        RunnerConfig(
            bootstrap=settings.kafka_bootstrap,
            topic=settings.topic(topic),
            group_id=f"{settings.consumer_group_prefix}-{handler.name}",
            batch_max=40,
            session_timeout_ms=settings.consumer_session_timeout_ms,
            linger_ms=linger_ms,
        ),
        handler,
    )


def clocked_options(settings: LrsSettings) -> ClockedOptions:
    return ClockedOptions(prefix=settings.topic_prefix, clock_seconds=CLOCK_SECONDS)


def goal_bus(settings: LrsSettings) -> LazyBus:
    """The goal-progress handler's own producer (started at its first send)."""
    bootstrap = settings.kafka_bootstrap
    assert bootstrap
    return LazyBus(lambda: KafkaEventBus(bootstrap, linger_ms=0, timeout_seconds=5))


async def goal_runners(
    settings: LrsSettings, db: AsyncDatabase[Doc], clock: Clock, send: Send
) -> list[Runner]:
    """The three goal consumers on the module's topics and database, at `clock`'s time."""
    goals, progress, prefix = MongoGoalStore(db), MongoGoalProgress(db), settings.topic_prefix
    await progress.create_indexes()
    options = clocked_options(settings)
    return [
        runner(
            settings,
            topics.LEARNER_PROGRESS,
            GoalTriggersHandler(goals, progress, clock, prefix=prefix),
        ),
        runner(settings, topics.TEAMS, GoalTeamTriggersHandler(goals, clock, prefix=prefix)),
        runner(
            settings,
            topics.GOAL_CHANGES,
            GoalProgressHandler(goals, progress, clock, send, options=options),
        ),
    ]


@contextlib.asynccontextmanager
async def goal_consumers(
    settings: LrsSettings, db: AsyncDatabase[Doc], clock: Clock
) -> AsyncIterator[None]:
    """The three goal consumers running until the end of the block."""
    bus = goal_bus(settings)
    try:
        async with running(await goal_runners(settings, db, clock, bus.publish)):
            yield
    finally:
        await bus.stop()
