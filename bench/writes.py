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
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lrs.adapters.mongo_store import connect
from lrs.embedded import broker_child, free_port, start_and_wait, store_child
from lrs.settings import LrsSettings
from tests.support.progress import running_progress
from tests.support.stack import (
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_persister,
)
from tests.support.writes import Workload, counter_for, post_all, wait_settled

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
        started = time.perf_counter()
        await post_all(http, statements, args.batch, args.clients)
        posted = time.perf_counter() - started
        await wait_settled(db, TENANT, len(statements))
        settled = time.perf_counter() - started
        documents, commands = counter.snapshot()
        after = await opcounters(settings)
    report(len(statements), args, documents, commands, before, after)
    print(
        f"posted in {posted:.1f} s ({len(statements) / posted:.0f} statements/s, everything in"
        f" one process on a shared machine), progress settled after {settled:.1f} s"
    )


def report(
    count: int,
    args: argparse.Namespace,
    documents: Any,
    commands: Any,
    before: dict[str, int],
    after: dict[str, int],
) -> None:
    print(
        f"{count} statements (seed {args.seed}, 200 learners, 20 activities, 10 teams),"
        f" batches of {args.batch}, {args.clients} clients, {args.session} statement(s)"
        f" per learner in a row, progress linger {args.linger} ms (None: the default)"
    )
    print(f"{'collection':<22}{'documents':>10}{'per statement':>15}{'write commands':>16}")
    for collection in sorted(documents):
        n = documents[collection]
        print(f"{collection:<22}{n:>10}{n / count:>15.3f}{commands[collection]:>16}")
    total = sum(documents.values())
    print(f"{'total':<22}{total:>10}{total / count:>15.3f}{sum(commands.values()):>16}")
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("insert", "update", "delete")}
    print(f"store opcounters (commands, every database, incl. this script's reads): {delta}")


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
