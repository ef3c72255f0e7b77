"""After a broker loss the compacted value topics hold the latest value of every key again
(lrs.wiring.republish, docs/decisions/0010).

Values are written through the real publishers on the real store: the team API (a team, a
renamed team, a deleted team), the goal API (goals at three levels, one archived), the progress
consumers' handlers (learner and team progress), the goal-progress and organisation-progress
handlers. Then `republish_latest` runs against a fresh topic prefix, as against a new broker, and
every value topic is read back: each key's last record must be the one its publisher last sent
(key, value and headers; only the random event id of progress records differs) and carry the
version the store holds; a deleted team comes back as nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pymongo.asynchronous.database import AsyncDatabase

from consumers.clocked import ClockedOptions
from consumers.goals import GoalProgressHandler
from consumers.organisation import OrganisationProgressHandler, organisation_change_message
from consumers.progress.learner import LearnerProgressHandler
from consumers.progress.team import TeamProgressHandler
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_goals import MongoGoalProgress, MongoGoalProgressReader, MongoGoalStore
from lrs.adapters.mongo_organisation import MongoOrganisationProgress
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.codec import encode_accepted
from lrs.ports.credentials import Principal
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from lrs.services import goals, teams
from lrs.settings import LrsSettings
from lrs.wiring.republish import republish_latest
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.progress import FIXED_NOW, fixed_clock
from tests.support.records import StubRecord
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration
TENANT = "default"
ADMIN = Principal(TENANT, "admin", frozenset({"all"}), {})
Doc = dict[str, Any]
# Each value topic and the collection whose documents its values are.
VALUE_TOPICS = {
    topics.TEAMS: "teams",
    topics.GOALS: "goals",
    topics.LEARNER_PROGRESS: "progress_learners",
    topics.TEAM_PROGRESS: "progress_teams",
    topics.GOAL_PROGRESS: "progress_goals",
    topics.ORGANISATION_PROGRESS: "progress_organisation",
}
NOVEMBER = {"startDate": "2026-11-01", "achievedByDate": "2026-11-30"}
GOAL_BODIES: list[Doc] = [
    {
        "goalId": "org-complete",
        "name": "half of us complete something",
        "owner": {"kind": "organisation"},
        "targets": [{"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 1}}],
        **NOVEMBER,
    },
    {
        "goalId": "squad-days",
        "name": "the squad learns",
        "owner": {"kind": "team", "id": "squad"},
        "targets": [{"kind": "members", "share": 1, "of": {"kind": "learning_days", "days": 1}}],
        **NOVEMBER,
    },
    {
        "goalId": "learner-hour",
        "name": "an hour",
        "owner": {"kind": "learner", "id": "mbox:mailto:learner1@example.org"},
        "targets": [{"kind": "minutes", "minutes": 60}],
        **NOVEMBER,
    },
]


class Recorder:
    """An event bus that keeps what it is given (the API's and the clocks' publishes)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingMessage]] = []

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self.sent += [(topic, m) for m in messages]

    async def ping(self) -> None:
        return None


def records(topic: str, messages: Sequence[OutgoingMessage]) -> list[StubRecord]:
    return [
        StubRecord(topic, 0, n, m.key, m.value, list(m.headers)) for n, m in enumerate(messages)
    ]


def stored_record(learner: int, team: str) -> OutgoingMessage:
    """What the persister forwards for a stored statement of `learner` in `team`."""
    doc = statement(learner, "completed", timestamp="2026-11-20T10:00:00.000Z")
    doc["context"] = {"team": {"objectType": "Group", "mbox": f"mailto:{team}@example.org"}}
    doc.update(stored="2026-11-20T10:00:00.000Z", version="1.0.0")
    doc["authority"] = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}
    return encode_accepted(
        AcceptedStatement(TENANT, doc, FIXED_NOW, learner_id(doc)), source="/test"
    )


async def registry_and_goals(db: AsyncDatabase[Doc], prefix: str, bus: Recorder) -> None:
    """Through the team and goal services, as the API calls them."""
    team_deps = teams.TeamDeps(MongoTeamRegistry(db), bus, fixed_clock, prefix + topics.TEAMS)
    await teams.create_team(team_deps, ADMIN, "squad", "Squad")
    await teams.create_team(team_deps, ADMIN, "crew", "Crew")
    await teams.rename_team(team_deps, ADMIN, "crew", "The crew")
    await teams.create_team(team_deps, ADMIN, "gone", "Gone")
    await teams.delete_team(team_deps, ADMIN, "gone")
    goal_deps = goals.GoalDeps(
        MongoGoalStore(db),
        MongoGoalProgressReader(db),
        bus,
        fixed_clock,
        prefix + topics.GOALS,
        prefix + topics.GOAL_CHANGES,
    )
    for body in GOAL_BODIES:
        await goals.create_goal(goal_deps, ADMIN, body)
    await goals.archive_goal(goal_deps, ADMIN, "learner-hour")


