"""`lrs progress rebuild`: connect to the broker and the store, then run the rebuild
(consumers.progress.rebuild) on the Mongo progress store, publishing to Kafka."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from consumers.progress.rebuild import kafka_publisher, rebuild
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import connect
from lrs.settings import LrsSettings
from lrs.topics import topic_specs


async def rebuild_command(settings: LrsSettings, tenant: str | None) -> int:
    """`lrs progress rebuild`: connect, rebuild, republish; print a report."""
    if not settings.kafka_bootstrap or not settings.mongodb_uri:
        print("LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI must be set", file=sys.stderr)
        return 2
    specs = topic_specs(settings.topic_prefix, settings.statement_partitions)
    await ensure_topics(settings.kafka_bootstrap, specs, settings.replication_factor)
    client = connect(settings.mongodb_uri)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        store = MongoProgressStore(client[settings.mongodb_database])
        publish = kafka_publisher(producer, settings.topic_prefix)
        report = await rebuild(
            store,
            _utc_now,
            publish,
            tenant=tenant,
            max_value_bytes=settings.progress_max_value_bytes,
            held_facts=settings.progress_held_facts,
        )
    finally:
        await producer.stop()
        await client.close()
    print(
        f"rebuilt progress from {report.statements} statements:"
        f" {report.learners} learners, {report.teams} teams republished",
        file=sys.stderr,
    )
    return 0


def _utc_now() -> datetime:
    return datetime.now(UTC)
