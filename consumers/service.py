"""A consumer process's composition root: connect, build the handler, serve /metrics and
/healthz, run the shared loop until SIGTERM."""

from __future__ import annotations

import logging

from consumers.registry import CONSUMERS
from consumers.runner import Runner, RunnerConfig, install_signal_handlers
from consumers.status import start_status_server
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.settings import LrsSettings

log = logging.getLogger("lrs.consumers")


async def run_consumer(name: str, settings: LrsSettings) -> None:
    spec = CONSUMERS.get(name)
    if spec is None:
        raise SystemExit(f"unknown consumer {name!r}; known: {', '.join(CONSUMERS)}")
    if not settings.kafka_bootstrap or not settings.mongodb_uri:
        raise SystemExit("consumers need LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI (or `lrs serve`)")
    await ensure_topics(
        settings.kafka_bootstrap,
        topics.topic_specs(settings.topic_prefix, settings.statement_partitions),
        settings.replication_factor,
    )
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_database]
        await MongoStatementStore(db).create_indexes()
        runner = Runner(
            RunnerConfig(
                bootstrap=settings.kafka_bootstrap,
                topic=settings.topic(spec.topic),
                group_id=f"{settings.consumer_group_prefix}-{name}",
                batch_max=spec.batch_max(settings),
                session_timeout_ms=settings.consumer_session_timeout_ms,
                retry_max_seconds=settings.consumer_retry_max_seconds,
            ),
            spec.build(db, settings),
        )
        install_signal_handlers(runner.stop_event)
        await _run_with_status_server(runner, settings)
    finally:
        await client.close()


async def _run_with_status_server(runner: Runner, settings: LrsSettings) -> None:
    server = await start_status_server(
        settings.consumer_metrics_host,
        settings.consumer_metrics_port,
        runner.handler.name,
        runner.health.as_dict,
    )
    try:
        await runner.run()
    finally:
        server.close()
        await server.wait_closed()
