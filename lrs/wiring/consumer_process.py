"""A consumer process's composition root: connect, build the handler, serve /metrics,
/healthz and /readyz, create the topics and indexes (waiting for the broker and store when
they cannot be reached yet), run the shared loop until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from consumers.runner import Runner, RunnerConfig, install_signal_handlers
from consumers.status import start_status_server
from lrs import metrics, topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS, Database
from lrs.wiring.doorbell import listening

log = logging.getLogger("lrs.consumers")


async def run_consumer(name: str, settings: LrsSettings) -> None:
    spec = CONSUMERS.get(name)
    if spec is None:
        raise SystemExit(f"unknown consumer {name!r}; known: {', '.join(CONSUMERS)}")
    if not settings.kafka_bootstrap or not settings.mongodb_uri:
        raise SystemExit("consumers need LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI (or `lrs serve`)")
    metrics.expose_restarts(settings.restarts_file)
    log.info("%s: starting", name)
    client = connect(settings.mongodb_uri, answer_within=settings.store_timeout_seconds)
    busy_wait_ms, idle_wait_ms = spec.fetch_waits(settings)
    bell = listening(settings, name)
    try:
        db = client[settings.mongodb_database]
        runner = Runner(
            RunnerConfig(
                bootstrap=settings.kafka_bootstrap,
                topic=settings.topic(spec.topic),
                group_id=f"{settings.consumer_group_prefix}-{name}",
                batch_max=spec.batch_max(settings),
                linger_ms=spec.linger_ms(settings),
                linger_follows_load=spec.linger_follows_load(settings),
                session_timeout_ms=settings.consumer_session_timeout_ms,
                retry_max_seconds=settings.consumer_retry_max_seconds,
                assign_all_partitions=settings.consumer_assignment == "all",
                idle_after_seconds=settings.consumer_idle_after_seconds,
                fetch_max_wait_ms=busy_wait_ms,
                idle_fetch_max_wait_ms=idle_wait_ms,
                doze_seconds=settings.consumer_doze_seconds,
            ),
            spec.build(db, settings),
            bell=bell,
        )
        install_signal_handlers(runner.stop_event)
        companion: asyncio.Task[None] | None = None
        if spec.companion is not None:  # e.g. the webhooks' delivery workers
            companion = asyncio.create_task(spec.companion(db, settings, runner.stop_event))
        try:
            await _run_with_status_server(runner, settings, lambda: _prepare(settings, db))
        finally:
            if companion is not None:
                runner.stop_event.set()
                await companion
    finally:
        if bell is not None:
            bell.close()
        await client.close()


async def _prepare(settings: LrsSettings, db: Database) -> None:
    """The topics (dead-letter topics included) and the statement indexes."""
    assert settings.kafka_bootstrap
    await ensure_topics(
        settings.kafka_bootstrap,
        topics.topic_specs(settings.topic_prefix, settings.statement_partitions),
        settings.replication_factor,
    )
    await MongoStatementStore(db).create_indexes()


async def _status_server(runner: Runner, settings: LrsSettings) -> asyncio.Server:
    """The status endpoint on the configured port; when that port is taken, on any free one
    (logged): a busy port must not keep the consumer from consuming (a restart would not free
    it, docs/decisions/0010)."""
    host, port = settings.consumer_metrics_host, settings.consumer_metrics_port
    name = runner.handler.name
    try:
        return await start_status_server(host, port, name, runner.health.as_dict)
    except OSError as exc:
        server = await start_status_server(host, 0, name, runner.health.as_dict)
        bound = server.sockets[0].getsockname()[1]
        log.error("%s: status port %d unavailable (%s); serving on %d", name, port, exc, bound)
        return server


async def _run_with_status_server(
    runner: Runner, settings: LrsSettings, prepare: Callable[[], Awaitable[None]]
) -> None:
    """Serve the status endpoint from the start: a store or broker that cannot be reached yet
    is waited for (and reported), not a reason to exit."""
    metrics.consumer_started(runner.handler.name)
    server = await _status_server(runner, settings)
    try:
        if await runner.until_done(prepare):
            await runner.run()
    finally:
        server.close()
        await server.wait_closed()
