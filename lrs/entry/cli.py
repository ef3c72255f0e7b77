"""The `lrs` command: serve, api, consume, topics, progress, tenants, credentials, webhooks,
dlq, import, export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from lrs.entry import admin_cli, dlq_cli, transfer_cli
from lrs.settings import LrsSettings, get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrs", description="Event-driven xAPI LRS")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="API + consumers (+ embedded broker and store when unconfigured)")
    api = sub.add_parser(
        "api", help="the HTTP API alone (needs LRS_KAFKA_BOOTSTRAP, LRS_MONGODB_URI)"
    )
    api.add_argument("--fd", type=int, help="serve on this inherited listening socket (lrs serve)")
    consume = sub.add_parser("consume", help="run one consumer")
    consume.add_argument("name", help="persist, ... (see lrs/wiring/consumers.py)")
    topics_cmd = sub.add_parser("topics", help="Kafka topic administration")
    topics_cmd.add_argument("action", choices=["create"])
    progress = sub.add_parser("progress", help="learner and team progress administration")
    progress.add_argument("action", choices=["rebuild"], help="recompute from stored statements")
    progress.add_argument("--tenant", default=None, help="only this tenant (default: all)")
    standby = sub.add_parser("standby", help="(internal) a spare process for lrs serve")
    standby.add_argument("--fd", type=int, action="append", default=[], help="inherited socket")
    admin_cli.add_parsers(sub)
    dlq_cli.add_parsers(sub)
    transfer_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "standby":
        _standby(args.fd)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sys.exit(_run(args, settings))


def _run(args: argparse.Namespace, settings: LrsSettings) -> int:
    if args.command == "serve":
        from lrs.entry.supervisor import serve

        return serve(settings)
    if args.command == "api":
        if args.fd is None and settings.api_workers > 1:  # LRS_API_WORKERS on one socket
            from lrs.entry.api_pool import run_api_pool

            _ensure_fixed_credential(settings)
            return run_api_pool(settings)
        return _api(settings, args.fd)
    if args.command == "consume":
        from lrs.entry import event_loop
        from lrs.entry.orphan import watch_supervisor
        from lrs.wiring.consumer_process import run_consumer

        watch_supervisor(settings.supervisor_pid, settings.shutdown_grace_seconds)
        event_loop.run(run_consumer(args.name, settings))
        return 0
    if args.command == "topics":
        return _create_topics(settings)
    if args.command == "progress":
        from lrs.wiring.rebuild import rebuild_command

        return asyncio.run(rebuild_command(settings, args.tenant))
    if args.command in admin_cli.COMMANDS:
        return admin_cli.run(args, settings)
    if args.command in dlq_cli.COMMANDS:
        return dlq_cli.run(args, settings)
    if args.command in transfer_cli.COMMANDS:
        return transfer_cli.run(args, settings)
    return 2


PRELOADED = (
    "uvicorn",
    "lrs.entry.quiet_server",
    "lrs.wiring.api",
    "lrs.wiring.consumer_process",
    "lrs.wiring.consumers",
)


def _standby(inherited: list[int]) -> None:
    """A spare process of `lrs serve` (lrs.entry.embedded.Spare): import what every LRS process
    needs, then wait for one line on stdin, {"args", "env", "log", "keep_fds"}, and become that
    process: its environment, its log file as stdout and stderr, only the sockets it needs."""
    import importlib
    import json
    import os

    for module in PRELOADED:  # now, so that the process it becomes starts at once
        importlib.import_module(module)
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)  # lrs serve stopped without needing this spare
    command = json.loads(line)
    os.environ.update(command["env"])
    for fd in set(inherited) - set(command["keep_fds"]):
        os.close(fd)
    if command["log"]:
        log = os.open(command["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    main(command["args"])


def _api(settings: LrsSettings, fd: int | None = None) -> int:
    """Serve the API on host:port, or on the listening socket `lrs serve` passes down (`fd`,
    shared by all its API processes). On SIGTERM/Ctrl-C, in-flight requests get
    `shutdown_grace_seconds` to finish; the rest are answered 503 (lrs/api/errors.py)."""
    import socket

    import uvicorn

    from lrs import metrics
    from lrs.entry.orphan import watch_supervisor
    from lrs.entry.quiet_server import QuietServer
    from lrs.wiring.api import create_connected_app

    if fd is None:  # under `lrs serve` (a socket passed down), serve made it already
        _ensure_fixed_credential(settings)
    metrics.expose_restarts(settings.restarts_file)
    config = uvicorn.Config(
        create_connected_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,  # streams must not hold a stop
    )
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    watch_supervisor(settings.supervisor_pid, settings.shutdown_grace_seconds)
    QuietServer(config).run(sockets=sockets)
    return 0


def _ensure_fixed_credential(settings: LrsSettings) -> None:
    """`lrs api` creates the first credential that LRS_BOOTSTRAP_KEY / _SECRET fix, like
    `lrs serve` (lrs/entry/bootstrap.py); without them it creates none."""
    from lrs.entry.bootstrap import ensure_first_credential, fixed_by_settings

    if not (fixed_by_settings(settings) and settings.mongodb_uri):
        return
    if asyncio.run(ensure_first_credential(settings, "lrs api")):
        print(
            f"credential {settings.bootstrap_key} created (all scopes + admin, tenant"
            f" {settings.default_tenant}); its secret is LRS_BOOTSTRAP_SECRET",
            file=sys.stderr,
            flush=True,
        )


def _create_topics(settings: LrsSettings) -> int:
    from lrs import topics
    from lrs.adapters.kafka_bus import ensure_topics

    if not settings.kafka_bootstrap:
        print("LRS_KAFKA_BOOTSTRAP is not set", file=sys.stderr)
        return 2
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    asyncio.run(ensure_topics(settings.kafka_bootstrap, specs, settings.replication_factor))
    for spec in specs:
        print(f"{spec.name}: {spec.partitions} partitions {spec.config}")
    return 0
