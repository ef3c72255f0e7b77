"""After a broker loss: put the latest value of every key back on the compacted topics that
other tools subscribe to (docs/decisions/0010). The embedded broker is memory-only; a new one
starts with empty topics, and a subscriber would see no team, goal or progress value until each
changed again. The store holds each of those values, so they are read back from it
(lrs.adapters.mongo_latest) and published with the message builders of their own publishers:
same key, value, schema and headers.

| topic                       | from                    | built by                              |
|-----------------------------|-------------------------|---------------------------------------|
| `lrs.teams`                 | `teams` (registry)      | lrs.services.teams.registry_message   |
| `lrs.goals` (+ its trigger) | `goals`                 | lrs.services.goals.goal_messages      |
| `lrs.progress.learner`      | `progress_learners`     | consumers.progress.messages           |
| `lrs.progress.team`         | `progress_teams`        | consumers.progress.messages           |
| `lrs.progress.goal`         | `progress_goals`        | consumers.goals.goal_message          |
| `lrs.progress.organisation` | `progress_organisation` | consumers.organisation                |

The internal trigger topics (`*-changes`) hold no value to put back; a goal's definition goes
with its trigger, as the API publishes them. What the store no longer holds (a deleted team, an
erased learner or goal) is not republished. Values carry versions, so a subscriber that sees one
twice drops it. A value written or deleted while this runs may have been published by its
writer before our older copy landed; so each batch is read again once published: whatever moved
meanwhile is published again (up to MAX_ROUNDS times), and for whatever went, what its deleter
publishes (a tombstone; a "deleted" value for a team), so an erased learner never comes back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from consumers.goals import goal_message
from consumers.organisation import organisation_message
from consumers.progress.messages import learner_message, team_message
from lrs import topics
from lrs.adapters import mongo_latest as stored
from lrs.adapters.kafka_erasure_bus import KafkaErasureBus
from lrs.adapters.mongo_latest import MongoLatestValues, Stored
from lrs.adapters.mongo_store import connect
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.events import ErasureBus, OutgoingMessage
from lrs.services.goals import goal_messages
from lrs.services.teams import TeamDeps, deleted_message, registry_message
from lrs.settings import LrsSettings
from lrs.wiring.doorbell import ringer

log = logging.getLogger("lrs.serve")
BATCH = 500
MAX_ROUNDS = 10


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)
T = TypeVar("T")


class LatestValues(Protocol):
    """Where the stored items are read (lrs.adapters.mongo_latest.MongoLatestValues)."""

    def read(
        self, stored: Stored[T], ids: Sequence[str] | None = None
    ) -> AsyncIterator[tuple[str, T]]: ...


Records = list[tuple[str, OutgoingMessage]]  # (topic without prefix, record)


@dataclass(frozen=True)
class Latest(Generic[V]):
    """One kind of value: where it is stored, its compacted topic, the records its publisher
    makes of a stored one, and what its deleter publishes once it is gone (None: a tombstone
    on `topic`)."""

    stored: Stored[V]
    topic: str
    records: Callable[[V], Records]
    deleted: Callable[[V], Records] | None = None

    def key(self, item: V) -> bytes:
        return next(m.key for t, m in self.records(item) if t == self.topic)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def republish_latest(settings: LrsSettings, clock: Callable[[], datetime] = utc_now) -> int:
    """Connect to the broker and the store of `settings` and republish every stored value;
    how many."""
    assert settings.kafka_bootstrap
    assert settings.mongodb_uri
    ring = ringer(settings)
    bus = KafkaErasureBus(settings.kafka_bootstrap, timeout_seconds=30, on_published=ring)
    client = connect(settings.mongodb_uri)
    await bus.start()
    try:
        db = client[settings.mongodb_database]
        kinds = latest_kinds(settings, TeamDeps(MongoTeamRegistry(db), bus, clock, ""), clock)
        return await republish(bus, MongoLatestValues(db), kinds, settings.topic_prefix)
    finally:
        await bus.stop()
        await client.close()


def latest_kinds(
    settings: LrsSettings, teams: TeamDeps, clock: Callable[[], datetime]
) -> list[Latest[Any]]:
    """Every compacted topic that holds values, with the publishers' own builders."""
    limit = settings.progress_max_value_bytes
    return [
        Latest(
            stored.REGISTRY,
            topics.TEAMS,
            lambda t: [(topics.TEAMS, registry_message(teams, t))],
            lambda t: [(topics.TEAMS, deleted_message(teams, t))],
        ),
        Latest(stored.GOALS, topics.GOALS, lambda g: _goal_records(*goal_messages(g, clock()))),
        _one(
            stored.LEARNERS, topics.LEARNER_PROGRESS, lambda d: learner_message(d, clock(), limit)
        ),
        _one(stored.TEAMS, topics.TEAM_PROGRESS, lambda d: team_message(d, clock(), limit)),
        _one(stored.GOAL_PROGRESS, topics.GOAL_PROGRESS, lambda d: goal_message(d, clock())),
        _one(
            stored.ORGANISATION,
            topics.ORGANISATION_PROGRESS,
            lambda d: organisation_message(d, clock()),
        ),
    ]


