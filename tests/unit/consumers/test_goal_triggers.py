"""goal-triggers: a learner value asks for the learner's, its teams', the organisation's goals
and those listing it; an erased learner's tombstone still reaches the goals that counted it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.goals import GoalTriggersHandler
from lrs import topics

NOW = datetime(2026, 3, 1, tzinfo=UTC)
L1 = "mbox:mailto:a@example.org"


class FakeGoals:
    owners = {"learner:" + L1: "mine", "team:sales": "sales", "organisation": "org"}

    async def goal_ids_for(self, tenant: str, owner_keys: Collection[str]) -> list[str]:
        return [g for key, g in self.owners.items() if key in owner_keys]


class FakeProgress:
    async def goals_listing_any(self, tenant: str, learners: Collection[str]) -> list[str]:
        return ["left-team"] if L1 in learners else []


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
    fakes: Any = (FakeGoals(), FakeProgress())
    handler = GoalTriggersHandler(*fakes, lambda: NOW)
    key = topics.learner_key("acme", L1)
    value = orjson.dumps({"learner": L1, "teams": ["sales"]})
    assert asked(await handler.handle([Rec(key, value)])) == ["left-team", "mine", "org", "sales"]
    assert asked(await handler.handle([Rec(key, None)])) == ["left-team", "mine", "org"]
    bad = await handler.handle([Rec(key, b"[1]")])
    assert len(bad.poison) == 1
