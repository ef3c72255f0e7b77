"""The goal-progress consumer's clock: it asks for due goals at most every `clock_seconds`,
sends one trigger per due goal, and does not send it again while it is being handled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from consumers.clocked import ClockedOptions
from consumers.goals import GoalProgressHandler
from lrs import topics
from lrs.adapters.memory_goals import InMemoryGoalProgress, InMemoryGoalStore
from lrs.ports.events import OutgoingMessage
from lrs.ports.goals import GoalProgressDoc

NOW = datetime(2026, 4, 1, tzinfo=UTC)


class CountingProgress(InMemoryGoalProgress):
    """Goal progress that records when it was asked for due goals and indexed."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[datetime] = []
        self.indexed = 0

    async def create_indexes(self) -> None:
        self.indexed += 1

    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        self.asked.append(now)
        return await super().due(now, limit)

    async def due_now(self, goal: str) -> None:
        await self.save([GoalProgressDoc("acme", goal, version=1, next_check_at=NOW)], NOW)


async def test_due_goals_are_triggered_once_per_resend_window() -> None:
    progress = CountingProgress()
    await progress.due_now("g1")
    sent: list[tuple[str, OutgoingMessage]] = []
    tick = [0.0]

    async def send(topic: str, messages: Sequence[OutgoingMessage]) -> None:
        sent.extend((topic, m) for m in messages)

    options = ClockedOptions(prefix="p.", clock_seconds=1.0, monotonic=lambda: tick[0])
    handler = GoalProgressHandler(InMemoryGoalStore(), progress, lambda: NOW, send, options=options)
    await handler.caught_up("t", {})
    assert [(t, orjson.loads(m.value)) for t, m in sent] == [
        ("p." + topics.GOAL_CHANGES, {"tenant": "acme", "goal": "g1"})
    ]
    assert sent[0][1].key == topics.goal_key("acme", "g1")
    tick[0] = 0.5  # too early: the store is not even asked
    await handler.caught_up("t", {})
    assert len(progress.asked) == 1
    tick[0] = 1.5  # asked again, but g1 was just sent
    await progress.due_now("g2")
    await handler.caught_up("t", {})
    assert [orjson.loads(m.value)["goal"] for _, m in sent] == ["g1", "g2"]
    tick[0] = 12.0  # still due long after: sent again
    await handler.caught_up("t", {})
    assert [orjson.loads(m.value)["goal"] for _, m in sent] == ["g1", "g2", "g1", "g2"]
    assert progress.indexed == 1
