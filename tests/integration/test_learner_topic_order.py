"""The compacted `lrs.progress.learner` topic ends on the newest version of every learner
(issue 9, item 11).

The consumers of `lrs/wiring/consumers.py` run on the real store, but their topics are a
deterministic simulation of the broker with the runner's contract: a consumer instance handles
a batch from the partitions it owns, and produces that batch's outputs before it handles its
next batch; between two instances (two consumers, or two instances of one group) anything may
happen. A seeded scheduler picks the interleaving, delaying one instance's outputs while
another handles and publishes. Whatever the interleaving, the last value of every key on
`lrs.progress.learner` (the one compaction keeps) must carry the learner's stored version.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from consumers.runner import Handler, Outcome
from lrs import topics
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.codec import encode_accepted
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from tests.conftest import Infra, unique_name
from tests.support.progress import Workload, progress_docs
from tests.support.records import StubRecord
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration
TENANT = "default"
PARTITIONS = 4
INSTANCES = {
    "persist": 1,
    "progress": 2,
    "team-registry": 1,
    "team-progress": 1,
    "webhooks": 1,
    "webhooks-learner-progress": 1,
    "webhooks-team-progress": 1,
}
Doc = dict[str, Any]


@dataclass
class Bus:
    """Topics as in-memory logs; a key always lands on the same partition number."""

    logs: dict[str, list[list[StubRecord]]] = field(default_factory=dict)

    def partitions(self, topic: str) -> list[list[StubRecord]]:
        return self.logs.setdefault(topic, [[] for _ in range(PARTITIONS)])

    def produce(self, topic: str, message: OutgoingMessage) -> None:
        partition = zlib.crc32(message.key) % PARTITIONS
        log = self.partitions(topic)[partition]
        record = StubRecord(
            topic, partition, len(log), message.key, message.value, list(message.headers)
        )
        log.append(record)

    def versions(self, topic: str) -> dict[bytes, list[int]]:
        """The `version` of every value of every key, in log order."""
        found: dict[bytes, list[int]] = {}
        for log in self.partitions(topic):
            for record in log:
                assert record.key is not None
                assert record.value is not None
                found.setdefault(record.key, []).append(orjson.loads(record.value)["version"])
        return found

    def last_values(self, topic: str) -> dict[bytes, Doc]:
        latest: dict[bytes, Doc] = {}
        for log in self.partitions(topic):
            for record in log:
                assert record.key is not None
                assert record.value is not None
                latest[record.key] = orjson.loads(record.value)
        return latest


@dataclass
class Instance:
    """One consumer instance: its handler, the partitions it owns and where it is."""

    name: str
    handler: Handler
    topic: str
    owned: list[int]
    positions: dict[int, int] = field(default_factory=dict)
    pending: Outcome | None = None

    def unread(self, bus: Bus) -> list[StubRecord]:
        logs = bus.partitions(self.topic)
        return [r for p in self.owned for r in logs[p][self.positions.get(p, 0) :]]

    async def handle(self, bus: Bus, batch_max: int) -> None:
        batch = self.unread(bus)[:batch_max]
        self.pending = await self.handler.handle(batch)
        for record in batch:
            self.positions[record.partition] = record.offset + 1

    def publish(self, bus: Bus) -> None:
        assert self.pending is not None
        assert self.pending.poison == [], [str(p.error) for p in self.pending.poison]
        for topic, message in self.pending.outputs:
            bus.produce(topic, message)
        self.pending = None


def instances(db: AsyncDatabase[Doc], settings: LrsSettings) -> list[Instance]:
    built = []
    for name, spec in CONSUMERS.items():
        count = INSTANCES.get(name, 1)  # one instance unless said otherwise
        for n in range(count):
            owned = [p for p in range(PARTITIONS) if p % count == n]
            built.append(
                Instance(name, spec.build(db, settings), settings.topic(spec.topic), owned)
            )
    return built


def accepted(statement: Doc) -> OutgoingMessage:
    stored = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    lrs_set = {
        "stored": "2026-11-23T12:00:00.000Z",
        "authority": {"objectType": "Agent", "mbox": "mailto:lms@example.org"},
        "version": "1.0.0",
    }
    record = AcceptedStatement(TENANT, {**statement, **lrs_set}, stored, learner_id(statement))
    return encode_accepted(record, source="/test")


async def registry_change(
    db: AsyncDatabase[Doc], bus: Bus, settings: LrsSettings, team: str, members: list[str] | None
) -> None:
    """What the team API does: write `teams`, then publish the change on `lrs.teams`."""
    key = f"{TENANT}/{team}"
    if members is None:
        await db["teams"].delete_one({"_id": key})
    else:
        doc = {"tenant": TENANT, "team": team, "name": team, "members": members}
        await db["teams"].replace_one({"_id": key}, doc, upsert=True)
    value = {"tenant": TENANT, "team": team, "name": team, "members": members or []}
    value["deleted"] = members is None
    message = OutgoingMessage(topics.team_key(TENANT, team), orjson.dumps(value))
    bus.produce(settings.topic(topics.TEAMS), message)


async def run_interleaved(
    db: AsyncDatabase[Doc], settings: LrsSettings, workload: Workload, seed: int
) -> Bus:
    """Inject the workload and run the consumers, in an order the seeded scheduler picks."""
    rng = random.Random(seed)
    bus = Bus()
    running = instances(db, settings)
    steps = list(workload.steps)
    while True:
        actions: list[Any] = [("inject", None)] if steps else []
        actions += [("publish", i) for i in running if i.pending is not None]
        actions += [("handle", i) for i in running if i.pending is None and i.unread(bus)]
        if not actions:
            return bus
        publishes = [a for a in actions if a[0] == "publish"]
        others = [a for a in actions if a[0] != "publish"]
        # outputs wait a while: other instances handle batches in between
        kind, instance = rng.choice(
            publishes if publishes and (not others or rng.random() < 0.3) else others
        )
        if kind == "publish":
            instance.publish(bus)
        elif kind == "handle":
            await instance.handle(bus, rng.randint(1, 20))
        else:
            step_kind, step = steps.pop(0)
            if step_kind == "post":
                for statement in step:
                    bus.produce(settings.topic(topics.STATEMENTS), accepted(statement))
            else:
                await registry_change(db, bus, settings, *step)


def with_registry_churn(workload: Workload) -> Workload:
    """After every POST batch, a registry change naming some of that batch's learners, so
    their registry refreshes meet their statement progress."""
    rng = random.Random(workload.seed)
    steps: list[tuple[str, Any]] = []
    for kind, step in workload.steps:
        steps.append((kind, step))
        if kind == "post":
            learners = sorted({learner_id(s) for s in step})
            members = sorted(rng.sample(learners, rng.randint(1, len(learners))))
            steps.append(("registry", (f"team-{rng.randrange(6)}", members)))
    workload.steps = steps
    return workload


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_last_learner_value_carries_the_stored_version(infra: Infra, seed: int) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("lo"))
    workload = with_registry_churn(Workload(seed, learners=60).build(statements=400))
    registry_steps = sum(1 for kind, _ in workload.steps if kind == "registry")
    assert registry_steps >= 5
    async with database(settings) as db:
        await MongoStatementStore(db).create_indexes()
        bus = await run_interleaved(db, settings, workload, seed)
        learners = await progress_docs(db, "progress_learners", TENANT)
    latest = bus.last_values(settings.topic(topics.LEARNER_PROGRESS))
    assert len(learners) >= 50
    stale = {
        learner: (latest.get(topics.learner_key(TENANT, learner), {}).get("version"), d["version"])
        for learner, d in learners.items()
        if latest.get(topics.learner_key(TENANT, learner), {}).get("version") != d["version"]
    }
    history = bus.versions(settings.topic(topics.LEARNER_PROGRESS))
    unordered = {key: v for key, v in history.items() if v != sorted(v)}
    assert (len(stale), len(unordered)) == (0, 0), (
        f"{len(stale)} learners end on an older version (topic, store): {stale};"
        f" {len(unordered)} were published out of version order"
    )