def _one(stored: Stored[V], topic: str, build: Callable[[V], OutgoingMessage]) -> Latest[V]:
    """A kind whose publisher sends one record on `topic`, and a tombstone once it is gone."""
    return Latest(stored, topic, lambda item: [(topic, build(item))])


def _goal_records(definition: OutgoingMessage, trigger: OutgoingMessage) -> Records:
    return [(topics.GOALS, definition), (topics.GOAL_CHANGES, trigger)]


async def republish(
    bus: ErasureBus, latest: LatestValues, kinds: Sequence[Latest[Any]], prefix: str
) -> int:
    """Every kind in turn; how many stored values were republished."""
    count = 0
    for kind in kinds:
        async for batch in _batches(latest.read(kind.stored)):
            await _settle(bus, latest, kind, prefix, batch)
            count += len(batch)
    return count


async def _settle(
    bus: ErasureBus,
    latest: LatestValues,
    kind: Latest[V],
    prefix: str,
    batch: list[tuple[str, V]],
) -> None:
    """Publish the batch, then read it again: publish again what moved meanwhile (its writer
    may have published it before our older copy landed), and what its deleter published for
    what went."""
    for _ in range(MAX_ROUNDS):
        await _publish(bus, prefix, [r for _, item in batch for r in kind.records(item)])
        sent = dict(batch)
        now = {i: v async for i, v in latest.read(kind.stored, list(sent))}
        await _gone(bus, prefix, kind, [item for i, item in sent.items() if i not in now])
        batch = [(i, v) for i, v in now.items() if v.version != sent[i].version]
        if not batch:
            return
    log.error("%s: %d values kept changing while republished", kind.stored.name, len(batch))


async def _gone(bus: ErasureBus, prefix: str, kind: Latest[V], items: list[V]) -> None:
    """Items deleted while our copies were on their way: their deleters' last records again."""
    if not items:
        return
    if kind.deleted is not None:
        await _publish(bus, prefix, [r for item in items for r in kind.deleted(item)])
    else:
        await bus.tombstones(prefix + kind.topic, [kind.key(item) for item in items])


async def _publish(bus: ErasureBus, prefix: str, records: Records) -> None:
    by_topic: dict[str, list[OutgoingMessage]] = {}
    for topic, record in records:
        by_topic.setdefault(topic, []).append(record)
    for topic, messages in by_topic.items():
        await bus.publish(prefix + topic, messages)


async def _batches(items: AsyncIterator[tuple[str, V]]) -> AsyncIterator[list[tuple[str, V]]]:
    batch: list[tuple[str, V]] = []
    async for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
