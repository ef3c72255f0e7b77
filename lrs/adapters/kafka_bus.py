"""EventBus on Kafka (aiokafka). `publish` returns only after the broker acknowledged every
record with acks=all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from lrs.ports.events import OutgoingMessage
from lrs.topics import MAX_RECORD_BYTES, TopicSpec
from lrs.xapi.errors import Unavailable


class KafkaEventBus:
    """Produces with acks=all. The embedded broker rejects idempotent producers, so idempotence
    comes from the consumers (statements are keyed by id in the store)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        linger_ms: int,
        timeout_seconds: float,
        on_published: Callable[[], None] | None = None,  # e.g. Doorbell.ring
    ) -> None:
        self._bootstrap = bootstrap
        self._timeout = timeout_seconds
        self._on_published = on_published
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=linger_ms,
            max_batch_size=256 * 1024,
            max_request_size=MAX_RECORD_BYTES,
            request_timeout_ms=int(timeout_seconds * 1000),
            enable_idempotence=False,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._send_all(topic, messages)
        except (KafkaError, TimeoutError) as exc:
            raise Unavailable(f"the broker did not acknowledge the write: {exc!r}") from exc
        if self._on_published is not None:
            self._on_published()

    async def _send_all(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        futures = [
            await self._producer.send(topic, m.value, key=m.key, headers=list(m.headers))
            for m in messages
        ]
        await asyncio.gather(*futures)

    async def ping(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()


async def ensure_topics(bootstrap: str, specs: Sequence[TopicSpec], replication: int) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(s.name, s.partitions, replication, topic_configs=dict(s.config))
            for s in specs
            if s.name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
                await admin.create_topics(missing)
    finally:
        await admin.close()
