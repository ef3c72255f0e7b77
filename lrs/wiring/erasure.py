"""Composition of the erasure (lrs.services.erasure) on the configured MongoDB and Kafka, shared
by `DELETE /admin/agents` and `lrs agents forget`. An erasure is a rare operator action, so it
opens its own connections for its duration (as the other CLI commands do) rather than adding to
every API process's adapters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.kafka_erasure_bus import KafkaErasureBus
from lrs.adapters.mongo_erasure import MongoErasureStore
from lrs.adapters.mongo_store import connect
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.credentials import Principal
from lrs.services import teams
from lrs.services.erasure import ErasureDeps
from lrs.services.teams import TeamDeps
from lrs.settings import LrsSettings
from lrs.wiring.doorbell import ringer
from lrs.xapi.errors import Unavailable

# The team API's operation needs a caller allowed to change teams; the erasure acts as one.
ERASURE_CALLER_KEY = "lrs-erasure"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _needs(settings: LrsSettings) -> tuple[str, str]:
    if not settings.kafka_bootstrap or not settings.mongodb_uri:
        raise Unavailable("erasure needs LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI")
    return settings.kafka_bootstrap, settings.mongodb_uri


@contextlib.asynccontextmanager
async def erasure_store(settings: LrsSettings) -> AsyncIterator[MongoErasureStore]:
    """The erasure store alone (listing the audit records needs no broker)."""
    _, mongo = _needs(settings)
    client = connect(mongo)
    try:
        yield MongoErasureStore(client[settings.mongodb_database])
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def connected_erasure(
    settings: LrsSettings, clock: Callable[[], datetime] = _utc_now
) -> AsyncIterator[ErasureDeps]:
    """Everything an erasure needs, connected; closed on exit."""
    kafka, mongo = _needs(settings)
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    await ensure_topics(kafka, specs, settings.replication_factor)
    client = connect(mongo)
    ring = ringer(settings)
    bus = KafkaErasureBus(kafka, settings.produce_timeout_seconds, on_published=ring)
    try:
        await bus.start()
        db = client[settings.mongodb_database]
        store = MongoErasureStore(db)
        await store.create_indexes()
        registry = MongoTeamRegistry(db)
        team_deps = TeamDeps(
            registry=registry, bus=bus, clock=clock, topic=settings.topic(topics.TEAMS)
        )

        async def remove_member(tenant: str, team: str, learner: str) -> bool:
            current = await registry.get(tenant, team)
            if current is None or learner not in current.members:
                return False
            caller = Principal(tenant, ERASURE_CALLER_KEY, frozenset({teams.WRITE_SCOPE}), {})
            await teams.remove_member(team_deps, caller, team, learner)
            return True

        yield ErasureDeps(
            store=store,
            bus=bus,
            remove_member=remove_member,
            clock=clock,
            prefix=settings.topic_prefix,
        )
    finally:
        await bus.stop()
        await client.close()
