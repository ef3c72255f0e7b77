"""Progress pipeline test support: random workloads, the consumers as in-process tasks, topic
readers and the oracle (an independent recomputation from the stored statements with the pure
model)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from consumers.progress.learner import LearnerProgressHandler
from consumers.progress.team import TeamProgressHandler, TeamRegistryHandler
from consumers.runner import Handler, Runner, RunnerConfig
from lrs import topics
from lrs.adapters.mongo_erasure import MongoErasedAgents
from lrs.adapters.mongo_progress import MongoProgressStore, members_fields, summary_fields
from lrs.progress import (
    fold,
    learner_id,
    registry_teams_for,
    summarize_learner,
    summarize_team,
    voided_target,
)
from lrs.settings import LrsSettings
from tests.conftest import unique_name
from tests.support.factories import agent
from tests.support.stack import api_client, database, running, running_persister

FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ADL = "http://adlnet.gov/expapi/verbs/"
CMI5 = "https://w3id.org/xapi/adl/verbs/"
VERBS = [
    ADL + "attempted",
    ADL + "experienced",
    ADL + "completed",
    ADL + "passed",
    ADL + "failed",
    ADL + "answered",
    ADL + "launched",
    ADL + "initialized",
    ADL + "progressed",
    ADL + "mastered",
    CMI5 + "satisfied",
    CMI5 + "waived",
    "https://example.org/verbs/reflected",
]
Doc = dict[str, Any]


@dataclass
class MovableClock:
    """A consumer's clock: set by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def fixed_clock() -> datetime:
    return FIXED_NOW


# --- workload ---------------------------------------------------------------------------------


