"""A consumer process's composition root: connect, build the handler, serve /metrics and
/healthz, run the shared loop until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.persist import PersistHandler
from consumers.runner import Handler, Runner, RunnerConfig, install_signal_handlers
from lrs import metrics, topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.settings import LrsSettings

log = logging.getLogger("lrs.consumers")
CONSUMERS = ("persist",)


def _status_app(runner: Runner) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "consumer": runner.handler.name})

    async def prometheus_metrics(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", prometheus_metrics)])


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
    config = uvicorn.Config(
        _status_app(runner),
        host=settings.consumer_metrics_host,
        port=settings.consumer_metrics_port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    status = asyncio.create_task(server.serve())
    try:
        await runner.run()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await status
