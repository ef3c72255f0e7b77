"""The erasure's producer (lrs.ports.events.ErasureBus): team triggers, registry changes
and tombstones, each waited for (acks=all); the republish after a broker loss
(lrs.wiring.republish) uses it too, so its records may be as large as any of the LRS's."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer

from lrs.ports.events import OutgoingMessage
from lrs.topics import MAX_RECORD_BYTES


class KafkaErasureBus:
    """Produces (acks=all) the erasure's records: team triggers, registry changes, and
    tombstones (null values)."""

    def __init__(
        self,
        bootstrap: str,
        timeout_seconds: float,
        on_published: Callable[[], None] | None = None,  # e.g. Doorbell.ring
    ) -> None:
        self._on_published = on_published
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=False,
            max_request_size=MAX_RECORD_BYTES,
            request_timeout_ms=int(timeout_seconds * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        futures = [
            await self._producer.send(topic, m.value, key=m.key, headers=list(m.headers))
            for m in messages
        ]
        for future in futures:
            await future
        self._published()

    async def tombstones(self, topic: str, keys: Sequence[bytes]) -> None:
        futures = [await self._producer.send(topic, None, key=key) for key in keys]
        for future in futures:
            await future
        self._published()

    def _published(self) -> None:
        if self._on_published is not None:
            self._on_published()

    async def ping(self) -> None:
        return None
