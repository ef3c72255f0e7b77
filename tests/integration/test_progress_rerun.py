"""A batch re-run after its MongoDB writes produces its outputs again (docs/decisions/0006).

The runner re-runs a batch whenever producing its outputs fails after the handler's writes (a
transient broker failure, a crash before the commit, the isolation re-runs after another
record's deterministic failure). The re-run finds the learners and teams up to date; it must
still publish their current values and the team triggers, or the compacted topics stay stale
until the learner changes again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from consumers.progress.learner import LearnerProgressHandler
from consumers.progress.messages import (
    LearnerRefresh,
    learner_refresh_message,
    team_change_message,
)
from consumers.progress.team import TeamProgressHandler
from consumers.runner import Outcome, Record
from lrs import topics
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.codec import encode_accepted
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    fixed_clock,
    latest_per_key,
    progress_docs,
)
from tests.support.records import StubRecord
from tests.support.stack import database, make_settings, prepare_infra, running_consumer

pytestmark = pytest.mark.integration
TENANT = "default"
Doc = dict[str, Any]


def team_statement(learner: str, team: str) -> Doc:
    doc = statement(learner, "completed")
    doc["context"] = {"team": {"objectType": "Group", "mbox": f"mailto:{team}@example.org"}}
    return doc


def stored_message(doc: Doc) -> OutgoingMessage:
    """The record the persister forwards to `lrs.statements.stored` for a stored statement."""
    lrs_set = {
        "stored": "2026-11-23T12:00:00.000Z",
        "authority": {"objectType": "Agent", "mbox": "mailto:lms@example.org"},
        "version": "1.0.0",
    }
    accepted = AcceptedStatement(TENANT, {**doc, **lrs_set}, FIXED_NOW, learner_id(doc))
    return encode_accepted(accepted, source="/test")


def as_records(topic: str, messages: Sequence[OutgoingMessage]) -> list[StubRecord]:
    return [
        StubRecord(topic, 0, n, m.key, m.value, list(m.headers)) for n, m in enumerate(messages)
    ]


def values_on(outcome: Outcome, topic: str) -> list[Doc]:
    return [orjson.loads(m.value) for t, m in outcome.outputs if t == topic]


async def test_a_rerun_publishes_the_current_learner_and_team_values(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("rr"))
    prefix = settings.topic_prefix
    docs = [team_statement("rerun-a", "squad"), team_statement("rerun-b", "squad")]
    batch = as_records(prefix + topics.STORED_STATEMENTS, [stored_message(d) for d in docs])
    async with database(settings) as db:
        store = MongoProgressStore(db)
        handler = LearnerProgressHandler(store, fixed_clock, prefix=prefix)
        first = await handler.handle(batch)
        again = await handler.handle(batch)  # as a retry after a failed produce would
        learners = await progress_docs(db, "progress_learners", TENANT)
        published = values_on(again, prefix + topics.LEARNER_PROGRESS)
        assert {v["learner"]: v["version"] for v in published} == {
            learner: d["version"] for learner, d in learners.items()
        }
        assert len(learners) == 2
        triggers = values_on(again, prefix + topics.TEAM_CHANGES)
        assert triggers == values_on(first, prefix + topics.TEAM_CHANGES)
        assert [t["team"] for t in triggers] == sorted(
            {team for d in learners.values() for team in d["teams"]}
        )

        teams = TeamProgressHandler(store, fixed_clock, prefix=prefix)
        refs = [team_change_message(t["tenant"], t["team"], FIXED_NOW) for t in triggers]
        team_batch = as_records(prefix + topics.TEAM_CHANGES, refs)
        await teams.handle(team_batch)
        team_again = await teams.handle(team_batch)
        stored_teams = await progress_docs(db, "progress_teams", TENANT)
        team_values = values_on(team_again, prefix + topics.TEAM_PROGRESS)
        assert {v["team"]: v["version"] for v in team_values} == {
            team: d["version"] for team, d in stored_teams.items()
        }
        assert len(stored_teams) == 1


class FailsOnceAfterWriting:
    """The progress handler, whose first batch fails as a broker timeout would after the
    store writes (the runner rewinds and retries the batch)."""

    def __init__(self, inner: LearnerProgressHandler) -> None:
        self.inner = inner
        self.name = inner.name
        self.failed = False

    async def handle(self, records: Sequence[Record]) -> Outcome:
        outcome = await self.inner.handle(records)
        if not self.failed:
            self.failed = True
            raise KafkaTimeoutError("simulated: the outputs could not be produced")
        return outcome

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self.inner.caught_up(topic, partitions)


async def test_topic_ends_on_the_stored_version_after_a_transient_produce_failure(
    infra: Infra,
) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("rt"))
    await prepare_infra(settings)
    docs = [team_statement("retry-a", "crew"), team_statement("retry-b", "crew")]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for doc in docs:
            m = stored_message(doc)
            topic = settings.topic(topics.STORED_STATEMENTS)
            await producer.send_and_wait(topic, m.value, key=m.key, headers=list(m.headers))
    finally:
        await producer.stop()
    async with database(settings) as db:
        store = MongoProgressStore(db)
        flaky = FailsOnceAfterWriting(
            LearnerProgressHandler(store, fixed_clock, prefix=settings.topic_prefix)
        )
        teams = TeamProgressHandler(store, fixed_clock, prefix=settings.topic_prefix)
        async with (
            running_consumer(settings, flaky, topics.STORED_STATEMENTS),
            running_consumer(settings, teams, topics.TEAM_CHANGES),
        ):

            async def team_missing() -> str | None:
                found = await progress_docs(db, "progress_teams", TENANT)
                return None if found and flaky.failed else "no team progress yet"

            assert await eventually(team_missing, within=60, every=0.2) is None
        learners = await progress_docs(db, "progress_learners", TENANT)
    latest = await latest_per_key(settings, topics.LEARNER_PROGRESS)
    assert flaky.failed
    assert len(learners) == 2
    assert {
        learner: latest.get(topics.learner_key(TENANT, learner), {}).get("version")
        for learner in learners
    } == {learner: d["version"] for learner, d in learners.items()}


async def test_a_rerun_still_triggers_a_team_the_learner_just_left(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("rl"))
    prefix = settings.topic_prefix
    doc = statement("leaver", "completed")
    learner = learner_id(doc)
    registry_doc = {"tenant": TENANT, "team": "r1", "name": "r1", "members": [learner]}
    async with database(settings) as db:
        await db["teams"].replace_one({"_id": f"{TENANT}/r1"}, registry_doc, upsert=True)
        handler = LearnerProgressHandler(MongoProgressStore(db), fixed_clock, prefix=prefix)
        topic = prefix + topics.STORED_STATEMENTS
        await handler.handle(as_records(topic, [stored_message(doc)]))
        await db["teams"].delete_one({"_id": f"{TENANT}/r1"})  # the learner leaves r1
        refresh = as_records(
            topic, [learner_refresh_message(LearnerRefresh(TENANT, learner), FIXED_NOW)]
        )
        first = await handler.handle(refresh)
        again = await handler.handle(refresh)  # the first one's outputs were never produced
        stored = (await progress_docs(db, "progress_learners", TENANT))[learner]
    assert stored["teams"] == []
    assert [t["team"] for t in values_on(first, prefix + topics.TEAM_CHANGES)] == ["r1"]
    assert [t["team"] for t in values_on(again, prefix + topics.TEAM_CHANGES)] == ["r1"]
    [value] = values_on(again, prefix + topics.LEARNER_PROGRESS)
    assert (value["version"], value["teams"]) == (stored["version"], [])
