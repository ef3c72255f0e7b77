"""The `lrs` command: serve, api, consume, topics, progress, tenants, credentials, dlq,
import, export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from lrs import admin_cli, dlq_cli
from lrs.settings import LrsSettings, get_settings
from lrs.transfer import cli as transfer_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrs", description="Event-driven xAPI LRS")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="API + consumers (+ embedded broker and store when unconfigured)")
    sub.add_parser("api", help="the HTTP API alone (needs LRS_KAFKA_BOOTSTRAP, LRS_MONGODB_URI)")
    consume = sub.add_parser("consume", help="run one consumer")
    consume.add_argument("name", help="persist, ... (see consumers/registry.py)")
    topics_cmd = sub.add_parser("topics", help="Kafka topic administration")
    topics_cmd.add_argument("action", choices=["create"])
    progress = sub.add_parser("progress", help="learner and team progress administration")
    progress.add_argument("action", choices=["rebuild"], help="recompute from stored statements")
    progress.add_argument("--tenant", default=None, help="only this tenant (default: all)")
    admin_cli.add_parsers(sub)
    dlq_cli.add_parsers(sub)
    transfer_cli.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    sys.exit(_run(args, settings))


def _run(args: argparse.Namespace, settings: LrsSettings) -> int:
    if args.command == "serve":
        from lrs.supervisor import serve

        return serve(settings)
    if args.command == "api":
        return _api(settings)
    if args.command == "consume":
        from consumers.service import run_consumer

        asyncio.run(run_consumer(args.name, settings))
        return 0
    if args.command == "topics":
        return _create_topics(settings)
    if args.command == "progress":
        from consumers.progress.rebuild import rebuild_command

        return asyncio.run(rebuild_command(settings, args.tenant))
    if args.command in admin_cli.COMMANDS:
        return admin_cli.run(args, settings)
    if args.command in dlq_cli.COMMANDS:
        return dlq_cli.run(args, settings)
    if args.command in transfer_cli.COMMANDS:
        return transfer_cli.run(args, settings)
    return 2


def _api(settings: LrsSettings) -> int:
    import uvicorn

    from lrs.api.app import create_app

    _ensure_fixed_credential(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,  # open progress streams must not hold a stop
    )
    return 0


def _ensure_fixed_credential(settings: LrsSettings) -> None:
    """`lrs api` creates the first credential that LRS_BOOTSTRAP_KEY / _SECRET fix, like
    `lrs serve` (lrs/bootstrap.py); without them it creates none."""
    from lrs.bootstrap import ensure_first_credential, fixed_by_settings

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
