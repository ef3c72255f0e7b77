"""`lrs import` (from another LRS's Statement API or a JSON-lines file, into an LRS's Statement
API) and `lrs export` (a tenant's statements, straight from MongoDB, as JSON lines or CSV).
docs/import-export.md describes both."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from lrs.settings import LrsSettings
from lrs.transfer.export import EXPORT_FILTERS, check_format, export_query, export_stream
from lrs.transfer.http import TransferError, XapiHttp, basic_auth
from lrs.transfer.importer import Checkpoint, ImportResult, Target, run_import
from lrs.transfer.progress import ProgressBar
from lrs.transfer.sources import FileSource, LrsSource, Source
from lrs.xapi.errors import XapiError

COMMANDS = ("import", "export")
SOURCE_AUTH_ENV = "LRS_IMPORT_SOURCE_AUTH"
TARGET_AUTH_ENV = "LRS_IMPORT_TARGET_AUTH"


def add_parsers(sub: Any) -> None:
    _add_import(sub)
    _add_export(sub)


def _add_import(sub: Any) -> None:
    cmd = sub.add_parser("import", help="import statements from another LRS or a JSON-lines file")
    origin = cmd.add_mutually_exclusive_group(required=True)
    origin.add_argument("--from-lrs", metavar="URL", help="the source's xAPI endpoint (…/xapi/)")
    origin.add_argument("--from-file", metavar="PATH", type=Path, help="a JSON-lines file")
    cmd.add_argument("--source-auth", metavar="KEY:SECRET", help=f"or ${SOURCE_AUTH_ENV}")
    cmd.add_argument("--source-version", default="1.0.3", help="xAPI version asked of the source")
    cmd.add_argument("--to", metavar="URL", help="the target's xAPI endpoint (default: this LRS)")
    cmd.add_argument("--target-auth", metavar="KEY:SECRET", help=f"or ${TARGET_AUTH_ENV}")
    cmd.add_argument("--checkpoint", type=Path, required=True, help="resume file (kept)")
    cmd.add_argument("--batch-size", type=int, default=200, help="statements per request")
    cmd.add_argument("--max-batches", type=int, default=None, help="stop after this many")


def _add_export(sub: Any) -> None:
    cmd = sub.add_parser("export", help="a tenant's statements as JSON lines or CSV (MongoDB)")
    cmd.add_argument("--tenant", default=None, help="default: LRS_DEFAULT_TENANT")
    cmd.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    cmd.add_argument("--output", "-o", type=Path, default=None, help="default: stdout")
    for name in EXPORT_FILTERS:
        cmd.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None)


def run(args: argparse.Namespace, settings: LrsSettings) -> int:
    try:
        if args.command == "import":
            return _import(args, settings)
        return _export(args, settings)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except (TransferError, XapiError, OSError) as exc:
        message = exc.message if isinstance(exc, XapiError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1


# --- import ---------------------------------------------------------------------------------


def _auth(given: str | None, variable: str, what: str) -> str | None:
    value = given or os.environ.get(variable)
    if value is None:
        return None
    key, sep, secret = value.partition(":")
    if not sep:
        raise TransferError(f"{what} credentials: KEY:SECRET expected")
    return basic_auth(key, secret)


def _import(args: argparse.Namespace, settings: LrsSettings) -> int:
    if args.batch_size < 1:
        raise TransferError("--batch-size must be at least 1")
    source: Source
    progress_done = 0
    if args.from_lrs:
        source_http = XapiHttp(
            _auth(args.source_auth, SOURCE_AUTH_ENV, "source"), args.source_version
        )
        source = LrsSource(args.from_lrs, source_http, args.batch_size)
    else:
        file_source = FileSource(args.from_file, args.batch_size)
        progress_done = file_source.done(_saved_position(args.checkpoint, file_source.name))
        source = file_source
    target_auth = _auth(args.target_auth, TARGET_AUTH_ENV, "target")
    endpoint = args.to or settings.base_url() + "/xapi/"
    target = Target(endpoint, XapiHttp(target_auth))
    progress = ProgressBar(sys.stderr, total=source.total, done=progress_done)
    result = run_import(source, target, args.checkpoint, progress, args.max_batches)
    return _report(result)


def _saved_position(path: Path, name: str) -> dict[str, Any] | None:
    return Checkpoint.load(path, name).position


def _report(result: ImportResult) -> int:
    checkpoint = result.checkpoint
    state = "finished" if result.complete else "stopped (run again to resume)"
    print(
        f"{state}: {result.sent_now} statements sent now, {checkpoint.sent} in all,"
        f" {len(checkpoint.refused)} refused",
        file=sys.stderr,
    )
    for refused in checkpoint.refused:
        print(
            f"refused {refused.statement_id}: {refused.status} {refused.message}", file=sys.stderr
        )
    return 1 if checkpoint.refused else 0


# --- export ---------------------------------------------------------------------------------


def _export(args: argparse.Namespace, settings: LrsSettings) -> int:
    if not settings.mongodb_uri:
        print("LRS_MONGODB_URI is not set (or use GET /admin/export)", file=sys.stderr)
        return 2
    filters = {name: getattr(args, name) for name in EXPORT_FILTERS if getattr(args, name)}
    query = export_query(filters, limits=settings.statement_limits())
    fmt = check_format(args.format)
    tenant = args.tenant or settings.default_tenant
    if args.output is None:
        asyncio.run(_write_export(settings, tenant, query, fmt, sys.stdout.buffer))
        return 0
    with args.output.open("wb") as out:
        asyncio.run(_write_export(settings, tenant, query, fmt, out))
    return 0


async def _write_export(
    settings: LrsSettings, tenant: str, query: Any, fmt: str, out: BinaryIO
) -> None:
    from lrs.adapters.mongo_store import MongoStatementStore, connect

    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        store = MongoStatementStore(client[settings.mongodb_database])
        async for chunk in export_stream(store, tenant, query, fmt):
            out.write(chunk)
        out.flush()
    finally:
        await client.close()
