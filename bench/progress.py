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
   backlog (what the persister forwarded);
4. live stream lag: registry teams with several SSE subscribers each, and learner streams,
   under a steady load of statements for the teams' members; how long after the benchmark's
   own consumer read a record of `lrs.progress.learner` / `lrs.progress.team` the same change
   reached each stream (p50/p95/max per kind of stream and event).

Usage: python bench/progress.py [--quick] [--ack-mode stored|kafka] [--streams-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import READER_FETCH_WAIT_MS, client, pct, stop_following
from consumers.progress.learner import LearnerProgressHandler
from consumers.runner import Runner, RunnerConfig
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_progress import MongoProgressStore, summary_fields
from lrs.adapters.mongo_store import connect
from lrs.entry.embedded import broker_child, free_port, start_and_wait, store_child
from tests.support.factories import agent, statement
from tests.support.live import SseReader
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
    """Follows `lrs.progress.learner`: the time each learner first reached a statement count;
    and `lrs.progress.team`: the time each (team, version) was first read."""

    def __init__(self, kafka: str) -> None:
        self.kafka = kafka
        self.reached: dict[tuple[str, int], float] = {}
        self.team_reached: dict[tuple[str, int], float] = {}
        self.latest: dict[str, int] = {}
        self.events = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Watcher]:
        consumer = AIOKafkaConsumer(
            topics.LEARNER_PROGRESS,
            topics.TEAM_PROGRESS,
            bootstrap_servers=self.kafka,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=READER_FETCH_WAIT_MS,
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
                    if record.topic == topics.TEAM_PROGRESS:
                        self.team_reached.setdefault((value["team"], value["version"]), now)
                        continue
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
    learners = mongo_client["lrs_bench_copy"]["progress_learners"]
    task = asyncio.create_task(runner.run())
    first: float | None = None
    try:
        while True:
            cursor = learners.find({}, {"summary": 1})
            handled = sum([int(summary_fields(d).get("statements", 0)) async for d in cursor])
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


@dataclass
class StreamClock:
    """One open SSE stream: when each learner-progress (learner, statements) and team-progress
    (team, version) first arrived on it."""

    params: dict[str, str]
    learners: list[str]
    seen: dict[tuple[str, str, int], float] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    response: httpx.Response | None = None  # closed by `stop_following` to end `follow`

    async def follow(self, http: httpx.AsyncClient) -> None:
        async with http.stream("GET", "/progress/stream", params=self.params) as response:
            self.response = response
            response.raise_for_status()
            events = SseReader(response)
            while True:
                event = await events.next(within=3600)
                now = time.perf_counter()
                data: dict[str, Any] = event.data or {}
                if event.event == "learner-progress":
                    self.seen.setdefault(("learner", data["learner"], data["statements"]), now)
                elif event.event == "team-progress":
                    self.seen.setdefault(("team", data["team"], data["version"]), now)
                self.ready.set()

    def lags(self, watcher: Watcher, kind: str, since: float) -> list[float]:
        """Seconds from the topic record to this stream, for changes the load made."""
        reached = watcher.reached if kind == "learner" else watcher.team_reached
        return [
            at - reached[(entity, n)]
            for (k, entity, n), at in self.seen.items()
            if k == kind and (entity, n) in reached and reached[(entity, n)] >= since
        ]


def lag_line(label: str, lags: list[float]) -> str:
    if not lags:
        return f"  {label}: no events"
    return (
        f"  {label}: p50={pct(lags, 0.5):.0f} ms p95={pct(lags, 0.95):.0f} ms"
        f" max={max(lags) * 1000:.0f} ms ({len(lags)} events)"
    )


async def steady_load(
    http: httpx.AsyncClient, names: list[str], rate: float, seconds: float
) -> None:
    """`rate` statements/s (one per request, 4 paced clients) for random learners of `names`."""
    end = time.perf_counter() + seconds

    async def client_loop() -> None:
        next_at = time.perf_counter()
        while next_at < end:
            body = statement(learner=random.choice(names))
            (await http.post("/xapi/statements", json=body)).raise_for_status()
            next_at += 4 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    await asyncio.gather(*(client_loop() for _ in range(4)))


async def stream_lag(base: str, kafka: str, quick: bool) -> None:
    teams, members, per_team, rate = 4, 10, 4, 40.0
    seconds = 20.0 if quick else 60.0
    run = uuid.uuid4().hex[:6]
    roster = {
        f"registry:lag-{run}-{t}": [f"lag-{run}-{t}-{m}" for m in range(members)]
        for t in range(teams)
    }
    names = [name for team_names in roster.values() for name in team_names]
    async with client(base, KEY, SECRET) as http, Watcher(kafka).running() as watcher:
        for team, team_names in roster.items():
            (await http.post("/teams", json={"team": team, "name": team})).raise_for_status()
            body = [agent(name) for name in team_names]
            (await http.put(f"/teams/{team}/members", json=body)).raise_for_status()
        (await http.post("/xapi/statements", json=[statement(n) for n in names])).raise_for_status()
        for name in names:
            await watcher.wait(learner_id(name), 1)
        clocks = [
            StreamClock({"team": team}, [learner_id(n) for n in team_names])
            for team, team_names in roster.items()
            for _ in range(per_team)
        ]
        solo = [names[i * members] for i in range(teams)] + [
            names[i * members + 1] for i in range(teams)
        ]
        clocks += [
            StreamClock({"agent": orjson.dumps(agent(n)).decode()}, [learner_id(n)]) for n in solo
        ]
        followers = [asyncio.create_task(c.follow(http)) for c in clocks]
        try:
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clocks)), 60)
            since = time.perf_counter()
            await steady_load(http, names, rate, seconds)
            await settled(watcher, clocks, since)
        finally:
            await stop_following(followers, (c.response for c in clocks))
    team_clocks, learner_clocks = clocks[: teams * per_team], clocks[teams * per_team :]
    print(
        f"stream lag behind the topic record ({teams} teams of {members} members,"
        f" {per_team} team streams each, {len(learner_clocks)} learner streams;"
        f" {rate:.0f} statements/s for {seconds:.0f} s):"
    )
    print(
        lag_line(
            "learner streams, learner-progress", all_lags(learner_clocks, watcher, "learner", since)
        )
    )
    print(
        lag_line("team streams, learner-progress", all_lags(team_clocks, watcher, "learner", since))
    )
    print(lag_line("team streams, team-progress", all_lags(team_clocks, watcher, "team", since)))


