"""The progress feed of an API process, on the real broker, survives a failure that is no
KafkaError (it used to end silently, and live streams stopped for good): it is restarted with a
new consumer that resumes after the last batch it handed on, so what is produced afterwards is
delivered, exactly once; /readyz-level status says `up` again."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from lrs import metrics, topics
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.services.progress_hub import KINDS, Change, Kind
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name
from tests.support.polling import eventually
from tests.support.stack import prepared_settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    return await prepared_settings(infra, unique_name("bg"))


class FailingOnceHub:
    """Refuses the first change it is given (a bug in the hub), takes the others; always
    watched, so the feed reads the progress topic from its start."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.refused = 0
        self.wake_feed = asyncio.Event()
        self.watched_kinds = KINDS
        self.followed: frozenset[Kind] = frozenset()

    def following(self, kinds: frozenset[Kind]) -> None:
        assert kinds >= self.followed, "every kind is watched: the feed lets none go"
        self.followed = kinds

    def wants(self, kind: str, tenant: str, entity: str) -> bool:
        return True

    def publish(self, change: Change) -> None:
        if not self.refused:
            self.refused += 1
            raise RuntimeError("a bug in the hub (test)")
        self.changes.append(change)


async def produce(settings: LrsSettings, entity: str, version: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        key = f"default{topics.KEY_SEPARATOR}{entity}".encode()
        value = orjson.dumps({"version": version})
        await producer.send_and_wait(
            settings.topic(topics.LEARNER_PROGRESS), value, key=key, partition=0
        )
    finally:
        await producer.stop()


async def test_the_feed_restarts_after_a_failure_and_resumes_where_it_left_off(
    settings: LrsSettings,
) -> None:
    assert settings.kafka_bootstrap
    hub = FailingOnceHub()
    topic = settings.topic(topics.LEARNER_PROGRESS)
    feed = KafkaProgressFeed(settings.kafka_bootstrap, {topic: "learner"}, hub)  # type: ignore[arg-type]
    failures = metrics.BACKGROUND_TASK_FAILURES.labels("progress-feed", "unexpected")
    before = failures._value.get()
    await feed.start()
    try:
        await produce(settings, "refused", 1)  # ends the first session

        async def refused() -> int:
            return hub.refused

        assert await eventually(refused, lambda n: n >= 1, within=30, every=0.05) == 1
        await produce(settings, "after", 1)
        await produce(settings, "after", 2)

        async def delivered() -> list[str]:
            return [f"{c.entity}:{c.version}" for c in hub.changes]

        assert await eventually(delivered, lambda d: len(d) >= 2, within=30, every=0.05) == [
            "after:1",
            "after:2",
        ]
        assert feed.task.status().state == "up"
        assert feed.task.status().restarts == 1
        assert failures._value.get() - before == 1
    finally:
        await feed.stop()
