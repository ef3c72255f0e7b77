"""lrs.kafka_metadata on the real broker: the partitions of a topic the consumer's client does
not track (as after an assignment of other topics, or after a start on Apache Kafka, which
loads no topic) are found; a missing topic is not created by asking."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs import topics
from lrs.kafka_metadata import partitions_of
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name
from tests.support.stack import prepared_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    return await prepared_settings(infra, unique_name("meta"))


async def test_the_partitions_of_an_untracked_topic_are_found(settings: LrsSettings) -> None:
    stored, learner = (
        settings.topic(topics.STORED_STATEMENTS),
        settings.topic(topics.LEARNER_PROGRESS),
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(stored, 0)])
        await consumer._client.force_metadata_update()  # the client now tracks `stored` alone
        assert consumer.partitions_for_topic(learner) is None
        missing = unique_name("missing-topic")
        assert await partitions_of(consumer, [learner, stored, missing]) == {
            learner: [0, 1, 2, 3],
            stored: [0, 1, 2, 3],
            missing: [],
        }
        assert missing not in await consumer.topics()  # asking did not create it
    finally:
        await consumer.stop()
