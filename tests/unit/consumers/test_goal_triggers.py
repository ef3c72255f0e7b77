"""goal-triggers: a learner value asks for the learner's, its teams', the organisation's goals
and those listing it; an erased learner's tombstone still reaches the goals that counted it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from consumers.goals import GoalTriggersHandler
from lrs import topics
from lrs.adapters.memory_goals import InMemoryGoalProgress, InMemoryGoalStore
from lrs.goals import Goal
from lrs.goals.model import Owner
from lrs.ports.goals import GoalProgressDoc

NOW = datetime(2026, 3, 1, tzinfo=UTC)
L1 = "mbox:mailto:a@example.org"


async def stores() -> tuple[InMemoryGoalStore, InMemoryGoalProgress]:
    """The learner's, its team's and the organisation's goals, and one that counted it."""
    goals, progress = InMemoryGoalStore(), InMemoryGoalProgress()
    owners = {"mine": Owner("learner", L1), "sales": Owner("team", "sales")}
    for goal_id, owner in {**owners, "org": Owner("organisation")}.items():
        await goals.create(Goal("acme", goal_id, goal_id, owner, date(2026, 1, 1), (), NOW))
    await progress.save([GoalProgressDoc("acme", "left-team", members=(L1,), version=1)], NOW)
    return goals, progress


@dataclass
class Rec:
    key: bytes | None
    value: bytes | None
    topic: str = "lrs.progress.learner"
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def asked(outcome: Any) -> list[str]:
    return sorted(orjson.loads(m.value)["goal"] for _, m in outcome.outputs)


async def test_a_value_and_a_tombstone() -> None:
    handler = GoalTriggersHandler(*await stores(), lambda: NOW)
    key = topics.learner_key("acme", L1)
    value = orjson.dumps({"learner": L1, "teams": ["sales"]})
    assert asked(await handler.handle([Rec(key, value)])) == ["left-team", "mine", "org", "sales"]
    assert asked(await handler.handle([Rec(key, None)])) == ["left-team", "mine", "org"]
    bad = await handler.handle([Rec(key, b"[1]")])
    assert len(bad.poison) == 1