def all_lags(clocks: list[StreamClock], watcher: Watcher, kind: str, since: float) -> list[float]:
    return [lag for c in clocks for lag in c.lags(watcher, kind, since)]


async def settled(
    watcher: Watcher, clocks: list[StreamClock], since: float, within: float = 120
) -> None:
    """Wait until every stream saw each of its learners' last count on the topic (or say which
    did not within `within` seconds: a missed update, or lag beyond it)."""
    deadline = time.perf_counter() + within
    while True:
        missing = [
            (c.params, learner)
            for c in clocks
            for learner in c.learners
            if ("learner", learner, watcher.latest[learner]) not in c.seen
        ]
        if not missing:
            return
        if time.perf_counter() > deadline:
            print(
                f"  {len(missing)} stream/learner pairs never saw the last update,"
                f" e.g. {missing[0]}"
            )
            return
        await asyncio.sleep(0.1)


async def run(base: str, kafka: str, mongo: str, quick: bool, streams_only: bool) -> None:
    if not streams_only:
        async with Watcher(kafka).running() as watcher:
            await latency(base, watcher, 10 if quick else 40)
            total = await live_throughput(base, watcher, 200 if quick else 500, 5 if quick else 20)
        backlog = total + 8 * (10 if quick else 40) * 2
        await catch_up(kafka, mongo, backlog)
    await stream_lag(base, kafka, quick)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ack-mode", default="stored", choices=["stored", "kafka"])
    parser.add_argument("--streams-only", action="store_true", help="only the stream lag")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, stack(Path(data), args.ack_mode) as parts:
        print(f"lrs serve on the embedded broker and store, ack_mode={args.ack_mode}")
        asyncio.run(run(*parts, args.quick, args.streams_only))


if __name__ == "__main__":
    main()
