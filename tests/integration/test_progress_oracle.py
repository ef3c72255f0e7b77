"""The progress pipeline on the real broker and store, checked against an oracle.

Random workloads (fixed seeds) are POSTed through the real API, with the persister and the three
progress consumers running as tasks of this event loop; voids arrive before and after their
targets, from another actor, on other partitions; the team registry changes in between. Then
every `progress_learners` / `progress_teams` document and the last value of every key of
`lrs.progress.learner` / `lrs.progress.team` must equal an independent recomputation from the
statements stored in MongoDB (tests/support/progress.py `oracle`). `lrs progress rebuild` must
land on the same values. A kill -9 of `lrs consume progress` in the middle of a stream must end
in exactly the same progress as an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from consumers.progress.rebuild import kafka_publisher, rebuild
from lrs import topics
from lrs.adapters.mongo_progress import MongoProgressStore, summary_fields
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name
from tests.support.polling import eventually
from tests.support.processes import consumer_process, reaped
from tests.support.progress import (
    FIXED_NOW,
    Expected,
    Workload,
    apply_registry_change,
    fixed_clock,
    latest_per_key,
    oracle,
    progress_docs,
    registry,
    running_pipeline,
    stored_statements,
)
from tests.support.stack import (
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
TENANT = "default"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
Doc = dict[str, Any]


def validator(name: str) -> Any:
    return jsonschema_rs.validator_for(orjson.loads((SCHEMAS / name).read_bytes()))


@contextlib.asynccontextmanager
async def producer(settings: LrsSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def run_workload(
    client: httpx.AsyncClient,
    workload: Workload,
    db: AsyncDatabase[Doc],
    kafka: AIOKafkaProducer,
    settings: LrsSettings,
    writers: int = 4,
) -> list[str]:
    """POST the batches with `writers` concurrent clients between registry changes."""
    acknowledged: list[str] = []
    posts: list[list[Doc]] = []

    async def post(batch: list[Doc]) -> None:
        for _ in range(5):  # 503 (the broker was slow to acknowledge): sent again, same ids
            response = await client.post("/xapi/statements", json=batch, headers=xapi_headers())
            if response.status_code != 503:
                break
        assert response.status_code == 200, response.text
        acknowledged.extend(response.json())

    async def flush() -> None:
        for start in range(0, len(posts), writers):
            await asyncio.gather(*(post(b) for b in posts[start : start + writers]))
        posts.clear()

    for kind, step in workload.steps:
        if kind == "post":
            posts.append(step)
            continue
        await flush()
        await apply_registry_change(db, kafka, settings, TENANT, step)
    await flush()
    return acknowledged


async def expected_now(
    db: AsyncDatabase[Doc], workload: Workload, as_of: datetime = FIXED_NOW
) -> Expected:
    statements = await stored_statements(db, TENANT)
    known = {team for kind, step in workload.steps if kind == "registry" for team in [step[0]]}
    return oracle(TENANT, statements, await registry(db, TENANT), as_of, known)


def agent_of(learner: str) -> dict[str, str]:
    """The xAPI Agent of a learner id of the workload (they are all mbox identifiers)."""
    prop, _, value = learner.partition(":")
    assert prop == "mbox"
    return {"mbox": value}


async def rest_problems(
    client: httpx.AsyncClient, expected: Expected, names: Mapping[str, str] | None = None
) -> list[str]:
    """The REST answers (recomputed at read time, so the oracle uses now as well); a registry
    team is called by the name its administrator gave (`names`)."""
    problems = []
    for learner, summary in expected.learners.items():
        response = await client.get(
            "/progress/learners",
            params={"agent": orjson.dumps(agent_of(learner)).decode()},
            headers=xapi_headers(),
        )
        body = {k: v for k, v in response.json().items() if k != "version"}
        if response.status_code != 200 or body != summary:
            problems.append(f"GET learner {learner}: {response.status_code} {body} != {summary}")
    for team, (summary, _) in expected.teams.items():
        response = await client.get(
            f"/progress/teams/{quote(team, safe='')}", headers=xapi_headers()
        )
        # `as_of` is each side's own "now", to the millisecond; the figures must still agree
        body = {k: v for k, v in response.json().items() if k not in ("version", "as_of")}
        wanted = {k: v for k, v in summary.items() if k != "as_of"}
        if names and team in names:
            wanted["name"] = names[team]
        if response.status_code != 200 or body != wanted:
            problems.append(f"GET team {team}: {response.status_code} {body} != {wanted}")
    return problems


def doc_problems(expected: Expected, learners: dict[str, Doc], teams: dict[str, Doc]) -> list[str]:
    problems = []
    if set(learners) != set(expected.learners):
        problems.append(f"learners differ: {sorted(set(learners) ^ set(expected.learners))[:5]}")
    for learner, summary in expected.learners.items():
        doc = learners.get(learner)
        if doc is not None and (doc["summary"] != summary or doc["teams"] != summary["teams"]):
            problems.append(f"learner {learner}: {doc['summary']} != {summary}")
    if set(teams) != set(expected.teams):
        problems.append(f"teams differ: {sorted(set(teams) ^ set(expected.teams))}")
    for team, (summary, members) in expected.teams.items():
        doc = teams.get(team)
        if doc is not None and (doc["summary"] != summary or doc["members"] != members):
            problems.append(f"team {team}: {doc['summary']} != {summary}")
    return problems


async def topic_problems(
    settings: LrsSettings, learners: dict[str, Doc], teams: dict[str, Doc]
) -> list[str]:
    problems = []
    for topic, docs, schema, key in (
        (topics.LEARNER_PROGRESS, learners, "learner-progress.v1.json", topics.learner_key),
        (topics.TEAM_PROGRESS, teams, "team-progress.v1.json", topics.team_key),
    ):
        latest = await latest_per_key(settings, topic)
        wanted = {
            key(TENANT, name): {**d["summary"], "version": d["version"]} for name, d in docs.items()
        }
        if latest != wanted:
            differing = [k for k in set(latest) | set(wanted) if latest.get(k) != wanted.get(k)]
            problems.append(f"{topic}: {len(differing)} keys differ, e.g. {differing[:3]}")
        check = validator(schema)
        problems += [
            f"{topic} value breaks {schema}" for v in latest.values() if not check.is_valid(v)
        ]
    return problems


def held_recomputations() -> float:
    """Teams team-progress has computed from the members it held (docs/decisions/0033)."""
    found = REGISTRY.get_sample_value("lrs_team_recomputations_total", {"read": "changed"})
    return found or 0.0


@pytest.mark.parametrize(
    ("seed", "held"), [(7, 400), (2026, 400), (2026, 3)], ids=["7", "2026", "2026-sealing"]
)
async def test_progress_equals_the_oracle(infra: Infra, seed: int, held: int) -> None:
    """`held`: LRS_PROGRESS_HELD_FACTS; 3 seals most of every learner's facts away."""
    settings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        unique_name("o"),
        ack_mode="kafka",
        progress_held_facts=held,
    )
    await prepare_infra(settings)
    workload = Workload(seed).build(statements=500)
    from_held = held_recomputations()
    async with running_pipeline(settings) as (client, db), producer(settings) as kafka:
        acknowledged = await run_workload(client, workload, db, kafka, settings)

        async def docs_settled() -> list[str]:
            if await db["statements"].count_documents({}) < len(acknowledged):
                return ["statements not all stored yet"]
            learners = await progress_docs(db, "progress_learners", TENANT)
            teams = await progress_docs(db, "progress_teams", TENANT)
            return doc_problems(await expected_now(db, workload), learners, teams)

        assert await eventually(docs_settled) == []
        assert held_recomputations() > from_held  # teams were computed from held members too
        learners = await progress_docs(db, "progress_learners", TENANT)
        teams = await progress_docs(db, "progress_teams", TENANT)
        # the settled batches' last outputs reach the topics after their writes
        assert await eventually(lambda: topic_problems(settings, learners, teams)) == []
        now = datetime.now(UTC)
        expected = await expected_now(db, workload, now)
        assert await rest_problems(client, expected, await registry_names(db)) == []
        voids = sum(
            1
            for kind, step in workload.steps
            if kind == "post"
            for s in step
            if s["verb"]["id"].endswith("/voided")
        )
        assert voids > 20
        assert len(learners) >= 25
        assert len(teams) >= 5

        before = {name: d["version"] for name, d in learners.items()}
        async with producer(settings) as publishing:
            stream = io.StringIO()
            publish = kafka_publisher(publishing, settings.topic_prefix)
            report = await rebuild(
                MongoProgressStore(db),
                fixed_clock,
                publish,
                stream=stream,
                held_facts=settings.progress_held_facts,
            )
        assert report.statements == len(acknowledged)
        assert "100%" in stream.getvalue()
        rebuilt = await progress_docs(db, "progress_learners", TENANT)
        rebuilt_teams = await progress_docs(db, "progress_teams", TENANT)
        assert doc_problems(await expected_now(db, workload), rebuilt, rebuilt_teams) == []
        assert all(rebuilt[name]["version"] > version for name, version in before.items())
        assert await eventually(lambda: topic_problems(settings, rebuilt, rebuilt_teams)) == []


