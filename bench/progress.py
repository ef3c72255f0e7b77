"""Progress benchmark: prints numbers, asserts nothing about speed.

Starts the embedded broker and store, then `lrs serve` on them (API + every consumer, as a
user runs it), and measures over HTTP on loopback:

1. latency from a POST's acknowledgement (default ack_mode=stored) to the learner's progress
   event on `lrs.progress.learner` reflecting the POSTed statements (p50/p95; 8 concurrent
   clients, one learner per request so each event is attributable);
2. live pipeline throughput: statements/s from the first POST of a load until every learner's
   event reflects all of its statements;
3. the progress consumer's own throughput: a fresh in-process `progress` handler (its own
   consumer group, database and output prefix) catching up the whole `lrs.statements.stored`
   backlog (what the persister forwarded).

Usage: python bench/progress.py [--quick] [--ack-mode stored|kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import client, pct
from consumers.progress.learner import LearnerProgressHandler
from consumers.runner import Runner, RunnerConfig
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import connect
from lrs.embedded import broker_child, free_port, start_and_wait, store_child
from tests.support.factories import statement
from tests.support.serve import serve_lrs

KEY, SECRET = "bench", "bench-secret"
PARTITIONS = 8


@contextlib.contextmanager
def stack(data: Path, ack_mode: str) -> Iterator[tuple[str, str, str]]:
    """(API base URL, Kafka bootstrap, MongoDB URI) of a running `lrs serve`, on a broker and
    store started here so the benchmark can read the progress topic and the store itself."""
    store_port, broker_port = free_port(), free_port()
    store = store_child(store_port, data / "store", data / "store.log")
    broker = broker_child(broker_port, data / "broker.log")
    start_and_wait(store, store_port)
    start_and_wait(broker, broker_port)
    kafka = f"127.0.0.1:{broker_port}"
    mongo = f"mongodb://127.0.0.1:{store_port}/?directConnection=true"
    settings = {"ack_mode": ack_mode, "statement_partitions": str(PARTITIONS)}
    try:
        with serve_lrs(data, KEY, SECRET, kafka_bootstrap=kafka, mongodb_uri=mongo, **settings) as (
            base,
            _,
        ):
            yield base, kafka, mongo
    finally:
        broker.stop()
        store.stop()


class Watcher:
    """Follows `lrs.progress.learner`: the time each learner first reached a statement count."""

    def __init__(self, kafka: str) -> None:
        self.kafka = kafka
        self.reached: dict[tuple[str, int], float] = {}
        self.latest: dict[str, int] = {}
        self.events = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Watcher]:
        consumer = AIOKafkaConsumer(
            topics.LEARNER_PROGRESS, bootstrap_servers=self.kafka, auto_offset_reset="earliest"
        )
        await consumer.start()
        task = asyncio.create_task(self._follow(consumer))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for record in batch:
                    value = orjson.loads(record.value)
                    self.events += 1
                    self.latest[value["learner"]] = value["statements"]
                    self.reached.setdefault((value["learner"], value["statements"]), now)

    async def wait(self, learner: str, count: int, within: float = 60) -> float:
        deadline = time.perf_counter() + within
        while (learner, count) not in self.reached:
            if time.perf_counter() > deadline:
                raise SystemExit(f"no progress event for {learner} with {count} statements")
            await asyncio.sleep(0.002)
        return self.reached[(learner, count)]


def learner_id(name: str) -> str:
    return f"mbox:mailto:learner{name}@example.org"


async def latency(base: str, watcher: Watcher, rounds: int) -> None:
    delays: list[float] = []
    async with client(base, KEY, SECRET) as http:

        async def one(worker: int) -> None:
            for n in range(rounds):
                name = f"lat-{worker}-{n}"
                body = [statement(learner=name, verb=v) for v in ("attempted", "completed")]
                response = await http.post("/xapi/statements", json=body)
                acked = time.perf_counter()
                response.raise_for_status()
                delays.append(await watcher.wait(learner_id(name), 2) - acked)

        await asyncio.gather(*(one(w) for w in range(8)))
    print(
        f"POST ack -> lrs.progress.learner event: p50={pct(delays, 0.5):.0f} ms"
        f" p95={pct(delays, 0.95):.0f} ms max={max(delays) * 1000:.0f} ms"
        f" ({len(delays)} requests of 2 statements, 8 clients)"
    )


async def live_throughput(base: str, watcher: Watcher, learners: int, per_learner: int) -> int:
    names = [f"thr-{n}" for n in range(learners)]
    bodies = [
        [statement(learner=name) for name in names[i : i + 100]]
        for _ in range(per_learner)
        for i in range(0, learners, 100)
    ]
    started = time.perf_counter()
    async with client(base, KEY, SECRET) as http:
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                (await http.post("/xapi/statements", json=queue.pop())).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(4)))
    posted = time.perf_counter()
    for name in names:
        await watcher.wait(learner_id(name), per_learner, within=300)
    done = time.perf_counter()
    total = learners * per_learner
    print(
        f"live pipeline: {total} statements ({learners} learners x {per_learner}) POSTed in"
        f" {posted - started:.1f}s, all reflected in progress after {done - started:.1f}s:"
        f" {total / (done - started):.0f} statements/s end to end"
    )
    return total


async def catch_up(kafka: str, mongo: str, backlog: int) -> None:
    """A fresh progress consumer (own group, database, output prefix) over the whole topic."""
    prefix = "benchcopy."
    await ensure_topics(kafka, topics.topic_specs(prefix, PARTITIONS), 1)
    mongo_client = connect(mongo)
    store = MongoProgressStore(mongo_client["lrs_bench_copy"])
    handler = LearnerProgressHandler(store, lambda: datetime.now(UTC), prefix=prefix)
    config = RunnerConfig(kafka, topics.STORED_STATEMENTS, "bench-copy-progress", batch_max=500)
    runner = Runner(config, handler)
    owners = mongo_client["lrs_bench_copy"]["progress_statements"]
    task = asyncio.create_task(runner.run())
    first: float | None = None
    try:
        while True:
            handled = await owners.count_documents({})
            if handled and first is None:
                first, first_count = time.perf_counter(), handled
            if handled >= backlog:
                break
            await asyncio.sleep(0.05)
    finally:
        runner.stop_event.set()
        await task
        await mongo_client.close()
    assert first is not None
    seconds = time.perf_counter() - first
    rate = (backlog - first_count) / seconds
    print(
        f"progress consumer catching up a backlog of {backlog} statements:"
        f" {rate:.0f} statements/s (one process, batches of 500, from its first written"
        f" batch, so without the group join)"
    )


async def run(base: str, kafka: str, mongo: str, quick: bool) -> None:
    async with Watcher(kafka).running() as watcher:
        await latency(base, watcher, 10 if quick else 40)
        total = await live_throughput(base, watcher, 200 if quick else 500, 5 if quick else 20)
    backlog = total + 8 * (10 if quick else 40) * 2
    await catch_up(kafka, mongo, backlog)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ack-mode", default="stored", choices=["stored", "kafka"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, stack(Path(data), args.ack_mode) as parts:
        print(f"lrs serve on the embedded broker and store, ack_mode={args.ack_mode}")
        asyncio.run(run(*parts, args.quick))


if __name__ == "__main__":
    main()
