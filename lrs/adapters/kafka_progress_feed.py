"""The live source of the progress streams: one Kafka consumer per API process, without a
consumer group, assigned every partition of `lrs.progress.learner`, `lrs.progress.team` and
`lrs.teams`, starting at their end (a stream's snapshot comes from MongoDB; only what happens
afterwards is needed here). Every record is decoded and handed to the `ProgressHub`.

No group means no rebalances, no commits and no coordination between API instances: each
instance sees every change and serves its own subscribers. Partitions that appear later (a
topic created after the API started, or more partitions) are picked up every
`DISCOVER_SECONDS`, from their beginning (everything on them is newer than the start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from lrs.services.progress_hub import Change, Kind, ProgressHub
from lrs.topics import split_key

log = logging.getLogger("lrs.progress.feed")
DISCOVER_SECONDS = 10.0
RETRY_SECONDS = 1.0


def decode_change(kind: Kind, key: bytes | None, value: bytes | None) -> Change | None:
    """A record as a Change, or None for one that is not usable (a tombstone, bad JSON)."""
    if key is None or value is None:
        return None
    try:
        tenant, entity = split_key(key)
        doc = orjson.loads(value)
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, Mapping) or not tenant or not entity:
        return None
    version = doc.get("version")
    return Change(kind, tenant, entity, version if isinstance(version, int) else 0, doc)


class KafkaProgressFeed:
    def __init__(self, bootstrap: str, topics: Mapping[str, Kind], hub: ProgressHub) -> None:
        self._topics = dict(topics)
        self._hub = hub
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=100,
        )
        self._assigned: set[TopicPartition] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and position at the end of every partition; returns once positioned, so a
        change produced after `start` returns is delivered."""
        await self._consumer.start()
        new = await self._discover()
        if new:
            await self._consumer.seek_to_end(*new)
            for tp in new:
                await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run(), name="progress-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _discover(self) -> list[TopicPartition]:
        """Assign the partitions not assigned yet; the new ones."""
        await self._consumer.topics()  # refreshes the cluster metadata
        found = {
            TopicPartition(topic, p)
            for topic in self._topics
            for p in self._consumer.partitions_for_topic(topic) or ()
        }
        new = sorted(found - self._assigned)
        if new:
            self._assigned |= set(new)
            self._consumer.assign(sorted(self._assigned))
        missing = sorted(t for t in self._topics if not any(tp.topic == t for tp in found))
        if missing:
            log.warning("progress topics missing (will look again): %s", ", ".join(missing))
        return list(new)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_discovery = loop.time() + DISCOVER_SECONDS
        while True:
            try:
                if loop.time() >= next_discovery:
                    next_discovery = loop.time() + DISCOVER_SECONDS
                    new = await self._discover()
                    if new:
                        await self._consumer.seek_to_beginning(*new)
                batches = await self._consumer.getmany(timeout_ms=500, max_records=1000)
            except KafkaError as exc:
                log.warning("progress feed: %r; retrying", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            for tp, records in batches.items():
                self._deliver(self._topics[tp.topic], records)

    def _deliver(self, kind: Kind, records: list[Any]) -> None:
        for record in records:
            change = decode_change(kind, record.key, record.value)
            if change is not None:
                self._hub.publish(change)
