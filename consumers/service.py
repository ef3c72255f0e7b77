"""A consumer process's composition root: connect, build the handler, serve /metrics and
/healthz, run the shared loop until SIGTERM."""

from __future__ import annotations

import logging

from consumers.persist import PersistHandler
from consumers.runner import Handler, Runner, RunnerConfig, install_signal_handlers
from consumers.status import start_status_server
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.settings import LrsSettings

log = logging.getLogger("lrs.consumers")
CONSUMERS = ("persist",)


async def run_consumer(name: str, settings: LrsSettings) -> None:
    if name not in CONSUMERS:
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
        store = MongoStatementStore(client[settings.mongodb_database])
        await store.create_indexes()
        handler: Handler = PersistHandler(store)
        runner = Runner(
            RunnerConfig(
                bootstrap=settings.kafka_bootstrap,
                topic=settings.topic(topics.STATEMENTS),
                group_id=f"{settings.consumer_group_prefix}-{name}",
                batch_max=settings.persist_batch_max,
                session_timeout_ms=settings.consumer_session_timeout_ms,
            ),
            handler,
        )
        install_signal_handlers(runner.stop_event)
        await _run_with_status_server(runner, settings)
    finally:
        await client.close()


async def _run_with_status_server(runner: Runner, settings: LrsSettings) -> None:
    server = await start_status_server(
        settings.consumer_metrics_host, settings.consumer_metrics_port, runner.handler.name
    )
    try:
        await runner.run()
    finally:
        server.close()
        await server.wait_closed()
