"""Dead letters in memory: the reference fake of `lrs.ports.dead_letters.DeadLetterReader`, held
to `lrs.adapters.kafka_dead_letters.KafkaDeadLetters` on the real (embedded) broker by
tests/contract/test_dead_letter_reader.py.

`dead_letter` plays the consumer that dead-letters a record (it appends to the dead-letter
topic's partition, at its next offset); a replay is recorded in `replayed`, as what would be
produced. Only the dead-letter topics of the consumed topics (with the prefix) are read, in
(topic, partition, offset) order, as on Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lrs import topics
from lrs.ports.dead_letters import DeadLetter, Header, Page, PageCollector, Position, Selection


@dataclass(frozen=True)
class Replayed:
    """One record a replay produced."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]


@dataclass
class InMemoryDeadLetters:
    prefix: str = ""
    letters: dict[tuple[str, int], list[DeadLetter]] = field(default_factory=dict)
    replayed: list[Replayed] = field(default_factory=list)

    def dead_letter(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header],
        time: datetime,
        partition: int = 0,
    ) -> DeadLetter:
        """Append a record to the dead-letter topic `topic` (its full name)."""
        held = self.letters.setdefault((topic, partition), [])
        letter = DeadLetter(topic, partition, len(held), time, key, value, tuple(headers))
        held.append(letter)
        return letter

    async def page(
        self, selection: Selection, start: Position | None = None, limit: int = 100
    ) -> Page:
        page = PageCollector(selection, start, limit)
        for tp in self._partitions(selection, start):
            for letter in self.letters[tp][page.first_offset(tp) :]:
                if (full := page.take(tp, letter)) is not None:
                    return full
        return page.last()

    def _partitions(self, selection: Selection, start: Position | None) -> list[tuple[str, int]]:
        names = [selection.topic] if selection.topic else list(topics.CONSUMED)
        wanted = {self.prefix + topics.dlq(name) for name in names}
        tps = sorted(tp for tp in self.letters if tp[0] in wanted)
        return [tp for tp in tps if start is None or tp >= (start.topic, start.partition)]

    async def all(self, selection: Selection) -> list[DeadLetter]:
        page = await self.page(selection, limit=1_000_000)
        return page.letters

    async def replay(self, letters: Sequence[DeadLetter]) -> int:
        sent = [
            Replayed(
                letter.original_topic,
                letter.original_partition,
                letter.key,
                letter.value,
                tuple(letter.replay_headers()),
            )
            for letter in letters
            if letter.replayable
        ]
        self.replayed += sent
        return len(sent)
