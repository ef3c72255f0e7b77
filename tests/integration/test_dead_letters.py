"""No record wedges a consumer (docs/decisions/0008), on the real broker and store: a record the
handler fails on deterministically is dead-lettered and everything around it is stored; a
transient failure is retried, never dead-lettered; dead letters are listed (CLI, admin API) and
replayed after a fix."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect

from consumers.persist import PersistHandler
from consumers.progress.team import TeamRegistryHandler
from consumers.runner import Handler, Health, Outcome, Record
from lrs import topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import connect
from lrs.codec import encode_accepted
from lrs.entry import dlq_cli
from lrs.entry.cli import _parser
from lrs.ports.dead_letters import DeadLetter, Selection
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.settings import LrsSettings
from lrs.xapi.ifi import actor_ifi
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.progress import (
    apply_registry_change,
    fixed_clock,
    latest_per_key,
    learner_ifi,
)
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_consumer,
    running_persister,
    xapi_headers,
)
from tests.support.stack import persist_handler as support_persist_handler

pytestmark = pytest.mark.integration
BROKEN_VERB = "http://example.org/verbs/not-yet-supported"


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("d"))
    await prepare_infra(settings)
    return settings


def accepted(doc: dict[str, Any]) -> AcceptedStatement:
    now = datetime.now(UTC)
    full = {
        **doc,
        "stored": now.isoformat(),
        "version": "1.0.0",
        "authority": {"mbox": "mailto:a@b.c"},
    }
    return AcceptedStatement("default", full, now, actor_ifi(full["actor"]))


def too_deep_statement() -> dict[str, Any]:
    """Valid JSON the store adapter cannot encode (orjson stops at 255 levels): what an older
    API without the depth limit accepted."""
    deep: Any = 1
    for _ in range(300):
        deep = {"k": deep}
    doc = statement(learner="deep")
    doc["result"]["extensions"] = {"https://e.x/deep": deep}
    return doc


def encoded(doc: dict[str, Any]) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """The record of `doc` as the API writes it; values too deep for orjson by the stdlib."""
    record = accepted(doc)
    try:
        message = encode_accepted(record, source="test")
        return message.value, message.key, list(message.headers)
    except TypeError:  # orjson's recursion limit
        shallow = encode_accepted(accepted({**doc, "result": {}}), source="test")
        envelope = {
            "tenant": record.tenant,
            "stored": record.stored.isoformat(),
            "actor_ifi": record.actor_ifi,
            "statement": record.statement,
        }
        return json.dumps(envelope).encode(), shallow.key, list(shallow.headers)


async def produce(settings: LrsSettings, docs: Sequence[dict[str, Any]]) -> list[bytes]:
    """Straight onto the statements topic (bypassing the API), all on partition 0."""
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await p.start()
    values: list[bytes] = []
    try:
        for doc in docs:
            value, key, headers = encoded(doc)
            await p.send_and_wait(
                settings.topic(topics.STATEMENTS), value, key=key, partition=0, headers=headers
            )
            values.append(value)
    finally:
        await p.stop()
    return values


async def stored_ids(settings: LrsSettings) -> set[str]:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        cursor = client[settings.mongodb_database]["statements"].find({}, {"id": 1})
        return {d["id"] async for d in cursor}
    finally:
        await client.close()


def dead_letters(settings: LrsSettings) -> Callable[[], Awaitable[list[DeadLetter]]]:
    assert settings.kafka_bootstrap
    reader = KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix)
    return lambda: reader.all(Selection())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_record_the_store_refuses_is_dead_lettered_and_the_rest_stored(
    settings: LrsSettings,
) -> None:
    topic = settings.topic(topics.STATEMENTS)
    before = [statement(learner=f"b{i}") for i in range(3)]
    after = [statement(learner=f"a{i}") for i in range(3)]
    values = await produce(settings, [*before, too_deep_statement(), *after])
    dead_metric = {"consumer": "persist", "topic": topic, "error_class": "TypeError"}
    async with running_persister(settings) as persister:
        expected = {d["id"] for d in before + after}
        assert await eventually(lambda: stored_ids(settings), expected.__le__) == expected
        dead = await eventually(dead_letters(settings), lambda found: len(found) >= 1)
        later = [statement(learner=f"l{i}") for i in range(3)]
        await produce(settings, later)
        expected |= {d["id"] for d in later}
        assert await eventually(lambda: stored_ids(settings), expected.__le__) == expected
        assert not persister.task.done(), "the consumer must keep running"
    assert len(dead) == 1
    letter = dead[0]
    assert letter.topic == topics.dlq(topic)
    assert letter.value == values[3]
    assert (letter.consumer, letter.error_class) == ("persist", "TypeError")
    assert "recursion" in (letter.error_message or "").lower()
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        topic,
        0,
        3,
    )
    assert letter.header(topics.HEADER_DEFINE) == "1", "the original headers are kept"
    assert sample("lrs_dead_lettered_total", **dead_metric) == 1


@dataclass
class Flaky:
    """The persist handler behind a store that is unreachable for the first `outages` calls."""

    inner: PersistHandler
    outages: int
    calls: int = 0
    name: str = "persist"
    health: Health | None = None
    seen_states: set[str] = field(default_factory=set)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        self.calls += 1
        if self.health is not None:
            self.seen_states.add(self.health.state)
        if self.calls <= self.outages:
            raise AutoReconnect("connection refused (test outage)")
        return await self.inner.handle(records)

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self.inner.caught_up(topic, partitions)


@dataclass
class Broken:
    """The persist handler with a bug for one verb, until `fixed`."""

    inner: PersistHandler
    fixed: bool = False
    name: str = "persist"

    async def handle(self, records: Sequence[Record]) -> Outcome:
        if not self.fixed and any(BROKEN_VERB.encode() in (r.value or b"") for r in records):
            raise ValueError("verb not supported yet (test bug)")
        return await self.inner.handle(records)

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self.inner.caught_up(topic, partitions)


def persist_handler(settings: LrsSettings) -> tuple[PersistHandler, Callable[[], Awaitable[None]]]:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    db = client[settings.mongodb_database]
    return support_persist_handler(settings, db), client.close


async def test_a_transient_failure_is_retried_and_never_dead_lettered(
    settings: LrsSettings,
) -> None:
    docs = [statement(learner=f"t{i}") for i in range(5)]
    await produce(settings, docs)
    inner, close = persist_handler(settings)
    flaky = Flaky(inner, outages=25)  # more than the old runner's 20 consecutive failures
    retrying = {"consumer": "persist"}
    failures_before = sample(
        "lrs_consumer_transient_failures_total", consumer="persist", error_class="AutoReconnect"
    )
    try:
        async with running_consumer(
            settings, flaky, retry_initial_seconds=0.01, retry_max_seconds=0.05
        ) as consumer:
            flaky.health = consumer.runner.health
            expected = {d["id"] for d in docs}
            assert await eventually(lambda: stored_ids(settings), expected.__le__) == expected
            assert not consumer.task.done()

            async def state() -> str:
                return consumer.runner.health.state

            assert await eventually(state, "running".__eq__) == "running"
            assert sample("lrs_consumer_retrying", **retrying) == 0
    finally:
        await close()
    assert "retrying" in flaky.seen_states
    assert flaky.calls > 25
    failures = sample(
        "lrs_consumer_transient_failures_total", consumer="persist", error_class="AutoReconnect"
    )
    assert failures - failures_before == 25
    assert await dead_letters(settings)() == []


def dlq_args(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(["dlq", *argv])


async def run_cli(settings: LrsSettings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert await asyncio.to_thread(dlq_cli.run, dlq_args(*argv), settings) == 0
    return capsys.readouterr().out


async def test_dead_letters_are_listed_and_stored_when_replayed_after_a_fix(
    settings: LrsSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [statement(learner=f"g{i}") for i in range(4)]
    broken = [statement(learner=f"x{i}", verb=BROKEN_VERB) for i in range(3)]
    await produce(settings, [good[0], broken[0], good[1], broken[1], good[2], broken[2], good[3]])
    inner, close = persist_handler(settings)
    handler = Broken(inner)
    try:
        async with running_consumer(settings, handler) as consumer:
            dead = await eventually(dead_letters(settings), lambda found: len(found) >= 3)
            expected = {d["id"] for d in good}
            assert await eventually(lambda: stored_ids(settings), expected.__le__) == expected
            listed = await run_cli(settings, capsys, "list", "--consumer", "persist")
            await check_admin_listing(settings)
            handler.fixed = True
            replayed = await run_cli(
                settings, capsys, "replay", "--topic", topics.STATEMENTS, "--all"
            )
            expected |= {d["id"] for d in broken}
            assert await eventually(lambda: stored_ids(settings), expected.__le__) == expected
            assert not consumer.task.done()
    finally:
        await close()
    assert sorted(d.original_offset or 0 for d in dead) == [1, 3, 5]
    lines = listed.strip().splitlines()
    assert len(lines) == 3
    assert all("\tpersist\tValueError\t" in line for line in lines)
    assert "verb not supported yet" in lines[0]
    assert replayed.count("replayed\t") == 3
    assert await dlq_list_count(settings, capsys, "--consumer", "progress") == 0


async def dlq_list_count(
    settings: LrsSettings, capsys: pytest.CaptureFixture[str], *argv: str
) -> int:
    return len((await run_cli(settings, capsys, "list", *argv)).strip().splitlines())


async def check_admin_listing(settings: LrsSettings) -> None:
    """GET /admin/dead-letters pages through the three dead letters, two at a time."""
    async with api_client(settings) as client:
        headers = xapi_headers()
        first = await client.get("/admin/dead-letters?limit=2", headers=headers)
        assert first.status_code == 200, first.text
        page = first.json()
        assert len(page["dead_letters"]) == 2
        assert page["more"]
        second = await client.get(
            "/admin/dead-letters", params={"limit": 2, "cursor": page["more"]}, headers=headers
        )
        rest = second.json()
        assert [d["offset"] for d in page["dead_letters"] + rest["dead_letters"]] == [0, 1, 2]
        assert rest["more"] is None
        letter = page["dead_letters"][0]
        assert letter["consumer"] == "persist"
        assert letter["error_class"] == "ValueError"
        assert letter["original_topic"] == settings.topic(topics.STATEMENTS)
        assert letter["original_offset"] == 1
        assert orjson.loads(orjson.dumps(letter))["time"]
        unauthenticated = await client.get("/admin/dead-letters")
        assert unauthenticated.status_code == 401
        wrong = await client.get("/admin/dead-letters?topic=nope", headers=headers)
        assert wrong.status_code == 400
        await check_replay_needs_an_explicit_selection(client, headers)


async def check_replay_needs_an_explicit_selection(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """As `lrs dlq replay`: offsets or all, said explicitly; nothing replayed by accident."""
    for vague in ({}, {"offsets": None}, {"offsets": []}, {"offsets": [0], "all": True}):
        body = {"topic": topics.STATEMENTS, **vague}
        refused = await client.post("/admin/dead-letters/replay", json=body, headers=headers)
        assert refused.status_code == 400, (vague, refused.text)
        assert '"all": true' in refused.json()["error"]["message"]


@dataclass
class Echo:
    """Derives one output per record; the `huge` record's output is larger than any producer
    request may be."""

    output_topic: str
    huge: bytes
    name: str = "echo"

    async def handle(self, records: Sequence[Record]) -> Outcome:
        outputs = [(self.output_topic, self._output(r)) for r in records]
        return Outcome(outputs=outputs)

    def _output(self, record: Record) -> OutgoingMessage:
        value = record.value or b""
        body = b"x" * (17 * 1024 * 1024) if self.huge in value else b"ok"
        return OutgoingMessage(f"k{record.offset}".encode(), orjson.dumps(body.decode()), [])

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        return None


async def test_an_output_that_cannot_be_produced_dead_letters_its_input(
    settings: LrsSettings,
) -> None:
    docs = [statement(learner=f"o{i}") for i in range(5)]
    docs[2]["verb"]["id"] = BROKEN_VERB
    await produce(settings, docs)
    handler = Echo(settings.topic(topics.LEARNER_PROGRESS), BROKEN_VERB.encode())
    async with running_consumer(settings, handler) as consumer:
        dead = await eventually(dead_letters(settings), lambda found: len(found) >= 1)
        outputs = await latest_per_key(settings, topics.LEARNER_PROGRESS)
        assert not consumer.task.done()
    assert [(d.consumer, d.error_class, d.original_offset) for d in dead] == [
        ("echo", "MessageSizeTooLargeError", 2)
    ]
    assert sorted(outputs) == [b"k0", b"k1", b"k3", b"k4"]


@dataclass
class Refusing:
    """A handler that fails deterministically on any batch holding `marker`; otherwise the
    real one (whose name it takes), remembering the keys it handled."""

    inner: Handler
    marker: bytes
    handled: set[bytes] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.inner.name

    async def handle(self, records: Sequence[Record]) -> Outcome:
        if any(self.marker in (r.value or b"") for r in records):
            raise KeyError("a bug in the team registry consumer (test)")
        outcome = await self.inner.handle(records)
        self.handled |= {r.key or b"" for r in records}
        return outcome

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self.inner.caught_up(topic, partitions)


async def test_the_team_registry_consumer_dead_letters_to_its_own_topic(
    settings: LrsSettings,
) -> None:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    db = client[settings.mongodb_database]
    registry = TeamRegistryHandler(
        MongoProgressStore(db), fixed_clock, prefix=settings.topic_prefix
    )
    handler = Refusing(registry, b'"team-bad"')
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await p.start()
    try:
        for team in ("team-a", "team-bad", "team-c"):
            await apply_registry_change(db, p, settings, "default", (team, [learner_ifi(1)]))
        async with running_consumer(settings, handler, topics.TEAMS) as consumer:
            dead = await eventually(dead_letters(settings), lambda found: len(found) >= 1)
            good = {topics.team_key("default", t) for t in ("team-a", "team-c")}

            async def handled() -> set[bytes]:
                return handler.handled

            assert good <= await eventually(handled, good.__le__)
            assert not consumer.task.done()
    finally:
        await p.stop()
        await client.close()
    assert [(d.topic, d.consumer, d.error_class) for d in dead] == [
        (settings.topic(topics.dlq(topics.TEAMS)), "team-registry", "KeyError")
    ]
    assert dead[0].key == topics.team_key("default", "team-bad")


async def test_dead_letters_restored_are_the_same_records_on_their_own_partitions(
    settings: LrsSettings,
) -> None:
    """What a renewal of the embedded broker puts on the new one (docs/decisions/0032): each
    dead letter again, key, value, headers, time and partition as they were (here onto the
    same broker: each is then there twice, the copy at a new offset)."""
    assert settings.kafka_bootstrap
    dlq = settings.topic(topics.dlq(topics.STATEMENTS))
    headers = [(topics.HEADER_CONSUMER, b"persist")]
    sent = [(f"key-{n}".encode(), f"value-{n}".encode()) for n in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in sent:  # a dead-letter topic has one partition (lrs.topics)
            await producer.send_and_wait(
                dlq, value, key=key, partition=0, headers=headers, timestamp_ms=1_000_000
            )
    finally:
        await producer.stop()
    letters = KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix)
    before = await letters.all(Selection())
    assert await letters.restore(before) == 3
    after = await letters.all(Selection())

    def same(letter: DeadLetter) -> tuple[object, ...]:
        return (letter.topic, letter.partition, letter.key, letter.value, letter.headers)

    assert len(before) == 3
    assert sorted(map(same, after)) == sorted([*map(same, before), *map(same, before)])
    assert {letter.time for letter in after} == {datetime.fromtimestamp(1000, UTC)}
    assert len({(letter.partition, letter.offset) for letter in after}) == 6
