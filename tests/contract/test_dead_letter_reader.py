"""The dead-letter contract (lrs.ports.dead_letters.DeadLetterReader: what `lrs dlq` and
`/admin/dead-letters` list and replay), run against the in-memory fake and the Kafka reader on
the real (embedded) broker. Each side dead-letters records the way the consumers do
(consumers.runner's headers) and shows what a replay produced."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from consumers.runner import dead_letter_headers
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.adapters.memory_dead_letters import InMemoryDeadLetters, Replayed
from lrs.ports.dead_letters import DeadLetter, DeadLetterReader, Header, Page, Position, Selection
from lrs.topics import TopicSpec
from tests.conftest import Infra, unique_name
from tests.contract.conftest import read_topic

T0 = datetime(2026, 11, 30, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as Kafka keeps
ORIGINAL_PARTITIONS = 3


@dataclass
class Original:
    """A consumed record, as the consume loop hands it to a handler."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]


DeadLettering = Callable[[Original, Exception, str], Awaitable[None]]


@dataclass
class World:
    reader: DeadLetterReader
    prefix: str
    dead_letter: DeadLettering  # as consumers.runner.send_to_dlq does
    # What a replay produced to a topic: at least that many records, and all there are.
    replayed: Callable[[str, int], Awaitable[list[Replayed]]]


