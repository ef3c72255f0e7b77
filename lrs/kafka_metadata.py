"""The partitions of named topics, as the broker lists them now (for consumers that assign
partitions themselves: the API's progress feed, the dead-letter reader, a consumer reading
every partition).

aiokafka answers `partitions_for_topic` from its client's cache, which holds the topics the
client tracks: after an assignment, the assigned ones. `AIOKafkaConsumer.topics()` fetches
every topic's metadata into a separate object and leaves that cache alone. And a consumer's
start-up loads whatever the broker answers to a metadata request for an empty list of topics:
every topic from Tansu, none from Apache Kafka (from Metadata version 1 on, an empty list asks
for no topic; only a null one asks for all). So before a topic's partitions are read, the
client must track it and refresh its metadata; aiokafka has no public call for that, hence its
client's `add_topic` and `force_metadata_update` here, in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> dict[str, list[int]]:
    """Each topic's partitions, sorted (none for a topic the broker does not have, which is
    not created by asking). The consumer's next assignment replaces the topics its client
    tracks, as before."""
    names = list(topics)
    client = consumer._client  # private: see the module's docstring
    untracked = [name for name in names if consumer.partitions_for_topic(name) is None]
    if untracked:
        # only the topics that exist: a metadata request naming a missing topic lets a broker
        # that allows it (Tansu does) create it, with none of the configuration we give ours
        existing = await consumer.topics()
        await asyncio.gather(*(client.add_topic(n) for n in untracked if n in existing))
    await client.force_metadata_update()  # the tracked topics' partitions, as they are now
    return {name: sorted(consumer.partitions_for_topic(name) or ()) for name in names}
