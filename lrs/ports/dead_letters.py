"""Dead letters (docs/decisions/0008): what a dead-letter topic holds, which of them a listing or
a replay selects, where a listing resumes, and the reader the admin API lists and replays with
(the Kafka one is lrs.adapters.kafka_dead_letters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lrs import topics
from lrs.codec import header
from lrs.xapi.params import bounded_int

Header = tuple[str, bytes]


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, with its dead-letter headers read out."""

    topic: str
    partition: int
    offset: int
    time: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def consumer(self) -> str | None:
        return self.header(topics.HEADER_CONSUMER)

    @property
    def error_class(self) -> str | None:
        return self.header(topics.HEADER_ERROR_CLASS)

    @property
    def error_message(self) -> str | None:
        return self.header(topics.HEADER_ERROR_MESSAGE)

    @property
    def original_topic(self) -> str:
        """The topic the record came from (from the header, else from the DLQ's name)."""
        return self.header(topics.HEADER_ORIGINAL_TOPIC) or self.topic.removesuffix(
            topics.DLQ_SUFFIX
        )

    @property
    def original_partition(self) -> int | None:
        return bounded_int(self.header(topics.HEADER_ORIGINAL_PARTITION))

    @property
    def original_offset(self) -> int | None:
        return bounded_int(self.header(topics.HEADER_ORIGINAL_OFFSET))

    @property
    def replayable(self) -> bool:
        """False when the dead letter could not hold the value (see HEADER_VALUE_OMITTED)."""
        return self.header(topics.HEADER_VALUE_OMITTED) != "1"

    @property
    def reference(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def replay_headers(self) -> list[Header]:
        """The original headers, marked as replayed for the consumer that failed."""
        kept = topics.without_dead_letter_headers(self.headers)
        marks = [(topics.HEADER_REPLAYED_FROM, self.reference.encode())]
        if self.consumer:
            marks.append((topics.HEADER_REPLAY_FOR, self.consumer.encode()))
        return kept + marks


@dataclass(frozen=True)
class Selection:
    """Which dead letters: of one consumed topic (a name of lrs.topics.CONSUMED, without the
    prefix), one consumer, one error class, and/or these offsets of the dead-letter topic."""

    topic: str | None = None
    consumer: str | None = None
    error_class: str | None = None
    offsets: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.topic is not None and self.topic not in topics.CONSUMED:
            known = ", ".join(topics.CONSUMED)
            raise ValueError(f"no dead-letter topic for {self.topic!r}; one of: {known}")

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.consumer is None or letter.consumer == self.consumer)
            and (self.error_class is None or letter.error_class == self.error_class)
            and (self.offsets is None or letter.offset in self.offsets)
        )


@dataclass(frozen=True)
class Position:
    """Where a listing resumes: the next offset of one partition of one dead-letter topic."""

    topic: str
    partition: int
    offset: int

    def token(self) -> str:
        return f"{self.partition}:{self.offset}:{self.topic}"

    @classmethod
    def parse(cls, token: str) -> Position:
        parts = token.split(":", 2)
        if len(parts) == 3:
            partition, offset, topic = bounded_int(parts[0]), bounded_int(parts[1]), parts[2]
            if partition is not None and offset is not None and topic.endswith(topics.DLQ_SUFFIX):
                return cls(topic, partition, offset)
        raise ValueError(f"not a dead-letter cursor: {token[:100]!r}")


@dataclass(frozen=True)
class Page:
    letters: list[DeadLetter]
    more: Position | None  # where the next page starts; None when everything was read


class PageCollector:
    """Builds one page while a reader walks the partitions in order: `take` each letter read;
    the full page comes back once `limit` letters matched, else `last()` at the end."""

    def __init__(self, selection: Selection, start: Position | None, limit: int) -> None:
        self._selection = selection
        self._start = start
        self._limit = limit
        self._found: list[DeadLetter] = []

    def first_offset(self, topic_partition: tuple[str, int]) -> int:
        """Where reading a partition begins: the page's start in its own partition, else 0."""
        start = self._start
        return start.offset if start and (start.topic, start.partition) == topic_partition else 0

    def take(self, topic_partition: tuple[str, int], letter: DeadLetter) -> Page | None:
        if self._selection.matches(letter):
            self._found.append(letter)
            if len(self._found) >= self._limit:
                return Page(self._found, Position(*topic_partition, letter.offset + 1))
        return None

    def last(self) -> Page:
        return Page(self._found, None)

    def cut(self, topic_partition: tuple[str, int], offset: int) -> Page:
        """The page so far, ended early (out of time): the next one goes on at `offset` of
        that partition."""
        return Page(self._found, Position(*topic_partition, offset))


class DeadLetterReader(Protocol):
    async def page(
        self, selection: Selection, start: Position | None = None, limit: int = 100
    ) -> Page:
        """Up to `limit` matching dead letters in (topic, partition, offset) order, from
        `start` on, and where the next page starts."""
        ...

    async def all(self, selection: Selection) -> list[DeadLetter]: ...
    async def replay(self, letters: Sequence[DeadLetter]) -> int:
        """Produce each replayable dead letter again to its original topic and partition;
        returns how many were produced."""
        ...
