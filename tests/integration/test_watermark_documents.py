"""The persister's watermarks are one document per topic (docs/decisions/0023): a heartbeat of
every partition is one store write. The one-per-partition documents that earlier versions
wrote are still read, and the later of the two forms wins for each partition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.mongo_store import MongoStatementStore
from tests.conftest import Infra, unique_name
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPIC = "xapi.statements"


async def test_a_heartbeat_of_every_partition_is_one_document(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("wm"))
    marks = {p: T0 + timedelta(seconds=p) for p in range(8)}
    async with database(settings) as db:
        store = MongoStatementStore(db)
        await store.record_watermarks(TOPIC, marks)
        await store.record_watermarks(TOPIC, {3: T0 - timedelta(seconds=1)})  # never back
        documents = await db["watermarks"].count_documents({"topic": TOPIC})
        assert await store.watermarks(TOPIC) == marks
    assert documents == 1


async def test_the_documents_of_earlier_versions_are_read_and_the_later_wins(
    infra: Infra,
) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("wo"))
    later, earlier = T0 + timedelta(seconds=30), T0 - timedelta(seconds=30)
    async with database(settings) as db:
        await db["watermarks"].insert_many(
            [
                {"_id": f"{TOPIC}:{p}", "topic": TOPIC, "partition": p, "caught_up": moment}
                for p, moment in ((0, later), (1, earlier), (2, T0))
            ]
        )
        store = MongoStatementStore(db)
        await store.record_watermarks(TOPIC, {0: T0, 1: T0})
        read = await store.watermarks(TOPIC)
        through = await store.consistent_through(TOPIC, 3)
    assert read == {0: later, 1: T0, 2: T0}
    assert through == T0
