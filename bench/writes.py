"""Store writes per statement: prints numbers, asserts nothing.

Starts the embedded broker (Tansu) and store (SecantusDB), then runs the whole pipeline in
this process, as `lrs serve` wires it: the API (ASGI, default `stored` acknowledgement), the
persister, and the progress, team-registry and team-progress consumers, with the settings'
batch sizes. POSTs a seeded realistic workload (200 learners, 20 activities, `context.team`,
results) and waits until every learner and team agrees with the statements; then prints the
documents written per statement, by collection.

How writes are counted: SecantusDB's `serverStatus().opcounters` count commands, not documents
(a bulk insert of 500 documents adds 1), so the documents are counted at the wire by a pymongo
command listener on every client of this process (tests/support/writes.py): the documents of
each insert, the statements of each update and delete, upserts included whether or not they
change anything. The store's own command counts are printed beside them.

Usage: python bench/writes.py [--statements N] [--batch B] [--clients C] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.workload import Workload
from lrs.adapters.mongo_store import connect
from lrs.entry.embedded import broker_child, free_port, start_and_wait, store_child
from lrs.settings import LrsSettings
from tests.support.progress import running_progress
from tests.support.stack import (
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_persister,
)
from tests.support.writes import counter_for, post_all, wait_settled

TENANT = "default"


@contextmanager
def embedded() -> Iterator[tuple[str, str]]:
    """(Kafka bootstrap, MongoDB URI) of a broker and store started here."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        store_port, broker_port = free_port(), free_port()
        store = store_child(store_port, data / "store", data / "store.log")
        broker = broker_child(broker_port, data / "broker.log")
        try:
            start_and_wait(store, store_port)
            start_and_wait(broker, broker_port)
            yield (
                f"127.0.0.1:{broker_port}",
                f"mongodb://127.0.0.1:{store_port}/?directConnection=true",
            )
        finally:
            broker.stop()
            store.stop()


async def opcounters(settings: LrsSettings) -> dict[str, int]:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        status: dict[str, Any] = await client.admin.command("serverStatus")
        return {k: int(v) for k, v in status.get("opcounters", {}).items()}
    finally:
        await client.close()


async def changed(settings: LrsSettings) -> Counter[str]:
    """Documents the store changed, by collection, from its own oplog (`local.oplog.rs`, one
    entry per document inserted, updated or deleted; an update that changes nothing leaves
    none). SecantusDB keeps the last 100,000 entries of the last hour by default."""
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    prefix = settings.mongodb_database + "."
    try:
        found: Counter[str] = Counter()
        query = {"ns": {"$regex": "^" + re.escape(prefix)}, "op": {"$in": ["i", "u", "d"]}}
        async for entry in client.local["oplog.rs"].find(query, {"ns": 1}):
            found[str(entry["ns"])[len(prefix) :]] += 1
        return found
    finally:
        await client.close()


async def measure(args: argparse.Namespace, kafka: str, mongo: str) -> None:
    settings = make_settings(kafka, mongo, "writes")
    counter = counter_for(settings.mongodb_database)
    await prepare_infra(settings, TENANT)
    statements = Workload(args.seed).statements(args.statements, args.session)
    async with (
        database(settings) as db,
        api_client(settings) as http,
        running_persister(settings),
        running_progress(
            settings,
            db,
            batch_max=settings.progress_batch_max,
            linger_ms=args.linger if args.linger is not None else settings.progress_linger_ms,
        ),
    ):
        counter.reset()
        before = await opcounters(settings)
        changed_before = await changed(settings)
        started = time.perf_counter()
        await post_all(http, statements, args.batch, args.clients)
        posted = time.perf_counter() - started
        await wait_settled(db, TENANT, len(statements))
        settled = time.perf_counter() - started
        documents, commands = counter.snapshot()
        after = await opcounters(settings)
        changed_after = await changed(settings)
    report(len(statements), args, documents, commands, changed_after - changed_before)
    ops = {k: after.get(k, 0) - before.get(k, 0) for k in ("insert", "update", "delete")}
    print(f"store opcounters (commands, not documents; the whole store, reads aside): {ops}")
    print(
        f"posted in {posted:.1f} s ({len(statements) / posted:.0f} statements/s, everything in"
        f" one process on a shared machine), progress settled after {settled:.1f} s"
    )


def report(
    count: int,
    args: argparse.Namespace,
    documents: Counter[str],
    commands: Counter[str],
    changed: Counter[str],
) -> None:
    print(
        f"{count} statements (seed {args.seed}, 200 learners, 20 activities, 10 teams),"
        f" batches of {args.batch}, {args.clients} clients, {args.session} statement(s)"
        f" per learner in a row, progress linger {args.linger} ms (None: the default)"
    )
    print("sent: documents in write commands (client side); changed: the store's oplog entries")
    header = f"{'collection':<22}{'sent':>8}{'per stmt':>10}{'changed':>9}{'per stmt':>10}"
    print(f"{header}{'commands':>10}")
    for collection in sorted(documents | changed):
        n, c = documents[collection], changed[collection]
        print(
            f"{collection:<22}{n:>8}{n / count:>10.3f}{c:>9}{c / count:>10.3f}"
            f"{commands[collection]:>10}"
        )
    n, c = sum(documents.values()), sum(changed.values())
    print(
        f"{'total':<22}{n:>8}{n / count:>10.3f}{c:>9}{c / count:>10.3f}{sum(commands.values()):>10}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--linger", type=int, help="LRS_PROGRESS_LINGER_MS (default: the setting's default)"
    )
    parser.add_argument(
        "--session",
        type=int,
        default=1,
        help="consecutive statements of one learner (1: each statement a random learner)",
    )
    args = parser.parse_args()
    with embedded() as (kafka, mongo):
        asyncio.run(measure(args, kafka, mongo))


if __name__ == "__main__":
    main()
