"""Publishing records to the broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A record to produce: key, JSON value bytes, headers."""

    key: bytes
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


class EventBus(Protocol):
    """Publishing to Kafka topics; `publish` returns once the broker acknowledged (acks=all)."""

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None: ...

    async def ping(self) -> None: ...


class ErasureBus(Protocol):
    """The erasure's producer: its triggers and registry changes, and tombstones."""

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None: ...

    async def tombstones(self, topic: str, keys: Sequence[bytes]) -> None:
        """Produce a record with a null value for every key (a compacted topic drops the key)."""
        ...