async def progress(db: AsyncDatabase[Doc], prefix: str, bus: Recorder) -> None:
    """Through the handlers of the progress, goal-progress and organisation consumers."""
    store = MongoProgressStore(db)
    stored = [stored_record(1, "squad"), stored_record(2, "squad"), stored_record(3, "crew")]
    learners = LearnerProgressHandler(store, fixed_clock, prefix=prefix)
    outcome = await learners.handle(records(prefix + topics.STORED_STATEMENTS, stored))
    bus.sent += outcome.outputs
    changes = [m for t, m in outcome.outputs if t == prefix + topics.TEAM_CHANGES]
    team_outcome = await TeamProgressHandler(store, fixed_clock, prefix=prefix).handle(
        records(prefix + topics.TEAM_CHANGES, changes)
    )
    bus.sent += team_outcome.outputs
    options = ClockedOptions(prefix=prefix)
    goal_handler = GoalProgressHandler(
        MongoGoalStore(db), MongoGoalProgress(db), fixed_clock, bus.publish, options=options
    )
    triggers = [m for t, m in bus.sent if t == prefix + topics.GOAL_CHANGES]
    bus.sent += (await goal_handler.handle(records(topics.GOAL_CHANGES, triggers))).outputs
    organisation = OrganisationProgressHandler(
        MongoOrganisationProgress(db), fixed_clock, bus.publish, options=options
    )
    trigger = [organisation_change_message(TENANT, FIXED_NOW)]
    bus.sent += (await organisation.handle(records(topics.ORGANISATION_CHANGES, trigger))).outputs


def last_values_sent(sent: Sequence[tuple[str, OutgoingMessage]], prefix: str) -> dict[str, Doc]:
    """Per value topic, each key's last record as its publisher sent it; a team whose last
    record says it was deleted is left out (the store no longer holds it)."""
    last: dict[str, dict[bytes, OutgoingMessage]] = {name: {} for name in VALUE_TOPICS}
    for topic, message in sent:
        name = topic.removeprefix(prefix)
        if name in last:
            last[name][message.key] = message
    return {
        name: {key: shape(m.value, m.headers) for key, m in by_key.items() if not deleted(m)}
        for name, by_key in last.items()
    }


def deleted(message: OutgoingMessage) -> bool:
    return bool(orjson.loads(message.value).get("deleted"))


def shape(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Doc:
    """A record's value and headers; not its event id (random for progress records)."""
    assert value is not None
    kept = {name: v for name, v in headers if name != topics.HEADER_CE_ID}
    return {"value": orjson.loads(value), "headers": kept}


async def read_to_end(settings: LrsSettings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from its beginning to the end it had when asked."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(settings.topic(topic), p) for p in range(settings.statement_partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(60):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found += batch
        return found
    finally:
        await consumer.stop()


async def republished(settings: LrsSettings) -> dict[str, Doc]:
    """Per value topic, each key's last record."""
    found: dict[str, Doc] = {}
    for name in VALUE_TOPICS:
        last = {r.key: r for r in await read_to_end(settings, name)}
        found[name] = {k: shape(r.value, r.headers) for k, r in last.items()}
    return found


async def store_versions(db: AsyncDatabase[Doc]) -> dict[str, dict[bytes, int]]:
    """Per value topic, the version the store holds under each key."""
    versions: dict[str, dict[bytes, int]] = {}
    for name, collection in VALUE_TOPICS.items():
        docs = db[collection].find({}, {"version": 1})
        versions[name] = {key_of(name, d["_id"]): d["version"] async for d in docs}
    return versions


def key_of(topic: str, doc_id: str) -> bytes:
    if topic == topics.ORGANISATION_PROGRESS:
        return topics.organisation_key(doc_id)
    tenant, _, entity = doc_id.partition("/")
    return f"{tenant}{topics.KEY_SEPARATOR}{entity}".encode()


async def test_every_stored_value_is_back_on_a_new_brokers_topics(infra: Infra) -> None:
    namespace = unique_name("rp")
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, namespace)
    bus = Recorder()
    async with database(settings) as db:
        await registry_and_goals(db, settings.topic_prefix, bus)
        await progress(db, settings.topic_prefix, bus)
        expected = last_values_sent(bus.sent, settings.topic_prefix)
        in_store = await store_versions(db)
    assert all(expected.values()), f"a publisher sent no value: {expected}"
    assert topics.team_key(TENANT, "gone") not in in_store[topics.TEAMS]
    fresh = settings.model_copy(update={"topic_prefix": f"{namespace}-new."})
    specs = topics.topic_specs(fresh.topic_prefix, fresh.statement_partitions)
    assert fresh.kafka_bootstrap
    await ensure_topics(fresh.kafka_bootstrap, specs, 1)

    count = await republish_latest(fresh, fixed_clock)

    back = await republished(fresh)
    assert count == sum(len(v) for v in in_store.values())
    for name in VALUE_TOPICS:
        versions = {key: d["value"]["version"] for key, d in back[name].items()}
        assert versions == in_store[name], name
        assert back[name] == expected[name], name
