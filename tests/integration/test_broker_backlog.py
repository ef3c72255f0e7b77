"""What the consumers have not read, on the real broker (lrs.entry.renewal.Backlog,
docs/decisions/0032): the renewal of the embedded broker waits for it to be nothing."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from lrs import topics
from lrs.entry.renewal import Backlog
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from tests.conftest import Infra, unique_name
from tests.support.stack import commit_as, prepared_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    return await prepared_settings(infra, unique_name("b"))


async def produce_one_batch(settings: LrsSettings, topic: str, count: int) -> None:
    """`count` records in one record batch on partition 0 (the embedded broker's ListOffsets
    then answers short of the end)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=50)
    await producer.start()
    try:
        batch = producer.create_batch()
        for n in range(count):
            assert batch.append(key=b"k", value=f"{n}".encode(), timestamp=None) is not None
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()


async def test_unread_counts_every_record_of_a_batch_until_its_reader_commits_them_all(
    settings: LrsSettings,
) -> None:
    stored = settings.topic(topics.STORED_STATEMENTS)
    readers = sorted(n for n, s in CONSUMERS.items() if s.topic == topics.STORED_STATEMENTS)
    async with Backlog(settings) as backlog:
        assert (await backlog.unread())[0] == 0
        await produce_one_batch(settings, stored, 10)
        assert (await backlog.unread())[0] == 10 * len(readers)
        for reader in readers:
            await commit_as(settings, reader, stored, {0: 9})
        assert (await backlog.unread())[0] == len(readers)  # one left each
        behind = {group: left for group, left in backlog.behind.items() if left}
        assert behind == {f"{settings.consumer_group_prefix}-{r}": 1 for r in readers}
        for reader in readers:
            await commit_as(settings, reader, stored, {0: 10})
        left, ends = await backlog.unread()
        assert left == 0
        assert ends[TopicPartition(stored, 0)] == 10
        assert backlog.with_letters(ends) == []


async def test_a_dead_letter_topic_with_letters_is_named(settings: LrsSettings) -> None:
    await produce_one_batch(settings, settings.topic(topics.dlq(topics.TEAMS)), 3)
    async with Backlog(settings) as backlog:
        _, ends = await backlog.unread()
        assert backlog.with_letters(ends) == [topics.TEAMS]


async def test_the_ends_follower_fetches_only_while_a_read_waits(settings: LrsSettings) -> None:
    """Between two reads its partitions are paused (an idle `lrs serve` sends no fetches for
    them), and a read still sees what was produced while they were."""
    stored = settings.topic(topics.STORED_STATEMENTS)
    async with Backlog(settings) as backlog:
        followed = set(backlog.ends.partitions)
        assert backlog.ends.follower.paused() == followed
        await produce_one_batch(settings, stored, 3)
        ends = await backlog.ends.read()
        assert ends[TopicPartition(stored, 0)] == 3
        assert backlog.ends.follower.paused() == followed