@pytest.fixture(params=["memory", "kafka"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    prefix = unique_name("c") + "."
    if request.param == "memory":
        yield memory_world(prefix)
        return
    infra: Infra = request.getfixturevalue("infra")
    async with kafka_world(infra.kafka_bootstrap, prefix) as made:
        yield made


def letter_headers(record: Original, error: Exception, consumer: str) -> list[Header]:
    kept = topics.without_dead_letter_headers(record.headers)
    return kept + dead_letter_headers(record, error, consumer)


def memory_world(prefix: str) -> World:
    store = InMemoryDeadLetters(prefix)

    async def dead_letter(record: Original, error: Exception, consumer: str) -> None:
        headers = letter_headers(record, error, consumer)
        store.dead_letter(topics.dlq(record.topic), record.key, record.value, headers, T0)

    async def replayed(topic: str, count: int) -> list[Replayed]:
        return [r for r in store.replayed if r.topic == topic]

    return World(store, prefix, dead_letter, replayed)


@contextlib.asynccontextmanager
async def kafka_world(bootstrap: str, prefix: str) -> AsyncIterator[World]:
    specs = [TopicSpec(prefix + topics.dlq(name), 1) for name in topics.CONSUMED]
    specs.append(TopicSpec(prefix + topics.STATEMENTS, ORIGINAL_PARTITIONS))
    await ensure_topics(bootstrap, specs, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()

    async def dead_letter(record: Original, error: Exception, consumer: str) -> None:
        headers = letter_headers(record, error, consumer)
        target = topics.dlq(record.topic)
        stamp = int(T0.timestamp() * 1000)
        await producer.send_and_wait(
            target, record.value, key=record.key, headers=headers, timestamp_ms=stamp
        )

    async def replayed(topic: str, count: int) -> list[Replayed]:
        found = await read_topic(bootstrap, topic, ORIGINAL_PARTITIONS, count)
        return [Replayed(r.topic, r.partition, r.key, r.value, tuple(r.headers)) for r in found]

    try:
        yield World(KafkaDeadLetters(bootstrap, prefix), prefix, dead_letter, replayed)
    finally:
        await producer.stop()


def original(offset: int, partition: int = 0, topic: str = topics.STATEMENTS) -> Original:
    headers = [(topics.HEADER_TENANT, b"acme"), (topics.HEADER_DEFINE, b"1")]
    return Original(topic, partition, offset, b"acme\x1fann", b'{"n": %d}' % offset, headers)


async def dead_letter_some(world: World) -> None:
    """Two statements the persister failed, one stored statement progress failed, one team."""
    p = world.prefix
    await world.dead_letter(original(7, topic=p + topics.STATEMENTS), ValueError("bad"), "persist")
    await world.dead_letter(original(9, 1, p + topics.STATEMENTS), KeyError("k"), "persist")
    await world.dead_letter(
        original(3, topic=p + topics.STORED_STATEMENTS), ValueError(), "progress"
    )
    await world.dead_letter(original(1, topic=p + topics.TEAMS), ValueError("t"), "team-registry")


def where(letters: Sequence[DeadLetter]) -> list[tuple[str, int, str | None]]:
    return [(letter.topic, letter.offset, letter.consumer) for letter in letters]


async def test_letters_are_listed_in_topic_and_offset_order_and_selected(world: World) -> None:
    await dead_letter_some(world)
    p, reader = world.prefix, world.reader
    statements, stored = p + topics.dlq(topics.STATEMENTS), p + topics.dlq(topics.STORED_STATEMENTS)
    teams = p + topics.dlq(topics.TEAMS)
    listed = await reader.all(Selection())
    assert where(listed) == [
        (stored, 0, "progress"),
        (teams, 0, "team-registry"),
        (statements, 0, "persist"),
        (statements, 1, "persist"),
    ]
    first = listed[2]
    assert (first.partition, first.time, first.key, first.value) == (
        0,
        T0,
        b"acme\x1fann",
        b'{"n": 7}',
    )
    record = original(7, topic=p + topics.STATEMENTS)
    assert list(first.headers) == letter_headers(record, ValueError("bad"), "persist")
    assert (first.original_topic, first.original_partition, first.original_offset) == (
        p + topics.STATEMENTS,
        0,
        7,
    )
    assert where(await reader.all(Selection(topic=topics.STATEMENTS))) == where(listed[2:])
    assert where(await reader.all(Selection(consumer="progress"))) == where(listed[:1])
    assert where(await reader.all(Selection(error_class="KeyError"))) == where(listed[3:])
    only = Selection(topic=topics.STATEMENTS, offsets=frozenset({1}))
    assert where(await reader.all(only)) == where(listed[3:])
    assert await reader.all(Selection(topic=topics.TEAM_CHANGES)) == []


async def test_pages_resume_where_the_last_one_ended(world: World) -> None:
    p = world.prefix
    for n in range(4):
        await world.dead_letter(original(n, topic=p + topics.STATEMENTS), ValueError(), "persist")
    stored = original(0, topic=p + topics.STORED_STATEMENTS)
    await world.dead_letter(stored, ValueError(), "progress")
    statements = p + topics.dlq(topics.STATEMENTS)
    first = await world.reader.page(Selection(), limit=2)
    assert where(first.letters) == [
        (p + topics.dlq(topics.STORED_STATEMENTS), 0, "progress"),
        (statements, 0, "persist"),
    ]
    assert first.more == Position(statements, 0, 1)
    second = await world.reader.page(Selection(), first.more, limit=3)
    assert where(second.letters) == [(statements, n, "persist") for n in (1, 2, 3)]
    assert second.more == Position(statements, 0, 4)
    assert await world.reader.page(Selection(), second.more, limit=3) == Page([], None)
    persisted = await world.reader.page(Selection(consumer="persist"), first.more, limit=9)
    assert (where(persisted.letters), persisted.more) == (where(second.letters), None)


async def test_a_replay_sends_each_original_back_to_its_partition(world: World) -> None:
    p = world.prefix
    target = p + topics.STATEMENTS
    await world.dead_letter(original(7, 2, target), ValueError("bad"), "persist")
    await world.dead_letter(original(8, 0, target), ValueError("bad"), "progress")
    letters = await world.reader.all(Selection(topic=topics.STATEMENTS))
    omitted = DeadLetter(
        letters[0].topic,
        0,
        99,
        T0,
        b"k",
        None,
        (*letters[0].headers, (topics.HEADER_VALUE_OMITTED, b"1")),
    )
    assert await world.reader.replay([*letters, omitted]) == 2
    replayed = sorted(await world.replayed(target, 2), key=lambda r: r.partition or 0)
    assert replayed == [
        Replayed(target, 0, b"acme\x1fann", b'{"n": 8}', tuple(letters[1].replay_headers())),
        Replayed(target, 2, b"acme\x1fann", b'{"n": 7}', tuple(letters[0].replay_headers())),
    ]
    assert dict(replayed[0].headers)[topics.HEADER_REPLAY_FOR] == b"progress"
    assert topics.HEADER_ERROR_CLASS not in dict(replayed[0].headers)


async def test_nothing_is_listed_before_anything_is_dead_lettered(world: World) -> None:
    assert await world.reader.page(Selection()) == Page([], None)
    assert await world.reader.all(Selection(topic=topics.TEAMS)) == []
    assert await world.reader.replay([]) == 0


async def test_a_listing_out_of_time_ends_early_and_the_next_page_goes_on(infra: Infra) -> None:
    """The Kafka reader bounds each page's reading (`deadline_seconds`): out of time, a page
    ends with what it read and `more`; following `more` lists every letter once."""
    prefix = unique_name("c") + "."
    async with kafka_world(infra.kafka_bootstrap, prefix) as world:
        for n in range(3):
            persisted = original(n, topic=prefix + topics.STATEMENTS)
            await world.dead_letter(persisted, ValueError(), "persist")
        stored = original(0, topic=prefix + topics.STORED_STATEMENTS)
        await world.dead_letter(stored, ValueError(), "progress")
        await world.dead_letter(original(1, topic=prefix + topics.TEAMS), ValueError(), "teams")
        everything = where(await world.reader.all(Selection()))
        assert len(everything) == 5
        hurried = KafkaDeadLetters(infra.kafka_bootstrap, prefix, deadline_seconds=0)
        pages = [await hurried.page(Selection())]
        while (more := pages[-1].more) is not None and len(pages) <= 40:
            pages.append(await hurried.page(Selection(), more))
        assert len(pages) > 1, "no page was cut short"
        assert pages[-1].more is None, "the pages never got to the end"
        assert [w for page in pages for w in where(page.letters)] == everything
        assert where(await hurried.all(Selection())) == everything