# --- kill -9 ------------------------------------------------------------------------------------


def progress_process(settings: LrsSettings) -> subprocess.Popen[bytes]:
    return consumer_process(settings, "progress", progress_batch_max="15")


async def learner_problems(db: AsyncDatabase[Doc]) -> list[str]:
    """Stored learner progress vs the oracle (the subprocess uses the real clock)."""
    statements = await stored_statements(db, TENANT)
    learners = await progress_docs(db, "progress_learners", TENANT)
    expected = oracle(TENANT, statements, {}, datetime.now(UTC)).learners
    problems = []
    if set(learners) != set(expected):
        problems.append(f"learners differ: {len(set(learners) ^ set(expected))}")
    for name, summary in expected.items():
        doc = learners.get(name)
        if doc is not None and doc["summary"] != summary:
            problems.append(f"learner {name}: {doc['summary']} != {summary}")
    return problems


async def test_kill_9_mid_stream_ends_in_the_same_progress(infra: Infra) -> None:
    settings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, unique_name("k"), ack_mode="kafka"
    )
    await prepare_infra(settings)
    workload = Workload(99, learners=40).build(statements=900, void_share=0.12)
    workload.steps = [step for step in workload.steps if step[0] == "post"]  # no registry here
    posted = {s["id"] for kind, step in workload.steps if kind == "post" for s in step}
    async with (
        database(settings) as db,
        producer(settings) as kafka,
        api_client(settings) as client,
        running_persister(settings),
    ):
        with reaped(progress_process(settings)) as first:
            writer = asyncio.create_task(run_workload(client, workload, db, kafka, settings, 2))
            await _wait_owned(db, 150)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            owned_at_kill = await counted(db)
            await asyncio.sleep(0.5)
            with reaped(progress_process(settings)):
                acknowledged = await writer
                assert sorted(acknowledged) == sorted(posted)

                async def settled() -> list[str]:
                    if await db["statements"].count_documents({}) < len(acknowledged):
                        return ["statements not all stored yet"]
                    return await learner_problems(db)

                assert await eventually(settled, within=120) == []
        assert 0 < owned_at_kill < len(acknowledged), "the kill should land mid-stream"
        learners = await progress_docs(db, "progress_learners", TENANT)
        latest = await latest_per_key(settings, topics.LEARNER_PROGRESS)
        wanted = {
            topics.learner_key(TENANT, name): {**d["summary"], "version": d["version"]}
            for name, d in learners.items()
        }
        assert latest == wanted


async def _wait_owned(db: AsyncDatabase[Doc], count: int, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while await counted(db) < count:
        assert loop.time() < deadline, "the progress consumer never got going"
        await asyncio.sleep(0.1)


async def counted(db: AsyncDatabase[Doc]) -> int:
    """Statements the progress consumer has counted (live ones, over every learner)."""
    cursor = db["progress_learners"].find({}, {"summary": 1})
    return sum([int(summary_fields(d).get("statements", 0)) async for d in cursor])


async def registry_names(db: AsyncDatabase[Doc]) -> dict[str, str]:
    """The name of each team of the registry (deleted ones are removed from it)."""
    cursor = db["teams"].find({"tenant": TENANT}, {"team": 1, "name": 1})
    return {d["team"]: d["name"] async for d in cursor}