@dataclass
class Workload:
    """A random workload: POST steps (statement batches) and registry steps, in order."""

    seed: int
    learners: int = 30
    courses: int = 5
    registry_teams: int = 4
    squads: int = 3
    steps: list[tuple[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def build(self, statements: int, void_share: float = 0.1) -> Workload:
        """`statements` statements in batches, ~void_share of them voided (some of the voids
        posted before their targets), and registry changes between batches."""
        pending: list[Doc] = [self.statement() for _ in range(statements)]
        voids: list[tuple[Doc, Doc]] = [
            (s, self.voiding(s["id"])) for s in pending if self.rng.random() < void_share
        ]
        early = {id(s): v for s, v in voids if self.rng.random() < 0.4}
        late = [v for s, v in voids if id(s) not in early]
        queue: list[Doc] = []
        for s in pending:
            if id(s) in early:
                queue.append(early[id(s)])  # the void goes first: its target comes later
            queue.append(s)
        for v in late:
            queue.insert(
                self.rng.randint(queue.index(_by_id(queue, v["object"]["id"])) + 1, len(queue)), v
            )
        while queue:
            size = self.rng.randint(1, 25)
            batch, queue = queue[:size], queue[size:]
            self.steps.append(("post", batch))
            if self.rng.random() < 0.15:
                self.steps.append(("registry", self.registry_change()))
        return self

    def statement(self) -> Doc:
        learner = self.rng.randrange(self.learners)
        course = self.rng.randrange(self.courses)
        module = self.rng.randrange(3)
        at = FIXED_NOW - timedelta(
            days=self.rng.choice([0, 0, 1, 1, 2, 3, 5, 6, 8, 12, 20, 29, 31, 40]),
            seconds=self.rng.randrange(86_400),
        )
        on_course = self.rng.random() < 0.4
        doc: Doc = {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "actor": agent(learner),
            "verb": {"id": self.rng.choice(VERBS)},
            "object": {"id": _course(course) if on_course else _module(course, module)},
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }
        if not on_course:
            doc["context"] = {"contextActivities": {"parent": [{"id": _course(course)}]}}
        self._add_result(doc)
        self._add_team(doc, learner)
        return doc

    def _add_result(self, doc: Doc) -> None:
        if self.rng.random() < 0.3:
            return
        result: Doc = {}
        if self.rng.random() < 0.6:
            result["score"] = {"scaled": round(self.rng.uniform(-0.2, 1), 2)}
        if self.rng.random() < 0.4:
            result["success"] = self.rng.random() < 0.6
        if self.rng.random() < 0.4:
            result["completion"] = self.rng.random() < 0.7
        if self.rng.random() < 0.7:
            result["duration"] = f"PT{self.rng.randrange(1, 90)}M{self.rng.randrange(60)}S"
        if result:
            doc["result"] = result

    def _add_team(self, doc: Doc, learner: int) -> None:
        if learner % 3 or self.rng.random() < 0.5:
            return
        squad = {"objectType": "Group", "mbox": f"mailto:squad{learner % self.squads}@ex.org"}
        doc.setdefault("context", {})["team"] = squad

    def voiding(self, target: str) -> Doc:
        return {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "actor": agent("admin"),
            "verb": {"id": ADL + "voided"},
            "object": {"objectType": "StatementRef", "id": target},
        }

    def registry_change(self) -> tuple[str, list[str] | None]:
        team = f"team-{self.rng.randrange(self.registry_teams)}"
        if self.rng.random() < 0.15:
            return team, None  # deleted
        size = self.rng.randrange(0, 8)
        members = sorted({learner_ifi(self.rng.randrange(self.learners + 3)) for _ in range(size)})
        return team, members


def _by_id(queue: list[Doc], statement_id: str) -> Doc:
    return next(s for s in queue if s["id"] == statement_id)


def _course(n: int) -> str:
    return f"https://content.example.org/course/{n}"


def _module(course: int, module: int) -> str:
    return f"https://content.example.org/course/{course}/module/{module}"


def learner_ifi(n: int | str) -> str:
    return f"mbox:mailto:learner{n}@example.org"


# --- registry ---------------------------------------------------------------------------------


async def apply_registry_change(
    db: AsyncDatabase[Doc],
    producer: AIOKafkaProducer,
    settings: LrsSettings,
    tenant: str,
    change: tuple[str, list[str] | None],
) -> None:
    """What the team API does: write `teams`, then publish the change on `lrs.teams`."""
    team, members = change
    key = f"{tenant}/{team}"
    if members is None:
        await db["teams"].delete_one({"_id": key})
    else:
        doc = {"tenant": tenant, "team": team, "name": team, "members": members}
        await db["teams"].replace_one({"_id": key}, {**doc, "updated": FIXED_NOW}, upsert=True)
    value = {"tenant": tenant, "team": team, "name": team, "members": members or []}
    await producer.send_and_wait(
        settings.topic(topics.TEAMS),
        orjson.dumps({**value, "deleted": members is None}),
        key=topics.team_key(tenant, team),
    )


# --- consumers in process ---------------------------------------------------------------------


def progress_handlers(
    db: AsyncDatabase[Doc], settings: LrsSettings, clock: Callable[[], datetime]
) -> list[tuple[str, Handler]]:
    store, prefix = MongoProgressStore(db), settings.topic_prefix
    return [
        (
            topics.STORED_STATEMENTS,
            LearnerProgressHandler(
                store,
                clock,
                prefix=prefix,
                erased=MongoErasedAgents(db),
                held_facts=settings.progress_held_facts,
            ),
        ),
        (topics.TEAM_CHANGES, TeamProgressHandler(store, clock, prefix=prefix)),
        (topics.TEAMS, TeamRegistryHandler(store, clock, prefix=prefix)),
    ]


@contextlib.asynccontextmanager
async def running_progress(
    settings: LrsSettings,
    db: AsyncDatabase[Doc],
    clock: Callable[[], datetime] = fixed_clock,
    batch_max: int = 40,
    linger_ms: int = 0,
    linger_follows_load: bool = False,
) -> AsyncIterator[list[Runner]]:
    """The three progress consumers as tasks of this event loop."""
    assert settings.kafka_bootstrap
    runners = [
        Runner(
            RunnerConfig(
                bootstrap=settings.kafka_bootstrap,
                topic=settings.topic(topic),
                group_id=f"{settings.consumer_group_prefix}-{handler.name}",
                batch_max=batch_max,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                linger_ms=0 if handler.name == "team-registry" else linger_ms,
                linger_follows_load=linger_follows_load,
            ),
            handler,
        )
        for topic, handler in progress_handlers(db, settings, clock)
    ]
    async with running(runners):
        yield runners


@contextlib.asynccontextmanager
async def running_pipeline(
    settings: LrsSettings, batch_max: int = 40
) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncDatabase[Doc]]]:
    """The in-process API, the persister and the progress consumers, over one database: an
    API client and that database."""
    async with (
        database(settings) as db,
        api_client(settings) as client,
        running_persister(settings),
        running_progress(settings, db, batch_max=batch_max),
    ):
        yield client, db


# --- reading back -----------------------------------------------------------------------------


