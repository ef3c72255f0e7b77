"""Progress latency under a sustained load: prints numbers, asserts nothing about speed.

Starts `lrs serve` (embedded broker and store, default settings; LRS_* settings may be given as
NAME=value), posts statements at a steady rate, and measures, for every POST acknowledged, how
long after its answer each of its learners' progress and its team's progress reflected it:

- on the topics (`lrs.progress.learner`, `lrs.progress.team`, read by this script's own
  consumer) and
- on Server-Sent Events (one `/progress/stream?team=` per team, which carries the team's
  learner-progress and team-progress events).

Attribution is exact: the learners are in `--teams` teams of `--members` (each statement names
its learner's team in `context.team`), and each POST carries statements of one team only, a
team with no other POST in flight. So when a POST is answered, its learners' and its team's
counts are known: a learner event reflects the POST once its `statements` reach the learner's
count, a team event once its `time_spent_seconds` reaches the team's (every statement lasts
PT12M30S, 750 s). A tick that finds every team in flight posts nothing (counted as skipped:
the rate asked was not sustained). A POST answered otherwise than 200 (a 503 may still be
stored) leaves its team out of the measurement from then on.

Usage: python bench/progress_load.py [--rate 250] [--batch 10] [--seconds 60] [--teams 20]
           [--members 10] [LRS_NAME=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, READER_FETCH_WAIT_MS, SECRET, client, load_average, machine, pct
from bench.faults import child_setting
from bench.idle import settings_from
from lrs import topics
from tests.support.factories import agent, statement
from tests.support.live import SseReader
from tests.support.serve import serve_lrs

SECONDS_PER_STATEMENT = 750.0  # the factory's result.duration, PT12M30S
SETTLE_SECONDS = 120.0  # how long every change may take to show once the load ends


@dataclass
class Team:
    ifi: str
    group: dict[str, Any]
    members: list[str]
    next_member: int = 0
    in_flight: bool = False
    measured: bool = True  # False after an answer other than 200
    acked: int = 0  # statements of the team acknowledged so far

    def take(self, count: int) -> list[str]:
        """The members the next `count` statements are about, in turn."""
        taken = [self.members[(self.next_member + i) % len(self.members)] for i in range(count)]
        self.next_member = (self.next_member + count) % len(self.members)
        return taken


@dataclass
class Post:
    team: str
    answered: float  # perf_counter
    learners: dict[str, int]  # learner IFI -> its count once this POST is counted
    team_count: int


@dataclass
class Seen:
    """When each count first showed: learners by `statements`, teams by time spent."""

    learners: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    teams: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def learner(self, ifi: str, count: int, at: float) -> None:
        self.learners.setdefault(ifi, []).append((at, count))

    def team(self, ifi: str, seconds: float, at: float) -> None:
        self.teams.setdefault(ifi, []).append((at, seconds))

    def first_learner(self, ifi: str, count: int) -> float | None:
        return next((at for at, n in self.learners.get(ifi, []) if n >= count), None)

    def first_team(self, ifi: str, count: int) -> float | None:
        wanted = count * SECONDS_PER_STATEMENT - 0.5
        return next((at for at, s in self.teams.get(ifi, []) if s >= wanted), None)


@dataclass
class Load:
    teams: list[Team]
    batch: int
    posts: list[Post] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    skipped: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # learner IFI -> acknowledged

    def free_team(self) -> Team | None:
        return next((t for t in self.teams if not t.in_flight), None)

    async def post(self, http: httpx.AsyncClient, team: Team) -> None:
        team.in_flight = True
        learners = team.take(self.batch)
        body = [_statement(name, team.group) for name in learners]
        started = time.perf_counter()
        try:
            response = await http.post("/xapi/statements", json=body)
        except httpx.HTTPError as exc:
            self.outcomes[type(exc).__name__] += 1
            team.measured = False
            return
        finally:
            team.in_flight = False
        answered = time.perf_counter()
        self.outcomes[str(response.status_code)] += 1
        if response.status_code != 200:
            team.measured = False
            return
        self.latencies.append(answered - started)
        ifis = [_learner_ifi(name) for name in learners]
        self.counts.update(ifis)
        team.acked += len(learners)
        if team.measured:
            expected = {ifi: self.counts[ifi] for ifi in ifis}
            self.posts.append(Post(team.ifi, answered, expected, team.acked))
        # a team's rotation moves the team to the back: the next POST goes to another team
        self.teams.remove(team)
        self.teams.append(team)

    async def run_for(self, http: httpx.AsyncClient, rate: float, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        interval = self.batch / rate
        tick, end = loop.time(), loop.time() + seconds
        pending: set[asyncio.Task[None]] = set()
        while loop.time() < end:
            team = self.free_team()
            if team is None:
                self.skipped += self.batch
            else:
                task = asyncio.create_task(self.post(http, team))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(0)  # the task marks its team in flight
            tick += interval
            await asyncio.sleep(max(0.0, tick - loop.time()))
        if pending:
            await asyncio.gather(*pending)


def _learner_ifi(name: str) -> str:
    return f"mbox:{agent(name)['mbox']}"


def _statement(learner: str, group: dict[str, Any]) -> dict[str, Any]:
    doc = statement(learner=learner)
    doc["context"]["team"] = group
    return doc


def make_teams(run: str, teams: int, members: int) -> list[Team]:
    made = []
    for t in range(teams):
        mbox = f"mailto:team-{run}-{t}@example.org"
        group = {"objectType": "Group", "name": f"Team {t}", "mbox": mbox}
        names = [f"{run}-{t}-{m}" for m in range(members)]
        made.append(Team(f"mbox:{mbox}", group, names))
    return made


@contextlib.asynccontextmanager
async def topic_reader(kafka: str, prefix: str, seen: Seen) -> AsyncIterator[None]:
    consumer = AIOKafkaConsumer(
        prefix + topics.LEARNER_PROGRESS,
        prefix + topics.TEAM_PROGRESS,
        bootstrap_servers=kafka,
        auto_offset_reset="latest",
        fetch_max_wait_ms=READER_FETCH_WAIT_MS,  # bench.common
    )
    await consumer.start()

    async def follow() -> None:
        while True:
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for record in batch:
                    _note(seen, orjson.loads(record.value), record.topic.endswith("team"), now)

    task = asyncio.create_task(follow())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


def _note(seen: Seen, value: dict[str, Any], team: bool, at: float) -> None:
    if team:
        seen.team(value["team"], value["time_spent_seconds"], at)
    else:
        seen.learner(value["learner"], value["statements"], at)


@dataclass
class TeamStream:
    team: str
    seen: Seen
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    response: httpx.Response | None = None

    async def follow(self, http: httpx.AsyncClient) -> None:
        async with http.stream("GET", "/progress/stream", params={"team": self.team}) as response:
            self.response = response
            response.raise_for_status()
            events = SseReader(response)
            self.ready.set()
            while True:
                event = await events.next(within=3600)
                if event.event in ("learner-progress", "team-progress") and event.data:
                    _note(
                        self.seen, event.data, event.event == "team-progress", time.perf_counter()
                    )


def latencies(posts: list[Post], seen: Seen) -> tuple[list[float], list[float], int]:
    """(POST answer -> learner event, POST answer -> team event, changes never seen)."""
    learner, team, missing = [], [], 0
    for post in posts:
        for ifi, count in post.learners.items():
            at = seen.first_learner(ifi, count)
            if at is None:
                missing += 1
            else:
                learner.append(at - post.answered)
        at = seen.first_team(post.team, post.team_count)
        if at is None:
            missing += 1
        else:
            team.append(at - post.answered)
    return learner, team, missing


async def settle(posts: list[Post], views: list[Seen]) -> None:
    """Until every view saw every POST (or SETTLE_SECONDS passed)."""
    deadline = time.perf_counter() + SETTLE_SECONDS
    while time.perf_counter() < deadline:
        if all(latencies(posts[-200:], view)[2] == 0 for view in views):
            return
        await asyncio.sleep(0.2)


def line(label: str, values: list[float], unit: str = "changes") -> str:
    if not values:
        return f"  {label}: none"
    return (
        f"  {label}: p50 {pct(values, 0.5):.0f} ms, p95 {pct(values, 0.95):.0f},"
        f" p99 {pct(values, 0.99):.0f}, max {max(values) * 1000:.0f} ({len(values)} {unit})"
    )


async def measure(base: str, kafka: str, prefix: str, args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:6]
    load = Load(make_teams(run, args.teams, args.members), args.batch)
    on_topic, on_streams = Seen(), Seen()
    streams = [TeamStream(t.ifi, on_streams) for t in load.teams]
    async with client(base, KEY, SECRET) as http, topic_reader(kafka, prefix, on_topic):
        followers = [asyncio.create_task(s.follow(http)) for s in streams]
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(s.ready.wait() for s in streams))
            before = load_average()
            started = time.perf_counter()
            await load.run_for(http, args.rate, args.seconds)
            posted = time.perf_counter() - started
            after = load_average()
            await settle(load.posts, [on_topic, on_streams])
        finally:
            for task in followers:
                task.cancel()
            for s in streams:
                if s.response is not None:
                    await s.response.aclose()
            await asyncio.gather(*followers, return_exceptions=True)
    acked = sum(load.counts.values())
    print(
        f"{acked} statements acknowledged in {posted:.1f} s ({acked / posted:.0f}/s, asked"
        f" {args.rate:.0f}/s in POSTs of {args.batch}); skipped ticks: {load.skipped} statements;"
        f" answers: {dict(load.outcomes)}; load average {before} before, {after} after (2 cores)"
    )
    print(line("POST answered in", load.latencies, "POSTs"))
    measured = sum(len(p.learners) for p in load.posts)
    print(f"after each POST's answer ({len(load.posts)} POSTs, {measured} learner changes):")
    for label, seen in (("topic", on_topic), ("SSE", on_streams)):
        learner, team, missing = latencies(load.posts, seen)
        print(line(f"{label}, learner-progress", learner))
        print(line(f"{label}, team-progress", team))
        if missing:
            print(f"  {label}: {missing} changes not seen within {SETTLE_SECONDS:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=250.0, help="statements per second")
    parser.add_argument("--batch", type=int, default=10, help="statements per POST")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to post")
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("settings", nargs="*", help="LRS_NAME=value for lrs serve")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="lrs-progress-load-") as tmp:
        data = Path(tmp) / "data"
        settings = settings_from(args.settings)
        with serve_lrs(data, KEY, SECRET, **settings) as (base, _):
            kafka = child_setting(data, "LRS_KAFKA_BOOTSTRAP")
            prefix = settings.get("topic_prefix", "")  # LRS_TOPIC_PREFIX, if given here
            asyncio.run(measure(base, kafka, prefix, args))


if __name__ == "__main__":
    main()
