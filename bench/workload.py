"""The seeded realistic workload of the benchmarks (bench/writes.py, bench/xapi_load.py) and of
the write-count test: 200 learners in 10 teams (`context.team`, a Group) working through the
modules of 4 courses (20 activities), with results (score, success, completion, duration).
Pure: the same seed gives the same statements, ids included (client-chosen)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Doc = dict[str, Any]
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = ["experienced", "attempted", "answered", "completed", "passed", "failed", "progressed"]
EPOCH = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Workload:
    """A seeded realistic workload: learners in teams (`context.team`) working through the
    modules of a few courses (object a module, its course the parent), with results."""

    seed: int
    learners: int = 200
    activities: int = 20  # courses and modules together
    teams: int = 10
    courses: int = 4
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def statements(self, count: int, session: int = 1) -> list[Doc]:
        """`count` statements; each run of `session` consecutive ones is one learner's (a
        course player posting its learner's statements together), 1: a learner each."""
        docs: list[Doc] = []
        while len(docs) < count:
            learner = self.rng.randrange(self.learners)
            docs += [self.statement(learner) for _ in range(min(session, count - len(docs)))]
        return docs

    def statement(self, learner: int) -> Doc:
        modules = self.activities - self.courses
        module = self.rng.randrange(modules)
        course = module % self.courses
        at = EPOCH - timedelta(seconds=self.rng.randrange(30 * 86_400))
        verb = self.rng.choice(VERBS)
        return {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "actor": {"name": f"Learner {learner}", "mbox": f"mailto:l{learner}@example.org"},
            "verb": {"id": ADL + verb, "display": {"en-US": verb}},
            "object": _activity(f"course/{course}/module/{module}", f"Module {module}", "module"),
            "context": {
                "team": {
                    "objectType": "Group",
                    "name": f"Team {learner % self.teams}",
                    "mbox": f"mailto:team{learner % self.teams}@example.org",
                },
                "contextActivities": {
                    "parent": [_activity(f"course/{course}", f"Course {course}", "course")]
                },
            },
            "result": self._result(),
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }

    def _result(self) -> Doc:
        return {
            "score": {"scaled": round(self.rng.random(), 2)},
            "success": self.rng.random() < 0.7,
            "completion": self.rng.random() < 0.8,
            "duration": f"PT{self.rng.randrange(1, 60)}M{self.rng.randrange(60)}S",
        }


def _activity(path: str, name: str, kind: str) -> Doc:
    return {
        "objectType": "Activity",
        "id": f"https://content.example.org/{path}",
        "definition": {
            "name": {"en-US": name},
            "type": f"http://adlnet.gov/expapi/activities/{kind}",
        },
    }