async def latest_per_key(settings: LrsSettings, topic: str, quiet: float = 1.5) -> dict[bytes, Doc]:
    """Read a topic from the beginning until nothing new comes for `quiet` seconds; the last
    value of every key."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=unique_name("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    latest: dict[bytes, Doc] = {}
    try:
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        while loop.time() - last_seen < quiet:
            batches = await consumer.getmany(timeout_ms=300)
            for batch in batches.values():
                for record in batch:
                    assert record.key is not None
                    latest[record.key] = orjson.loads(record.value)
                    last_seen = loop.time()
    finally:
        await consumer.stop()
    return latest


async def stored_statements(db: AsyncDatabase[Doc], tenant: str) -> list[Doc]:
    cursor = db["statements"].find({"tenant": tenant}, {"body": 1})
    return [orjson.loads(d["body"]) async for d in cursor]


async def registry(db: AsyncDatabase[Doc], tenant: str) -> dict[str, set[str]]:
    cursor = db["teams"].find({"tenant": tenant})
    return {d["team"]: set(d.get("members") or ()) async for d in cursor}


# --- the oracle -------------------------------------------------------------------------------


@dataclass
class Expected:
    learners: dict[str, Doc]  # learner -> summary (with tenant)
    teams: dict[str, tuple[Doc, list[str]]]  # team -> (summary with tenant, members)


def oracle(
    tenant: str,
    statements: list[Doc],
    teams_registry: Mapping[str, set[str]],
    as_of: datetime,
    known_teams: set[str] = frozenset(),  # type: ignore[assignment]
) -> Expected:
    """Progress recomputed from scratch: each learner's statements plus every void, folded
    with the pure model; teams from the registry and the learners' statement teams."""
    voids = [s for s in statements if voided_target(s) is not None]
    own: dict[str, list[Doc]] = {}
    for s in statements:
        if voided_target(s) is None:
            own.setdefault(learner_id(s), []).append(s)
    learners = {
        learner: {
            **summarize_learner(
                fold(learner, [*mine, *voids]),
                as_of.date(),
                registry_teams=registry_teams_for(learner, teams_registry),
            ),
            "tenant": tenant,
        }
        for learner, mine in own.items()
    }
    names = set(teams_registry) | set(known_teams)
    names |= {t for summary in learners.values() for t in summary["teams"]}
    teams = {}
    for team in names:
        members = set(teams_registry.get(team, ())) | {
            learner for learner, s in learners.items() if team in s["teams"]
        }
        summaries = {m: learners.get(m) for m in members}
        summary = {**summarize_team(team, summaries, as_of), "tenant": tenant}
        teams[team] = (summary, sorted(members))
    return Expected(learners, teams)


async def progress_docs(db: AsyncDatabase[Doc], collection: str, tenant: str) -> dict[str, Doc]:
    """The tenant's progress documents by learner or team; the summary as a mapping and a
    team's members as a list (the store keeps both as JSON bytes)."""
    key = "learner" if collection == "progress_learners" else "team"
    cursor = db[collection].find({"tenant": tenant})
    return {d[key]: {**d, **_decoded(d, key == "team")} async for d in cursor}


def _decoded(doc: Doc, team: bool) -> Doc:
    decoded: Doc = {"summary": summary_fields(doc)}
    if team:
        decoded["members"] = list(members_fields(doc))
    return decoded


async def post_statements(
    http: httpx.AsyncClient, statements: list[Doc], headers: Mapping[str, str]
) -> None:
    answer = await http.post("/xapi/statements", json=statements, headers=headers)
    assert answer.status_code == 200, answer.text


async def post_workload(
    http: httpx.AsyncClient,
    db: AsyncDatabase[Doc],
    settings: LrsSettings,
    workload: Workload,
    headers: Mapping[str, str],
    tenant: str = "default",
) -> None:
    """POST the workload's batches (four at a time) with its registry changes in between."""
    assert settings.kafka_bootstrap
    kafka = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await kafka.start()
    try:
        posts: list[list[Doc]] = []
        for kind, step in [*workload.steps, ("end", None)]:
            if kind == "post":
                posts.append(step)
                continue
            for start in range(0, len(posts), 4):
                batch = posts[start : start + 4]
                await asyncio.gather(*(post_statements(http, b, headers) for b in batch))
            posts.clear()
            if kind == "registry":
                await apply_registry_change(db, kafka, settings, tenant, step)
    finally:
        await kafka.stop()
